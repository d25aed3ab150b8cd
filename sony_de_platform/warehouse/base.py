"""The small engine interface: sessions, transactions, bulk appends, the writer lock.

Everything engine-specific that the Python side of the platform needs sits behind
`Warehouse` and `Session`; `duckdb.py` and `snowflake.py` beside this file implement them
side by side (and `streams.py` holds both dialects of the stream operations). SQL handed to
a session uses `?` placeholders on both engines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dagster import ConfigurableResource, RetryRequested

from sony_de_platform.settings import DATABASE_NAME, Engine

if TYPE_CHECKING:
    from sony_de_platform.warehouse.landing import (
        EngineRecords,
        LandedFile,
        LandingFile,
        StagedFile,
    )


class WarehouseBusy(TimeoutError):
    """Another writer held the warehouse for longer than we wait: transient, retry later."""


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def identifier(name: str) -> str:
    """Validate a schema/table/column name before it is put into SQL text."""
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"{name!r} is not a valid SQL identifier here: use letters, digits and "
            "underscores, starting with a letter or underscore"
        )
    return name


def qualified(*parts: str) -> str:
    """`SCHEMA.TABLE` (the database is the session's) or `DATABASE.SCHEMA.TABLE`, every part
    validated."""
    return ".".join(identifier(part) for part in parts)


class WarehouseUnavailable(RuntimeError):
    """The warehouse cannot be opened right now without waiting; the message says why."""


class WarehouseNotCreated(WarehouseUnavailable):
    """There is no warehouse to read yet (nothing was ever written)."""


class Session:
    """One open connection. Statements use `?` placeholders; values are always bound."""

    engine: Engine
    # The platform declares columns with portable type names; an engine maps those whose
    # meaning differs in its dialect (e.g. Snowflake's TIMESTAMP follows an account setting).
    column_types: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def create_table_sql(cls, table: str, columns: Iterable[tuple[str, str]]) -> str:
        """`CREATE TABLE IF NOT EXISTS` in this engine's dialect; `table` is already qualified."""
        body = ", ".join(
            f"{identifier(name)} {cls.column_types.get(sql_type, sql_type)}"
            for name, sql_type in columns
        )
        return f"CREATE TABLE IF NOT EXISTS {table} ({body})"

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

    def fetch_records(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts keyed by lower-case column name (for results such as SHOW ...)."""
        raise NotImplementedError

    # SQL fragments whose spelling differs between the engines. Each leaves one `?` for the
    # regular expression, which is bound, so no engine's string-literal escaping applies.
    def email_hash_sql(self, expr: str) -> str:
        """SHA-256 of lower(trim(expr)) as 64 lowercase hex (dbt macro `email_hash`)."""
        raise NotImplementedError

    def regex_full_match_sql(self, expr: str) -> str:
        """TRUE when the whole of `expr` matches the bound pattern (dbt macro `regex_matches`)."""
        raise NotImplementedError

    def regex_contains_sql(self, expr: str) -> str:
        """TRUE when the bound pattern matches somewhere in `expr`."""
        raise NotImplementedError

    def append_columns(self, table: str, columns: Mapping[str, Sequence[Any]]) -> int:
        """Append rows given column-wise (name -> values); returns the rows appended."""
        raise NotImplementedError

    def stage_landing_files(self, landings: Sequence[LandingFile]) -> list[StagedFile | None]:
        """The landing files (of one feed) the engine reads itself, before the load's
        transaction: parsed into temporary staging tables, or counted to be parsed as they
        are appended (see landing.py). None for a file the engine has no bulk reader for:
        the loader then reads that file in Python."""
        return [None] * len(landings)

    def discard_staged(self, staged: Iterable[StagedFile | None]) -> None:
        """Drop the staging tables of files loaded (or given up)."""

    def append_staged(
        self,
        table: str,
        files: Sequence[LandedFile],
        required_keys: tuple[str, ...],
        loaded_at: Any,
    ) -> tuple[int, list[EngineRecords | None]]:
        """Append the clean records of the staged files among `files` (a batch, in order, a
        file's position giving its metadata); returns the rows appended and, per file, what
        the engine made of its records (None for a file Python reads)."""
        if any(file.staged is not None for file in files):
            raise NotImplementedError(f"{type(self).__name__} stages no landing files")
        return 0, [None] * len(files)

    @contextmanager
    def bulk_appends(self) -> Iterator[None]:
        """Many bulk appends and commits in a row (a feed's load): the engine's settings for
        them, restored afterwards, and a checkpoint of the engine's log when the load ends
        (every commit stays durable in the log)."""
        yield

    def append_landed(
        self,
        table: str,
        files: Sequence[LandedFile],
        python_rows: Mapping[str, Sequence[Any]],
        loaded_at: Any,
    ) -> int:
        """Append `python_rows`, the records of several landing files that Python read
        (column-wise, with `_line_number` and `_file`, the file's position in `files`).
        Returns the rows appended."""
        positions, lines = python_rows["_file"], python_rows["_line_number"]
        metadata = {"_file", "_line_number"}
        columns = {name: values for name, values in python_rows.items() if name not in metadata}
        columns["_source_file"] = [files[position].source_file for position in positions]
        columns["_line_number"] = lines
        columns["_load_id"] = [files[position].load_id for position in positions]
        columns["_loaded_at"] = [loaded_at] * len(positions)
        columns["_ingest_seq"] = [
            files[position].seq_before + line
            for position, line in zip(positions, lines, strict=True)
        ]
        return self.append_columns(table, columns)

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

    def schema_exists(self, schema: str) -> bool:
        return bool(
            self.scalar(
                "SELECT COUNT(*) FROM information_schema.schemata "
                "WHERE upper(schema_name) = upper(?)",
                [schema],
            )
        )

    def ensure_schema(self, schema: str) -> None:
        """Create the schema only when it is missing: on Snowflake the pipeline's roles may
        use a schema without holding CREATE SCHEMA on the database (see governance/access.py)."""
        if not self.schema_exists(schema):
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")

    def create_table_if_missing(self, table: str, columns: Iterable[tuple[str, str]]) -> None:
        self.execute(self.create_table_sql(table, columns))

    def ensure_table(
        self, schema: str, table: str, columns: Sequence[tuple[str, str]]
    ) -> list[str]:
        """Create the schema and the table (name, type pairs) if missing; returns the DDL."""
        body = ", ".join(f"{identifier(name)} {sql_type}" for name, sql_type in columns)
        statements = [
            f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}",
            f"CREATE TABLE IF NOT EXISTS {qualified(schema, table)} ({body})",
        ]
        for statement in statements:
            self.execute(statement)
        return statements


class Warehouse(ConfigurableResource):
    """A Dagster resource that opens sessions on the platform's warehouse."""

    busy_retries: int = 3
    busy_retry_seconds: float = 30.0

    @property
    def engine(self) -> Engine:
        raise NotImplementedError

    @property
    def database(self) -> str:
        return DATABASE_NAME

    @contextmanager
    def session(
        self,
        read_only: bool = False,
        wait: bool = True,
        purpose: str = "session",
        on_wait: Callable[[str], None] | None = None,
    ) -> Iterator[Session]:
        """A connection. A writer that must wait for another reports through `on_wait`; with
        `wait=False` a busy warehouse raises WarehouseUnavailable at once instead (sensors
        must never block)."""
        raise NotImplementedError
        yield  # pragma: no cover

    def busy_writer(self) -> str | None:
        """Who holds the right to write right now, without waiting (None when free, and on
        engines that need no writer lock)."""
        return None

    def dbt_profile_env(self) -> dict[str, str]:
        """Environment variables the committed dbt profiles.yml reads for this engine."""
        raise NotImplementedError

    @contextmanager
    def exclusive_writer(
        self, purpose: str, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        """Hold the right to write for the duration (a no-op where the engine needs none)."""
        yield

    def publish_copy(
        self,
        target: Path,
        schemas: Sequence[str],
        forbidden_columns: Collection[str] = (),
        internal_prefixes: Collection[str] = (),
    ) -> dict[str, int]:
        """Write the tables and views of `schemas` to a separate read-only database file,
        but those named with one of `internal_prefixes` (the engine's own bookkeeping).

        Refuses (and writes nothing) when a relation has a column named in
        `forbidden_columns`. Returns rows per `SCHEMA.table` copied. Only an embedded engine
        needs this: readers of a server warehouse connect with a role whose grants leave out
        what they may not see.
        """
        raise NotImplementedError(
            f"{self.engine.value} readers need no published copy: they connect with the "
            "monitor role (SONY_DE_MONITOR_ROLE), whose grants leave out RAW and SECURE"
        )


@contextmanager
def retry_when_busy(warehouse: Warehouse, context: Any) -> Iterator[None]:
    """Turn lock contention into a Dagster step retry with exponential backoff."""
    try:
        yield
    except WarehouseBusy as error:
        wait = warehouse.busy_retry_seconds * 2**context.retry_number
        context.log.warning(
            f"{error} Retrying in {wait:g}s "
            f"(retry {context.retry_number + 1} of {warehouse.busy_retries})."
        )
        raise RetryRequested(max_retries=warehouse.busy_retries, seconds_to_wait=wait) from error
