"""Snowflake: the production warehouse, reached through dagster-snowflake.

Credentials reach this resource as Dagster `EnvVar`s (see settings.py), so their values
are resolved by Dagster at run time and never logged. Snowflake manages concurrent
writers itself, so `exclusive_writer` is the base no-op. Statements use `?` (qmark) binds.

Two Snowflake rules shape this file:
- `TIMESTAMP` means whatever the account's TIMESTAMP_TYPE_MAPPING says (NTZ by default,
  LTZ or TZ where an administrator changed it), so the platform's UTC wall-clock columns are
  declared TIMESTAMP_NTZ, the type dbt's models compare them with.
- A DDL statement commits the open transaction. The connector sends a large
  `executemany` through a temporary stage it creates with `CREATE OR REPLACE TEMPORARY
  STAGE` once the batch reaches CLIENT_STAGE_ARRAY_BINDING_THRESHOLD binds (65,280 by
  default): that would commit a Bronze file half-way. Appends are therefore sent in
  batches that stay below the threshold, as array binds, which are plain DML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from dagster_snowflake import SnowflakeResource

from sony_de_platform.settings import Engine, snowflake_dbt_profile_env
from sony_de_platform.warehouse.base import (
    Session,
    Warehouse,
    identifier,
)

# The connector's default CLIENT_STAGE_ARRAY_BINDING_THRESHOLD; a batch of rows x columns
# binds at or above it goes through a temporary stage (DDL, which commits the transaction).
STAGE_BINDING_THRESHOLD = 65_280


def rows_per_insert(column_count: int) -> int:
    """Rows per `executemany` batch that keep the batch's binds below the stage threshold."""
    return max(1, (STAGE_BINDING_THRESHOLD - 1) // max(1, column_count))


class SnowflakeSession(Session):
    engine = Engine.SNOWFLAKE
    column_types: ClassVar[Mapping[str, str]] = {"TIMESTAMP": "TIMESTAMP_NTZ"}

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def fetch_records(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            names = [column[0].lower() for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def email_hash_sql(self, expr: str) -> str:
        return f"SHA2(LOWER(TRIM({expr})), 256)"

    def regex_full_match_sql(self, expr: str) -> str:
        return f"REGEXP_LIKE({expr}, ?)"  # Snowflake's REGEXP_LIKE is always a full match

    def regex_contains_sql(self, expr: str) -> str:
        return f"REGEXP_INSTR({expr}, ?) > 0"

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
        batch = rows_per_insert(len(names))
        with self.connection.cursor() as cursor:
            for start in range(0, len(rows), batch):
                cursor.executemany(sql, rows[start : start + batch])
        return len(rows)


class SnowflakeWarehouse(Warehouse):
    """Production warehouse; connection fields come from EnvVars resolved by Dagster."""

    connection: SnowflakeResource

    @property
    def engine(self) -> Engine:
        return Engine.SNOWFLAKE

    @property
    def database(self) -> str:
        return str(self.connection.database)

    def dbt_profile_env(self) -> dict[str, str]:
        return snowflake_dbt_profile_env(self.database, str(self.connection.warehouse))

    @contextmanager
    def session(
        self,
        read_only: bool = False,
        wait: bool = True,
        purpose: str = "session",
        on_wait: Callable[[str], None] | None = None,
    ) -> Iterator[SnowflakeSession]:
        with self.connection.get_connection() as connection:
            yield SnowflakeSession(connection)
