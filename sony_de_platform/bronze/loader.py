"""Append landing files to RAW tables: once per file content, all of a file or nothing.

Each file is identified by the SHA-256 of its bytes in RAW.LOAD_LEDGER, so a file already
loaded is skipped whatever its name. One file's good rows, its quarantined records and its
ledger entry are written in one transaction (shared by the files of one batch): a crash
leaves either all of them or none, and a re-run picks the file up again. For every file,
lines read = rows loaded + rows quarantined. Every line read takes the next `_ingest_seq`
number in file order, loaded or not, so that the numbers need no sort to assign.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
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
from sony_de_platform.warehouse.landing import (
    DoubtfulRecord,
    LandedFile,
    LandingFile,
    StagedFile,
)

log = logging.getLogger(__name__)

# Landing files are parsed by the engine this many bytes at a time, several files at once so
# that it parses them in parallel, and their rows appended in one statement, which DuckDB
# writes straight to the file in bulk (small appends go through its log, written twice).
# Each parallel append leaves a partly filled row group per thread, and DuckDB's checkpoints
# merge neighbouring ones (its vacuum, about 0.7 s a merge): fewer, larger batches leave
# fewer of them (at scale 100, batches of 128 MB cost 9 to 12 s of checkpoints, 256 MB 2.4
# to 3.2 s). A small batch leaves each thread only a row group or two, their partly filled
# ends side by side, which is what the vacuum merges: so the files left once a batch is
# full join it when they would not fill another one. At scale 10 a last batch of 13 files
# cost 0.6 s of checkpoint at the load's end and 0.3 s more at the next one; taking them
# into the batch before cut the interactions load from 5.9 to 6.1 s to 5.0 to 5.2 s.
STAGE_BATCH_BYTES = 256 * 2**20

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


# hashes asked of the ledger per query: one query per batch of files, not one per file (a
# round trip each on Snowflake), in lists short enough for any engine's IN
LEDGER_LOOKUP_CHUNK = 1000


def previous_loads(
    session: Session, feed: Feed, file_sha256s: Iterable[str]
) -> dict[str, tuple[str, datetime]]:
    """The ledger's first load of each of these file contents: (source_file, loaded_at)
    by SHA-256, for the contents it holds."""
    hashes = sorted(set(file_sha256s))
    earlier: dict[str, tuple[str, datetime]] = {}
    for start in range(0, len(hashes), LEDGER_LOOKUP_CHUNK):
        chunk = hashes[start : start + LEDGER_LOOKUP_CHUNK]
        for file_sha256, source_file, loaded_at in session.fetchall(
            f"SELECT file_sha256, source_file, loaded_at FROM "
            f"{qualified(RAW_SCHEMA, LEDGER_TABLE)} WHERE target_table = ? "
            f"AND file_sha256 IN ({', '.join('?' * len(chunk))}) ORDER BY loaded_at",
            [feed.table, *chunk],
        ):
            earlier.setdefault(file_sha256, (source_file, loaded_at))
    return earlier


@dataclass
class _BatchFile:
    """A file of the batch being loaded: its bytes, its outcome, and its staging."""

    path: Path
    data: bytes
    result: FileLoad
    staged: StagedFile | None = None


def _not_yet_loaded(session: Session, feed: Feed, files: list[_BatchFile]) -> list[_BatchFile]:
    """The files whose content neither the ledger holds nor an earlier file of the batch;
    the others are marked skipped with the reason."""
    earlier = previous_loads(session, feed, (file.result.file_sha256 for file in files))
    first_with: dict[str, FileLoad] = {}
    fresh = []
    for file in files:
        result = file.result
        if result.file_sha256 in earlier:
            source_file, loaded_at = earlier[result.file_sha256]
            result.skipped = True
            result.skipped_because = (
                f"same content already loaded from {source_file} at {loaded_at}"
            )
            continue
        if result.file_sha256 in first_with:
            result.skipped = True
            result.skipped_because = (
                f"same content as {first_with[result.file_sha256].source_file}, loaded with it"
            )
            continue
        first_with[result.file_sha256] = result
        fresh.append(file)
    return fresh


def _decide(feed: Feed, doubtful: DoubtfulRecord) -> Record:
    """The Python reader's verdict on a record the engine did not load on its own."""
    if doubtful.fields is not None:
        return parquet_record(feed, doubtful.line_number, doubtful.fields)
    return read_json_line(feed, doubtful.line_number, doubtful.line or "")


