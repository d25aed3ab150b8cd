"""The engine interface and the two engines, side by side."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import EnvVar, build_resources

from sony_de_platform.settings import Engine, Settings
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
    "build_reader_warehouse",
    "build_warehouse",
    "identifier",
    "open_warehouse",
    "qualified",
    "retry_when_busy",
]

# Connection fields that are names or endpoints, not secrets: passed as plain values.
_PLAIN_SNOWFLAKE_FIELDS = ("database", "warehouse", "host", "port", "protocol")


def __getattr__(name: str) -> Any:
    # The Snowflake connector is heavy to import; a DuckDB deployment never loads it.
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
    from sony_de_platform.warehouse.snowflake import SnowflakeWarehouse

    return SnowflakeWarehouse(connection=_snowflake_connection(settings))


def build_reader_warehouse(settings: Settings) -> Warehouse:
    """What readers (the dashboard, analysts) open: never the writer's file or role.

    On DuckDB, the published copy (open it read-only); on Snowflake, the warehouse with the
    monitor role, its secrets resolved here since readers run outside Dagster.
    """
    if settings.engine is Engine.DUCKDB:
        return DuckDBWarehouse(
            path=str(settings.published_path),
            lock_timeout_seconds=settings.lock_timeout_seconds,
        )
    from sony_de_platform.warehouse.snowflake import SnowflakeWarehouse

    connection = _snowflake_connection(settings, role=settings.monitor_role)
    return SnowflakeWarehouse(connection=connection.process_config_and_initialize())


def _snowflake_connection(settings: Settings, role: str | None = None) -> Any:
    from dagster_snowflake import SnowflakeResource

    fields: dict[str, Any] = {
        name: EnvVar(var)
        for name, var in settings.snowflake_vars.items()
        if name not in _PLAIN_SNOWFLAKE_FIELDS
    }
    # Endpoint overrides (a local Snowflake-compatible server) go to the connector as is.
    connection_args: dict[str, object] = {
        key: settings.snowflake_values[key]
        for key in ("host", "port", "protocol")
        if key in settings.snowflake_values
    }
    if "port" in connection_args:
        connection_args["port"] = int(str(connection_args["port"]))
    if role is not None:
        fields["role"] = role
    return SnowflakeResource(
        **fields,
        database=settings.snowflake_database,
        warehouse=settings.snowflake_warehouse,
        paramstyle="qmark",
        additional_snowflake_connection_args=connection_args or None,
    )


@contextmanager
def open_warehouse(settings: Settings) -> Iterator[Warehouse]:
    """The configured warehouse outside a Dagster run (CLI, Key Stats).

    Dagster resolves `EnvVar` fields only when it initializes a resource; a resource used
    directly would hand the connector the variable's name instead of its value.
    """
    with build_resources({"warehouse": build_warehouse(settings)}) as resources:
        yield resources.warehouse
