"""Embedded DuckDB: one file named SONY_DE.duckdb, one writer at a time.

DuckDB lets one process open a file read-write, or many read-only, never both ("Could not
set lock on file"). Every writer of the platform (Bronze loads, dbt, routing) first takes
the warehouse's writer lock, a file lock beside the database, so concurrent steps and runs
wait their turn with a log line instead of failing; opening the file itself is retried for
processes outside the platform that hold it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from sony_de_platform.settings import Engine, dbt_profile_env
from sony_de_platform.warehouse.base import (
    Session,
    Warehouse,
    WarehouseBusy,
    WarehouseNotCreated,
    WarehouseUnavailable,
    identifier,
)
from sony_de_platform.warehouse.landing import (
    STAGING_TABLE,
    EngineRecords,
    LandedFile,
    LandingFile,
    StagedFile,
    append_staged,
    stage_jsonl_files,
    stage_parquet_files,
)

if TYPE_CHECKING:  # imported where used: see warehouse/landing.py
    import duckdb

log = logging.getLogger(__name__)

_LOCK_ERROR = "Could not set lock on file"
_POLL_SECONDS = 0.25
_REPORT_EVERY_SECONDS = 10.0
# DuckDB's settings for a Bronze load's statements, each restored after it (bulk_appends)
_BULK_APPEND_SETTINGS = {"preserve_insertion_order": "false"}
# DuckDB's settings for writing the readers' copy (publish_copy)
_PUBLISH_COPY_SETTINGS = {
    "preserve_insertion_order": "false",
    "disabled_compression_methods": "dict_fsst",
}


def private_folder(path: Path) -> Path:
    """Create the warehouse folder readable by its owner only (files inside inherit safety)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


class WarehouseLockTimeout(WarehouseBusy):
    """The warehouse stayed locked by another writer for longer than the timeout."""


