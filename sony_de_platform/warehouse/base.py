"""The small engine interface: sessions, transactions, bulk appends, the writer lock.

Everything engine-specific that the Python side of the platform needs sits behind
`Warehouse` and `Session`; `duckdb.py` and `snowflake.py` beside this file implement them
side by side. SQL handed to a session uses `?` placeholders on both engines.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource

from sony_de_platform.settings import DATABASE_NAME, Engine

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def identifier(name: str) -> str:
    """Validate a schema/table/column name before it is put into SQL text."""
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"{name!r} is not a valid SQL identifier here: use letters, digits and "
            "underscores, starting with a letter or underscore"
        )
    return name


def qualified(schema: str, table: str) -> str:
    """`SCHEMA.TABLE`, both parts validated (the database is the session's)."""
    return f"{identifier(schema)}.{identifier(table)}"


class Session:
    """One open connection. Statements use `?` placeholders; values are always bound."""

    engine: Engine

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        raise NotImplementedError

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        raise NotImplementedError

    def fetch_with_names(
        self, sql: str, params: Sequence[Any] | None = None
    ) -> tuple[list[str], list[tuple]]:
        """Column names (lower case on both engines) and rows of a query."""
        raise NotImplementedError

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self.fetchone(sql, params)
        return row[0] if row else None

    def append_columns(self, table: str, columns: Mapping[str, Sequence[Any]]) -> int:
        """Append rows given column-wise (name -> values); returns the rows appended."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """All statements inside commit together or not at all."""
        self.execute("BEGIN")
        try:
            yield self
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(
            self.scalar(
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE upper(table_schema) = upper(?) AND upper(table_name) = upper(?)",
                [schema, table],
            )
        )

    def row_count(self, schema: str, table: str) -> int:
        return int(self.scalar(f"SELECT COUNT(*) FROM {qualified(schema, table)}") or 0)

    def ensure_schema(self, schema: str) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")


class Warehouse(ConfigurableResource):
    """A Dagster resource that opens sessions on the platform's warehouse."""

    @property
    def engine(self) -> Engine:
        raise NotImplementedError

    @property
    def database(self) -> str:
        return DATABASE_NAME

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[Session]:
        raise NotImplementedError
        yield  # pragma: no cover

    def dbt_profile_env(self) -> dict[str, str]:
        """Environment variables the committed dbt profiles.yml reads for this engine."""
        raise NotImplementedError

    @contextmanager
    def exclusive_writer(self, purpose: str) -> Iterator[None]:
        """Hold the right to write for the duration (a no-op where the engine needs none)."""
        yield

    def publish_copy(
        self, target: Path, schemas: Sequence[str], forbidden_columns: Collection[str] = ()
    ) -> dict[str, int]:
        """Write the tables and views of `schemas` to a separate read-only database file.

        Refuses (and writes nothing) when a relation has a column named in
        `forbidden_columns`. Returns rows per `SCHEMA.table` copied. Only an embedded engine
        needs this: readers of a server warehouse connect with a role whose grants leave out
        what they may not see.
        """
        raise NotImplementedError(
            f"{self.engine.value} readers need no published copy: they connect with the "
            "monitor role (SONY_DE_MONITOR_ROLE), whose grants leave out RAW and SECURE"
        )