def _read(feed: Feed, path: Path, landing_dir: Path) -> tuple[bytes, FileLoad]:
    data = path.read_bytes()
    relative = path.relative_to(landing_dir).as_posix()
    return data, FileLoad(feed.name, relative, hashlib.sha256(data).hexdigest())


def _read_ahead(
    feed: Feed, paths: list[Path], landing_dir: Path
) -> Iterator[tuple[bytes, FileLoad]]:
    """Each file's bytes and hash in order, read on two helper threads up to a batch ahead,
    so that reading and hashing the next files overlaps the engine's work on this batch (and
    the first batch, which the engine waits for, is read in about half the time).

    The next files are handed to the threads before a file is yielded: the caller loads a
    batch when the file it gets completes one, and the reads must go on meanwhile (files
    of half a batch were otherwise read only once the caller asked for them)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="landing-read") as pool:
        pending: deque[tuple[int, Future[tuple[bytes, FileLoad]]]] = deque()
        unread = iter(paths)

        def submit_up_to_a_batch() -> None:
            while sum(size for size, _ in pending) < STAGE_BATCH_BYTES and (
                path := next(unread, None)
            ):
                pending.append((path.stat().st_size, pool.submit(_read, feed, path, landing_dir)))

        submit_up_to_a_batch()
        while pending:
            _, done = pending.popleft()
            submit_up_to_a_batch()
            yield done.result()


def _landing(feed: Feed, path: Path, data: bytes) -> LandingFile:
    return LandingFile(feed.file_format.value, path, data, feed.fields, feed.required_keys)


def _load_batch(session: Session, feed: Feed, files: list[_BatchFile], run_id: str) -> None:
    """One transaction: the files' rows, their quarantined records and ledger entries.

    The engine appends the clean records of the files it reads (it staged them before, so
    that a Parquet file it cannot read is left to Python without aborting the transaction);
    only the records it left doubtful reach Python, or all of them where it has no bulk
    reader. Each file is all-or-nothing, as the whole batch is.
    """
    with session.transaction():
        loading = _not_yet_loaded(session, feed, files)  # another writer may have since
        if not loading:
            return
        loaded_at = _utc_now()
        table = qualified(RAW_SCHEMA, feed.table)
        base_seq = int(session.scalar(f"SELECT COALESCE(MAX(_ingest_seq), 0) FROM {table}"))

        # a record's _ingest_seq is its file's number before line 1 plus its line number
        read_by_python: dict[int, list[Record]] = {}
        landed: list[LandedFile] = []
        next_seq = base_seq
        for position, file in enumerate(loading):
            file.result.load_id = uuid.uuid4().hex
            if file.staged is None:
                records = read_by_python[position] = list(read_records(feed, file.path, file.data))
                lines = max([len(records), *(record.line_number for record in records)])
            else:
                lines = file.staged.lines_read
            landed.append(
                LandedFile(file.staged, file.result.source_file, file.result.load_id, next_seq)
            )
            next_seq += lines
        appended, by_engine = session.append_staged(table, landed, feed.required_keys, loaded_at)

        python_rows: dict[str, list] = {name: [] for name in (*feed.fields, "_line_number")}
        positions: list[int] = []
        rejected: list[tuple[FileLoad, RejectedRecord]] = []
        loaded_lines: list[tuple[int, int] | None] = []
        for position, (file, engine) in enumerate(zip(loading, by_engine, strict=True)):
            result = file.result
            if engine is None:
                records = read_by_python[position]
                lines = []
            else:  # clean records never reach Python
                records = [_decide(feed, doubtful) for doubtful in engine.doubtful]
                lines = [*engine.clean_lines] if engine.clean_lines else []
                result.rows_loaded = engine.clean_rows
            for record in records:
                if isinstance(record, ParsedRecord):
                    result.rows_loaded += 1
                    lines.append(record.line_number)
                    positions.append(position)
                    python_rows["_line_number"].append(record.line_number)
                    for name, value in zip(feed.fields, record.values, strict=True):
                        python_rows[name].append(value)
                else:
                    rejected.append((result, record))
                    result.rows_quarantined += 1
                    result.reasons[record.reason.split(":")[0]] += 1
            result.lines_read = len(records) if engine is None else file.staged.lines_read
            if not result.reconciles:  # a bug, never bad data: refuse to commit
                raise AssertionError(f"{result.source_file}: counts do not reconcile: {result}")
            loaded_lines.append((min(lines), max(lines)) if lines else None)

        appended += session.append_landed(
            table, landed, {**python_rows, "_file": positions}, loaded_at
        )
        if appended != sum(file.result.rows_loaded for file in loading):
            raise AssertionError(
                f"{feed.table}: {appended} rows appended for {len(loading)} files whose counts "
                f"say {sum(file.result.rows_loaded for file in loading)}"
            )
        session.append_columns(
            qualified(RAW_SCHEMA, QUARANTINE_TABLE),
            {
                "load_id": [result.load_id for result, _ in rejected],
                "feed": [feed.name] * len(rejected),
                "target_table": [feed.table] * len(rejected),
                "source_file": [result.source_file for result, _ in rejected],
                "line_number": [record.line_number for _, record in rejected],
                "raw_record": [record.raw_record for _, record in rejected],
                "reason": [record.reason for _, record in rejected],
                "quarantined_at": [loaded_at] * len(rejected),
            },
        )
        ledger: dict[str, list] = {name: [] for name, _ in LEDGER_COLUMNS}
        for file, landing, lines in zip(loading, landed, loaded_lines, strict=True):
            before = landing.seq_before
            result = file.result
            entry = {
                "load_id": result.load_id,
                "feed": feed.name,
                "target_table": feed.table,
                "source_file": result.source_file,
                "file_sha256": result.file_sha256,
                "file_bytes": len(file.data),
                "lines_read": result.lines_read,
                "rows_loaded": result.rows_loaded,
                "rows_quarantined": result.rows_quarantined,
                "first_ingest_seq": before + lines[0] if lines else None,
                "last_ingest_seq": before + lines[1] if lines else None,
                "loaded_at": loaded_at,
                "run_id": run_id,
            }
            for name, value in entry.items():
                ledger[name].append(value)
        session.append_columns(qualified(RAW_SCHEMA, LEDGER_TABLE), ledger)


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


def _bytes_after_each(paths: list[Path]) -> dict[Path, int]:
    """For each file, the bytes of the files after it: what a load has left once that file
    is in a batch."""
    after: dict[Path, int] = {}
    total = 0
    for path in reversed(paths):
        after[path] = total
        total += path.stat().st_size
    return after


def load_feed(
    session: Session,
    feed: Feed,
    landing_dir: Path,
    run_id: str = "",
    on_progress: Callable[[int, int, list[FileLoad]], None] | None = None,
    settle_seconds: float = 0.0,
) -> list[FileLoad]:
    """Load every new file of a feed, one transaction per batch of files, reporting progress
    after each batch: (files done, files in all, the batch's file loads).

    A file written to within the last `settle_seconds` may still be growing: it is left
    for a later run rather than loaded half-written.
    """
    files = landing_files(feed, landing_dir)
    results: list[FileLoad] = []
    ensure_bronze_tables(session, [feed])
    now = time.time()
    batch: list[_BatchFile] = []

    def report(loads: list[FileLoad]) -> None:
        results.extend(loads)
        if on_progress and loads:
            on_progress(len(results), len(files), loads)

    def load_batch() -> None:
        """Stage the batch's new files together, then load them in one transaction."""
        fresh = _not_yet_loaded(session, feed, batch)
        staged = session.stage_landing_files([_landing(feed, f.path, f.data) for f in fresh])
        for file, staging in zip(fresh, staged, strict=True):
            file.staged = staging
        try:
            if fresh:
                _load_batch(session, feed, fresh, run_id)
        finally:
            session.discard_staged(staged)
        report([file.result for file in batch])
        batch.clear()

    ages = {path: _still_being_written(path, settle_seconds, now) for path in files}
    readable = [path for path in files if ages[path] is None]
    bytes_after = _bytes_after_each(readable)
    reads = _read_ahead(feed, readable, landing_dir)
    with session.bulk_appends(), closing(reads):
        for path in files:
            age = ages[path]
            if age is not None:
                load_batch()
                report(
                    [
                        FileLoad(
                            feed.name,
                            path.relative_to(landing_dir).as_posix(),
                            file_sha256="",
                            skipped=True,
                            skipped_because=(
                                f"still being written ({age:.1f}s since its last change, "
                                f"settle time {settle_seconds:g}s): it will be loaded by a "
                                "later run"
                            ),
                        )
                    ]
                )
                continue
            batch.append(_BatchFile(path, *next(reads)))
            full = sum(len(file.data) for file in batch) >= STAGE_BATCH_BYTES
            if full and bytes_after[path] >= STAGE_BATCH_BYTES:  # else the rest joins it
                load_batch()
        load_batch()
    return results
