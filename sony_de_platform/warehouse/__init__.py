"""The engine interface and the two engines, side by side.

The Snowflake engine is imported on first use: its client libraries take seconds to import,
which every DuckDB process (runs, sensors, the CLI) would otherwise pay.
"""

from __future__ import annotations

from typing import Any

from dagster import EnvVar

from sony_de_platform.settings import DATABASE_NAME, Engine, Settings
from sony_de_platform.warehouse.base import (
    Session,
    Warehouse,
    WarehouseBusy,
    WarehouseNotCreated,
    WarehouseUnavailable,
    identifier,
    qualified,
    retry_when_busy,
)
from sony_de_platform.warehouse.duckdb import DuckDBWarehouse, WarehouseLockTimeout

__all__ = [
    "DuckDBWarehouse",
    "Session",
    "SnowflakeWarehouse",
    "Warehouse",
    "WarehouseBusy",
    "WarehouseLockTimeout",
    "WarehouseNotCreated",
    "WarehouseUnavailable",
    "build_warehouse",
    "identifier",
    "qualified",
    "retry_when_busy",
]


def __getattr__(name: str) -> Any:
    if name == "SnowflakeWarehouse":
        from sony_de_platform.warehouse.snowflake import SnowflakeWarehouse

        return SnowflakeWarehouse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_warehouse(settings: Settings) -> Warehouse:
    """The warehouse resource for the configured engine."""
    if settings.engine is Engine.DUCKDB:
        return DuckDBWarehouse(
            path=str(settings.warehouse_path),
            lock_timeout_seconds=settings.lock_timeout_seconds,
        )
    from dagster_snowflake import SnowflakeResource

    from sony_de_platform.warehouse.snowflake import SnowflakeWarehouse

    endpoint_keys = ("host", "port", "protocol")
    fields = {
        name: EnvVar(var)
        for name, var in settings.snowflake_vars.items()
        if name not in endpoint_keys
    }
    # Endpoint overrides (a local Snowflake-compatible server) are plain values, not secrets.
    connection_args: dict[str, object] = {
        key: settings.snowflake_values[key]
        for key in endpoint_keys
        if key in settings.snowflake_values
    }
    if "port" in connection_args:
        connection_args["port"] = int(str(connection_args["port"]))
    fields.setdefault("database", DATABASE_NAME)
    return SnowflakeWarehouse(
        connection=SnowflakeResource(
            **fields,
            paramstyle="qmark",
            additional_snowflake_connection_args=connection_args or None,
        )
    )
