"""Snowflake: the production warehouse, reached through dagster-snowflake.

Credentials reach this resource as Dagster `EnvVar`s (see settings.py), so their values
are resolved by Dagster at run time and never logged. Snowflake manages concurrent
writers itself, so `exclusive_writer` is the base no-op. Statements use `?` (qmark) binds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dagster_snowflake import SnowflakeResource

from sony_de_platform.settings import Engine, dbt_profile_env
from sony_de_platform.warehouse.base import Session, Warehouse, identifier

_INSERT_BATCH_ROWS = 16_384


class SnowflakeSession(Session):
    engine = Engine.SNOWFLAKE

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def fetch_with_names(
        self, sql: str, params: Sequence[Any] | None = None
    ) -> tuple[list[str], list[tuple]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            names = [str(d[0]).lower() for d in cursor.description or []]
            return names, list(cursor.fetchall())

    def append_columns(self, table: str, columns: Mapping[str, Sequence[Any]]) -> int:
        names = [identifier(name) for name in columns]
        rows = list(zip(*columns.values(), strict=True))
        if not rows:
            return 0
        placeholders = ", ".join("?" for _ in names)
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})"
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), _INSERT_BATCH_ROWS):
                cursor.executemany(sql, rows[start : start + _INSERT_BATCH_ROWS])
        return len(rows)


class SnowflakeWarehouse(Warehouse):
    """Production warehouse; connection fields come from EnvVars resolved by Dagster."""

    connection: SnowflakeResource

    @property
    def engine(self) -> Engine:
        return Engine.SNOWFLAKE

    def dbt_profile_env(self) -> dict[str, str]:
        return dbt_profile_env(Engine.SNOWFLAKE)

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[SnowflakeSession]:
        with self.connection.get_connection() as connection:
            yield SnowflakeSession(connection)
