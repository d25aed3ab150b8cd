"""Append landing files to RAW tables: once per file content, all of a file or nothing.

Each file is identified by the SHA-256 of its bytes in RAW.LOAD_LEDGER, so a file already
loaded is skipped whatever its name. One file's good rows, its quarantined records and its
ledger entry are written in one transaction: a crash leaves either all of them or none,
and a re-run picks the file up again. For every file, lines read = rows loaded + rows
quarantined.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sony_de_platform.bronze.feeds import (
    FEEDS,
    LEDGER_TABLE,
    LOAD_METADATA_COLUMNS,
    QUARANTINE_TABLE,
    RAW_SCHEMA,
    Feed,
)
from sony_de_platform.bronze.parsing import (
    ParsedRecord,
    Record,
    RejectedRecord,
    parquet_record,
    read_json_line,
    read_records,
)
from sony_de_platform.warehouse import Session, qualified
from sony_de_platform.warehouse.landing import DoubtfulRecord, LandingFile, StagedFile

log = logging.getLogger(__name__)

# Landing files are parsed by the engine this many bytes at a time, several files at once so
# that it parses them in parallel; each is still loaded in its own transaction.
STAGE_BATCH_BYTES = 64 * 2**20

LEDGER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("load_id", "VARCHAR"),
    ("feed", "VARCHAR"),
    ("target_table", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("file_sha256", "VARCHAR"),
    ("file_bytes", "BIGINT"),
    ("lines_read", "BIGINT"),
    ("rows_loaded", "BIGINT"),
    ("rows_quarantined", "BIGINT"),
    ("first_ingest_seq", "BIGINT"),
    ("last_ingest_seq", "BIGINT"),
    ("loaded_at", "TIMESTAMP"),
    ("run_id", "VARCHAR"),
)
QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("load_id", "VARCHAR"),
    ("feed", "VARCHAR"),
    ("target_table", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("line_number", "BIGINT"),
    ("raw_record", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("quarantined_at", "TIMESTAMP"),
)


@dataclass
class FileLoad:
    """What happened to one landing file."""

    feed: str
    source_file: str
    file_sha256: str
    skipped: bool = False
    skipped_because: str = ""
    lines_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    load_id: str = ""
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def reconciles(self) -> bool:
        return self.lines_read == self.rows_loaded + self.rows_quarantined


def raw_table_columns(feed: Feed) -> tuple[tuple[str, str], ...]:
    return tuple((name, "VARCHAR") for name in feed.fields) + LOAD_METADATA_COLUMNS


def bronze_tables(feeds: Iterable[Feed] = FEEDS) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """(table, columns) of the feeds' RAW tables, then the ledger and the quarantine."""
    return [
        *((feed.table, raw_table_columns(feed)) for feed in feeds),
        (LEDGER_TABLE, LEDGER_COLUMNS),
        (QUARANTINE_TABLE, QUARANTINE_COLUMNS),
    ]


def bronze_pii_columns(feeds: Iterable[Feed] = FEEDS) -> list[tuple[str, str]]:
    """(table, column) of every RAW column that may hold PII in clear: the feeds' PII fields
    and the quarantine's raw record, which keeps a rejected line as received."""
    return [
        *((feed.table, column) for feed in feeds for column in feed.pii_fields),
        (QUARANTINE_TABLE, "raw_record"),
    ]


def ensure_bronze_tables(session: Session, feeds: Iterable[Feed] = FEEDS) -> None:
    """Create schema RAW, the RAW tables, the ledger and the quarantine if missing."""
    session.ensure_schema(RAW_SCHEMA)
    for table, columns in bronze_tables(feeds):
        session.create_table_if_missing(qualified(RAW_SCHEMA, table), columns)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def previous_load(session: Session, feed: Feed, file_sha256: str) -> tuple | None:
    return session.fetchone(
        f"SELECT source_file, loaded_at FROM {qualified(RAW_SCHEMA, LEDGER_TABLE)} "
        "WHERE target_table = ? AND file_sha256 = ? LIMIT 1",
        [feed.table, file_sha256],
    )