class _ProcessWriterLock:
    """A re-entrant, per-process view of one cross-process file lock."""

    _registry: dict[Path, _ProcessWriterLock] = {}
    _registry_guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @classmethod
    def for_path(cls, path: Path) -> _ProcessWriterLock:
        with cls._registry_guard:
            return cls._registry.setdefault(path, cls(path))

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown process"
        except OSError:
            return "unknown process"

    def busy(self) -> str | None:
        """The holder if another process or thread writes now; None when free (or when the
        asking thread holds it itself). Never waits."""
        if not self._thread_lock.acquire(blocking=False):
            return f"another thread of this process (pid {os.getpid()})"
        try:
            if self._depth or not self.path.exists():
                return None
            fd = os.open(self.path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return self.holder()
            finally:
                os.close(fd)  # closing drops the probe's own shared lock
            return None
        finally:
            self._thread_lock.release()

    @contextmanager
    def hold(
        self, purpose: str, timeout: float, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=timeout):
            raise WarehouseLockTimeout(f"writer lock {self.path} busy in this process")
        try:
            if self._depth == 0:
                self._acquire_file_lock(purpose, deadline, timeout, on_wait or log.info)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release_file_lock()
        finally:
            self._thread_lock.release()

    def _acquire_file_lock(
        self, purpose: str, deadline: float, timeout: float, report: Callable[[str], None]
    ) -> None:
        private_folder(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        next_report = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                now = time.monotonic()
                if now >= deadline:
                    os.close(fd)
                    raise WarehouseLockTimeout(
                        f"{purpose}: the DuckDB warehouse is still being written by "
                        f"{self.holder()} after {timeout:.0f}s (lock file {self.path}). "
                        "Wait for that run to finish, or raise SONY_DE_LOCK_TIMEOUT_SECONDS."
                    ) from None
                if now >= next_report:
                    report(f"{purpose}: waiting for the warehouse writer ({self.holder()})")
                    next_report = now + _REPORT_EVERY_SECONDS
                time.sleep(_POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "purpose": purpose}).encode())
        self._fd = fd

    def _release_file_lock(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class DuckDBSession(Session):
    engine = Engine.DUCKDB

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.connection.execute(sql, params)

    @contextmanager
    def settings_applied(self, settings: Mapping[str, str]) -> Iterator[None]:
        """DuckDB settings by name (`SET name = 'value'`) for the work inside, each restored
        after it: they hold for the whole database instance, which the process's other
        connections to the same file share."""
        names = list(settings)
        previous = self.connection.execute(
            "SELECT " + ", ".join(f"current_setting('{name}')" for name in names)
        ).fetchone()

        def apply(values: Mapping[str, Any]) -> None:
            for name, value in values.items():
                self.connection.execute(f"SET {name} = '{value}'")

        apply(settings)
        try:
            yield
        finally:
            apply(dict(zip(names, previous, strict=True)))

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self.connection.execute(sql, params).fetchall()

    def fetch_records(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.connection.execute(sql, params)
        names = [column[0].lower() for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def email_hash_sql(self, expr: str) -> str:
        return f"sha256(lower(trim({expr})))"

    def regex_full_match_sql(self, expr: str) -> str:
        return f"regexp_full_match({expr}, ?)"

    def regex_contains_sql(self, expr: str) -> str:
        return f"regexp_matches({expr}, ?)"

    def fetch_with_names(
        self, sql: str, params: Sequence[Any] | None = None
    ) -> tuple[list[str], list[tuple]]:
        result = self.connection.execute(sql, params)
        return [str(d[0]).lower() for d in result.description or []], result.fetchall()

    @contextmanager
    def _registered(self, columns: Mapping[str, Sequence[Any]]) -> Iterator[tuple[str, int]]:
        """Column-wise Python values as a view for one statement: (view, rows)."""
        import pyarrow as pa  # here, not at module level: see warehouse/landing.py

        incoming = pa.table({identifier(name): list(values) for name, values in columns.items()})
        view = "_sony_de_incoming"
        self.connection.register(view, incoming)
        try:
            yield view, incoming.num_rows
        finally:
            self.connection.unregister(view)

    def append_columns(self, table: str, columns: Mapping[str, Sequence[Any]]) -> int:
        with self._registered(columns) as (view, rows):
            if rows == 0:
                return 0
            column_list = ", ".join(identifier(name) for name in columns)
            self.connection.execute(
                f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {view}"
            )
        return rows

    def stage_landing_files(self, landings: Sequence[LandingFile]) -> list[StagedFile | None]:
        """JSON Lines and Parquet are parsed by DuckDB's readers; CSV is left to Python."""
        formats = {landing.file_format for landing in landings}
        if formats == {"jsonl"}:
            return stage_jsonl_files(self.connection, list(landings))
        if formats == {"parquet"}:
            return stage_parquet_files(self.connection, list(landings), STAGING_TABLE)
        return [None] * len(landings)

    @contextmanager
    def bulk_appends(self) -> Iterator[None]:
        """DuckDB keeps the rows of a statement in the order they were read, which costs its
        parallel reads and writes a merge: a RAW row's place is its `_ingest_seq` (and its
        file and line), never its position in the table, so a load does without it. The log
        is checkpointed when the load ends; on the way DuckDB checkpoints as usual, each
        time its write-ahead log passes its threshold (16 MiB, about eight batches): one
        checkpoint of a whole large load's log costs more than the same log in parts (77 MiB
        at scale 100: 9.5 to 12.5 s at the end, against about 1 s per 16 MiB)."""
        import duckdb

        try:
            with self.settings_applied(_BULK_APPEND_SETTINGS):
                yield
        finally:
            try:
                self.connection.execute("CHECKPOINT")
            except duckdb.Error as error:  # the commits are in the log: DuckDB checkpoints later
                log.info("checkpoint deferred: %s", str(error).splitlines()[0])

    def discard_staged(self, staged: Iterable[StagedFile | None]) -> None:
        for table in sorted({file.table for file in staged if file is not None and file.table}):
            self.connection.execute(f"DROP TABLE IF EXISTS {identifier(table)}")

    def append_staged(
        self,
        table: str,
        files: Sequence[LandedFile],
        required_keys: tuple[str, ...],
        loaded_at: Any,
    ) -> tuple[int, list[EngineRecords | None]]:
        return append_staged(self.connection, table, list(files), required_keys, loaded_at)


def connect_duckdb(path: Path, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting (with backoff) while another process holds DuckDB's own lock."""
    import duckdb

    if not read_only:
        private_folder(path.parent)
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as error:
            if _LOCK_ERROR not in str(error):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockTimeout(
                    f"{path} stayed locked by another process for {timeout:.0f}s "
                    f"({str(error).splitlines()[0]}); close that process or wait for it."
                ) from error
            log.info("waiting for DuckDB file lock on %s", path)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    if not read_only and path.exists():
        path.chmod(0o600)
    return connection


class DuckDBWarehouse(Warehouse):
    """The local warehouse: an embedded DuckDB file."""

    path: str = Field(description="Path of the SONY_DE.duckdb file.")
    lock_timeout_seconds: float = Field(default=600.0, description="How long a writer waits.")

    @property
    def engine(self) -> Engine:
        return Engine.DUCKDB

    def dbt_profile_env(self) -> dict[str, str]:
        return dbt_profile_env(Engine.DUCKDB, self.path, self.lock_timeout_seconds)

    @property
    def _lock(self) -> _ProcessWriterLock:
        path = Path(self.path)
        return _ProcessWriterLock.for_path(path.with_name(path.name + ".writer.lock"))

    @contextmanager
    def exclusive_writer(
        self, purpose: str, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[None]:
        with self._lock.hold(purpose, self.lock_timeout_seconds, on_wait):
            yield

    def busy_writer(self) -> str | None:
        return self._lock.busy()

    def _connect_now(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """Open the file without waiting, or say why it cannot be opened."""
        path = Path(self.path)
        if read_only and not path.exists():
            raise WarehouseNotCreated(
                f"{path} does not exist yet: nothing has been loaded (run the Bronze loads)"
            )
        try:
            return connect_duckdb(path, read_only, timeout=0)
        except WarehouseLockTimeout as error:
            cause = str(error.__cause__ or error).splitlines()[0]
            raise WarehouseUnavailable(
                f"{path} is open for writing by another process: {cause}"
            ) from None

    def publish_copy(
        self,
        target: Path,
        schemas: Sequence[str],
        forbidden_columns: Collection[str] = (),
        internal_prefixes: Collection[str] = (),
    ) -> dict[str, int]:
        """Copy every table and view of `schemas` into a new file at `target`, as tables,
        but those whose names start with one of `internal_prefixes` (case-insensitive).

        Views become tables because what they read (RAW) is not copied. The copy is built
        under the writer lock, so no writer changes the warehouse half-way, into a temporary
        file beside `target` that is made read-only and then renamed over it: a reader opens
        either the previous copy or the complete new one, never a half-written file.
        The copy is written for speed, as a file rebuilt after every build: rows without
        keeping their order (no table's meaning depends on it), text without DuckDB's
        dictionary and FSST compression, which costs most of the copy's time for the hex
        hashes (scale 100, 14 million rows: about 5 s and 1.1 GB against 7 to 8 s and
        0.55 GB). They are set on the read-only connection, whose only writes go into the
        copy, and restored once it is written.
        """
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        partial.unlink(missing_ok=True)
        alias = "_sony_de_published"
        internal = tuple(prefix.upper() for prefix in internal_prefixes)
        placeholders = ", ".join("?" for _ in schemas)
        copied: dict[str, int] = {}
        try:
            with (
                self.exclusive_writer(f"publish {target.name}"),
                self.session(read_only=True) as session,
            ):
                relations = [
                    (schema, table)
                    for schema, table in session.fetchall(
                        "SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE table_catalog = current_database() AND upper(table_schema) IN "
                        f"({placeholders}) ORDER BY 1, 2",
                        [schema.upper() for schema in schemas],
                    )
                    if not table.upper().startswith(internal)
                ]
                forbidden = session.fetchall(
                    "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                    "WHERE table_catalog = current_database() AND upper(table_schema) IN "
                    f"({placeholders}) AND lower(column_name) IN "
                    f"({', '.join('?' for _ in forbidden_columns) or 'NULL'}) ORDER BY 1, 2, 3",
                    [s.upper() for s in schemas] + [c.lower() for c in forbidden_columns],
                )
                if forbidden:
                    found = ", ".join(f"{s}.{t}.{c}" for s, t, c in forbidden)
                    raise ValueError(
                        f"not publishing {target}: {found} may hold PII and readers may not see "
                        "it; keep such columns in RAW or SECURE, or hash them in the model"
                    )
                quoted_path = str(partial).replace("'", "''")
                with session.settings_applied(_PUBLISH_COPY_SETTINGS):  # until DETACH writes
                    session.execute(f"ATTACH '{quoted_path}' AS {alias} (READ_WRITE)")
                    for schema in dict.fromkeys(schema for schema, _ in relations):
                        session.execute(f"CREATE SCHEMA {alias}.{identifier(schema)}")
                    for schema, table in relations:
                        name = f"{identifier(schema)}.{identifier(table)}"
                        session.execute(f"CREATE TABLE {alias}.{name} AS SELECT * FROM {name}")
                        copied[name] = int(session.scalar(f"SELECT COUNT(*) FROM {alias}.{name}"))
                    session.execute(f"DETACH {alias}")
        except BaseException:
            for leftover in (partial, partial.with_name(partial.name + ".wal")):
                leftover.unlink(missing_ok=True)
            raise
        partial.chmod(0o400)
        os.replace(partial, target)
        return copied

    @contextmanager
    def session(
        self,
        read_only: bool = False,
        wait: bool = True,
        purpose: str = "session",
        on_wait: Callable[[str], None] | None = None,
    ) -> Iterator[DuckDBSession]:
        if read_only:
            connection = (
                connect_duckdb(Path(self.path), True, self.lock_timeout_seconds)
                if wait
                else self._connect_now(read_only=True)
            )
            try:
                yield DuckDBSession(connection)
            finally:
                connection.close()
            return
        if not wait and (holder := self.busy_writer()):
            raise WarehouseUnavailable(f"{self.path} is being written by {holder}")
        with self.exclusive_writer(purpose, on_wait):
            connection = (
                connect_duckdb(Path(self.path), False, self.lock_timeout_seconds)
                if wait
                else self._connect_now(read_only=False)
            )
            try:
                yield DuckDBSession(connection)
            finally:
                connection.close()
