"""The engine interface and the two engines, side by side."""

from __future__ import annotations

from dagster import EnvVar
from dagster_snowflake import SnowflakeResource

from sony_de_platform.settings import DATABASE_NAME, Engine, Settings
from sony_de_platform.warehouse.base import Session, Warehouse, identifier, qualified
from sony_de_platform.warehouse.duckdb import DuckDBWarehouse, WarehouseLockTimeout
from sony_de_platform.warehouse.snowflake import SnowflakeWarehouse

__all__ = [
    "DuckDBWarehouse",
    "Session",
    "SnowflakeWarehouse",
    "Warehouse",
    "WarehouseLockTimeout",
    "build_reader_warehouse",
    "build_warehouse",
    "identifier",
    "qualified",
]


def build_warehouse(settings: Settings) -> Warehouse:
    """The warehouse resource for the configured engine."""
    if settings.engine is Engine.DUCKDB:
        return DuckDBWarehouse(
            path=str(settings.warehouse_path),
            lock_timeout_seconds=settings.lock_timeout_seconds,
        )
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
    connection = _snowflake_connection(settings, role=settings.monitor_role)
    return SnowflakeWarehouse(connection=connection.process_config_and_initialize())


def _snowflake_connection(settings: Settings, role: str | None = None) -> SnowflakeResource:
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
    if role is not None:
        fields["role"] = role
    return SnowflakeResource(
        **fields,
        paramstyle="qmark",
        additional_snowflake_connection_args=connection_args or None,
    )