def _skipped_as_loaded(session: Session, feed: Feed, result: FileLoad) -> bool:
    """Mark the file skipped when the ledger already holds its content."""
    earlier = previous_load(session, feed, result.file_sha256)
    if earlier is not None:
        result.skipped = True
        result.skipped_because = f"same content already loaded from {earlier[0]} at {earlier[1]}"
    return earlier is not None


def _decide(feed: Feed, doubtful: DoubtfulRecord) -> Record:
    """The Python reader's verdict on a record the engine did not load on its own."""
    if doubtful.fields is not None:
        return parquet_record(feed, doubtful.line_number, doubtful.fields)
    return read_json_line(feed, doubtful.line_number, doubtful.line or "")


def _read(feed: Feed, path: Path, landing_dir: Path) -> tuple[bytes, FileLoad]:
    data = path.read_bytes()
    relative = path.relative_to(landing_dir).as_posix()
    return data, FileLoad(feed.name, relative, hashlib.sha256(data).hexdigest())


def _landing(feed: Feed, path: Path, data: bytes) -> LandingFile:
    return LandingFile(feed.file_format.value, path, data, feed.fields, feed.required_keys)


def load_file(
    session: Session, feed: Feed, path: Path, landing_dir: Path, run_id: str = ""
) -> FileLoad:
    """Load one landing file into its RAW table in one transaction (or skip it)."""
    data, result = _read(feed, path, landing_dir)
    if _skipped_as_loaded(session, feed, result):
        return result
    (staged,) = session.stage_landing_files([_landing(feed, path, data)])
    try:
        return _load_read_file(session, feed, path, data, result, staged, run_id)
    finally:
        session.discard_staged([staged])


def _load_read_file(
    session: Session,
    feed: Feed,
    path: Path,
    data: bytes,
    result: FileLoad,
    staged: StagedFile | None,
    run_id: str,
) -> FileLoad:
    """One transaction: the file's rows, its quarantined records and its ledger entry.

    The engine parsed the file before (a reader error must not abort the transaction): only
    the records it left doubtful reach Python, or all of them where it has no bulk reader.
    """
    records: Iterable[Record] = (
        read_records(feed, path, data)
        if staged is None
        else (_decide(feed, doubtful) for doubtful in staged.doubtful)
    )
    relative = result.source_file
    with session.transaction():
        if _skipped_as_loaded(session, feed, result):  # another writer got there first
            return result

        result.load_id = uuid.uuid4().hex
        loaded_at = _utc_now()
        table = qualified(RAW_SCHEMA, feed.table)
        base_seq = int(session.scalar(f"SELECT COALESCE(MAX(_ingest_seq), 0) FROM {table}"))

        good: list[list[str | None]] = [[] for _ in feed.fields]
        line_numbers: list[int] = []
        rejected: list[RejectedRecord] = []
        for record in records:
            result.lines_read += 1
            if isinstance(record, ParsedRecord):
                line_numbers.append(record.line_number)
                for column, value in zip(good, record.values, strict=True):
                    column.append(value)
            else:
                rejected.append(record)
                result.reasons[record.reason.split(":")[0]] += 1

        columns: dict[str, list] = dict(zip(feed.fields, good, strict=True))
        if staged is None:
            loaded = len(line_numbers)
            columns["_source_file"] = [relative] * loaded
            columns["_line_number"] = line_numbers
            columns["_load_id"] = [result.load_id] * loaded
            columns["_loaded_at"] = [loaded_at] * loaded
            columns["_ingest_seq"] = list(range(base_seq + 1, base_seq + loaded + 1))
            result.rows_loaded = session.append_columns(table, columns)
        else:
            result.lines_read = staged.lines_read  # clean records never reach Python
            columns["_line_number"] = line_numbers
            result.rows_loaded = session.append_staged(
                table, staged, columns, (relative, result.load_id, loaded_at), base_seq + 1
            )
        loaded = result.rows_loaded

        quarantined = len(rejected)
        result.rows_quarantined = session.append_columns(
            qualified(RAW_SCHEMA, QUARANTINE_TABLE),
            {
                "load_id": [result.load_id] * quarantined,
                "feed": [feed.name] * quarantined,
                "target_table": [feed.table] * quarantined,
                "source_file": [relative] * quarantined,
                "line_number": [r.line_number for r in rejected],
                "raw_record": [r.raw_record for r in rejected],
                "reason": [r.reason for r in rejected],
                "quarantined_at": [loaded_at] * quarantined,
            },
        )
        if not result.reconciles:  # a bug, never bad data: refuse to commit
            raise AssertionError(f"{relative}: counts do not reconcile: {result}")

        session.execute(
            f"INSERT INTO {qualified(RAW_SCHEMA, LEDGER_TABLE)} "
            f"({', '.join(name for name, _ in LEDGER_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in LEDGER_COLUMNS)})",
            [
                result.load_id,
                feed.name,
                feed.table,
                relative,
                result.file_sha256,
                len(data),
                result.lines_read,
                result.rows_loaded,
                result.rows_quarantined,
                base_seq + 1 if loaded else None,
                base_seq + loaded if loaded else None,
                loaded_at,
                run_id,
            ],
        )
    return result


def landing_files(feed: Feed, landing_dir: Path) -> list[Path]:
    """The feed's files in the landing folder, oldest name first; hidden files excluded."""
    folder = landing_dir / feed.folder
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.glob(feed.pattern) if p.is_file() and not p.name.startswith(".")
    )


def _still_being_written(path: Path, settle_seconds: float, now: float) -> float | None:
    """Seconds since the last write when that is too recent to trust the file complete."""
    age = now - path.stat().st_mtime
    return age if age < settle_seconds else None


def load_feed(
    session: Session,
    feed: Feed,
    landing_dir: Path,
    run_id: str = "",
    on_file: Callable[[int, int, FileLoad], None] | None = None,
    settle_seconds: float = 0.0,
) -> list[FileLoad]:
    """Load every new file of a feed, one transaction per file, reporting progress.

    A file written to within the last `settle_seconds` may still be growing: it is left
    for a later run rather than loaded half-written.
    """
    files = landing_files(feed, landing_dir)
    results: list[FileLoad] = []
    ensure_bronze_tables(session, [feed])
    now = time.time()
    batch: list[tuple[Path, bytes, FileLoad]] = []

    def report(result: FileLoad) -> None:
        results.append(result)
        if on_file:
            on_file(len(results), len(files), result)

    def load_batch() -> None:
        """Stage the batch's new files together, then load each in its own transaction."""
        fresh = [item for item in batch if not _skipped_as_loaded(session, feed, item[2])]
        staged = session.stage_landing_files([_landing(feed, p, data) for p, data, _ in fresh])
        by_path = {p: file for (p, _, _), file in zip(fresh, staged, strict=True)}
        try:
            for path, data, result in batch:
                if path in by_path:
                    result = _load_read_file(
                        session, feed, path, data, result, by_path[path], run_id
                    )
                report(result)
        finally:
            session.discard_staged(staged)
        batch.clear()

    with session.checkpoint_after():
        for path in files:
            age = _still_being_written(path, settle_seconds, now)
            if age is not None:
                load_batch()
                report(
                    FileLoad(
                        feed.name,
                        path.relative_to(landing_dir).as_posix(),
                        file_sha256="",
                        skipped=True,
                        skipped_because=(
                            f"still being written ({age:.1f}s since its last change, settle time "
                            f"{settle_seconds:g}s): it will be loaded by a later run"
                        ),
                    )
                )
                continue
            batch.append((path, *_read(feed, path, landing_dir)))
            if sum(len(data) for _, data, _ in batch) >= STAGE_BATCH_BYTES:
                load_batch()
        load_batch()
    return results
