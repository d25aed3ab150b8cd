"""Landing files read in bulk by the engine: every clean record as Bronze text, the rest named.

An engine with a bulk reader (DuckDB) parses a landing file itself, one record per line
(JSON Lines) or per row (Parquet), with the feed's fields projected to text, and appends
the clean records to the RAW table. It marks a record clean only when the platform's own
reader would load it with the same values; every other record is handed back as doubtful,
and the loader's Python reader decides on it (load it, or quarantine it with its reason).
So the engine's parser never decides what is quarantined, it only spares Python the records
that are plainly good.

A Parquet file is parsed before the load's transaction, into a temporary staging table: a
file DuckDB cannot read is then left to Python before anything is written. A JSON Lines file
is parsed as it is appended, inside the transaction, straight into the RAW table (its lines
are split as Python splits them, and the lines not appended are read back as doubtful): a
staging table cost each batch of 256 MB about 0.2 s of writing it and reading it back.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sony_de_platform.warehouse.base import identifier

if TYPE_CHECKING:  # imported where used: pyarrow and duckdb cost the code location load ~1.1 s
    import duckdb
    import pyarrow as pa

STAGING_TABLE = "_sony_de_landing"  # the prefix of the staging tables' names
_BOM_BYTES = b"\xef\xbb\xbf"


# Text Python's str.strip() empties: a required key holding only these characters is
# missing. The characters are listed (a test checks them against every code point) rather
# than found by scanning every code point, which cost each process 0.1 s.
BLANK_PATTERN = (
    "[\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*"
)


# Lines Python must read: JSON DuckDB's parser accepts and Python's json module refuses
# (trailing commas; NaN or Infinity in any case, where Python knows only NaN, Infinity and
# -Infinity), and numbers beyond a double, whose text DuckDB keeps and Python reads as
# Infinity or 0.0 (three-digit exponents, 300 digits in a row). Each is a value outside a
# string, so it follows a colon, a comma or an opening bracket: one pattern per such
# character. A pattern that begins with one literal character lets RE2 skip to it, where a
# leading character class or digit makes it step through every byte (the single
# alternation this replaces cost DuckDB about twice as much, 1.3 s against 0.8 s for the
# 1.8 million lines of fan interactions at scale 10).
_VALUE_PYTHON_DECIDES = r"\s*[-+]?(?:[NiI]|n[aA]|[\d.eE+-]*\d(?:[eE][-+]?\d{3}|\d{299}))"
_PYTHON_DECIDES = (
    r",(?:\s*[\]}]|" + _VALUE_PYTHON_DECIDES + ")",
    ":" + _VALUE_PYTHON_DECIDES,
    r"\[" + _VALUE_PYTHON_DECIDES,
)


def _python_decides_sql(text: str) -> str:
    """TRUE where one of `_PYTHON_DECIDES` matches in `text` (parameters: the patterns)."""
    return " OR ".join([f"regexp_matches({text}, ?)"] * len(_PYTHON_DECIDES))


@dataclass(frozen=True)
class LandingFile:
    """One landing file as the loader hands it to the engine."""

    file_format: str  # "jsonl", "csv" or "parquet"
    path: Path
    data: bytes
    fields: tuple[str, ...]
    required_keys: tuple[str, ...]


@dataclass(frozen=True)
class DoubtfulRecord:
    """A record the engine did not load on its own: a JSON line's text or a Parquet row."""

    line_number: int
    line: str | None = None
    fields: dict[str, Any] | None = None


@dataclass(frozen=True)
class EngineRecords:
    """What the engine made of a staged file's records: how many were clean (and the first and
    last of their line numbers), and the doubtful ones, left to Python."""

    clean_rows: int
    clean_lines: tuple[int, int] | None
    doubtful: list[DoubtfulRecord] = field(default_factory=list)


@dataclass(frozen=True)
class StagedFile:
    """A landing file the engine reads, with its count of records (lines or rows). A Parquet
    file is parsed when staged: its records are the rows of temporary table `table` whose
    `file_index` is `key`, `parsed` says which are clean. A JSON Lines file (`text`) is
    parsed as it is appended."""

    lines_read: int
    fields: tuple[str, ...]
    key: int
    table: str | None = None
    parsed: EngineRecords | None = None
    text: _JsonLines | None = None


class LandedFile(NamedTuple):
    """One file of a batch as it is appended to its RAW table: its staging (None where
    Python read it all), its `_source_file` and `_load_id`, and the ingest sequence number
    before its line 1 (a record's `_ingest_seq` is that plus its line number)."""

    staged: StagedFile | None
    source_file: str
    load_id: str
    seq_before: int


@dataclass(frozen=True)
class _JsonLines:
    """Where a JSON Lines file's lines lie in its bytes (no byte-order mark, no final newline):
    split on each newline (DuckDB's `string_split`), they are the lines the Python reader
    reads."""

    data: bytes
    start: int
    end: int

    @classmethod
    def of(cls, data: bytes) -> _JsonLines | None:
        """None if the file is not UTF-8 (the Python reader names each line's bad byte).
        ASCII is UTF-8: checking that is about 20 times cheaper than decoding, which only
        the other files pay (1.2 s for the 605 MB of interactions at scale 10)."""
        if not data.isascii():
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return None
        start = len(_BOM_BYTES) if data.startswith(_BOM_BYTES) else 0
        end = len(data) - 1 if data.endswith(b"\n") and len(data) > start else len(data)
        return cls(data, start, end)

    @property
    def has_lines(self) -> bool:
        """False for an empty file (or a byte-order mark alone); a lone newline is one line."""
        return self.start < len(self.data)

    def as_arrow(self) -> pa.LargeStringArray:
        """The lines as one Arrow string, without copying the bytes."""
        import pyarrow as pa

        offsets = pa.py_buffer(struct.pack("<qq", 0, self.end - self.start))
        body = pa.py_buffer(memoryview(self.data)[self.start : self.end])
        return pa.LargeStringArray.from_buffers(1, offsets, body)


def _clean_keys_sql(required_keys: tuple[str, ...]) -> str:
    """Every required key present and not blank (as Python's str.strip() sees blank)."""
    return " AND ".join(
        f"{identifier(key)} IS NOT NULL AND NOT regexp_full_match({identifier(key)}, ?)"
        for key in required_keys
    )


def stage_jsonl_files(
    connection: duckdb.DuckDBPyConnection, landings: list[LandingFile]
) -> list[StagedFile | None]:
    """The JSON Lines files DuckDB will parse as their clean records are appended
    (`append_staged`), each with its count of lines, as Python splits them (DuckDB counts
    them on all its threads, in a third of the time Python takes). A file that is not UTF-8
    is left whole to the Python reader, which names the bad byte of each line."""
    texts = {
        key: text
        for key, landing in enumerate(landings)
        if landing.required_keys and (text := _JsonLines.of(landing.data)) is not None
    }
    with _registered_texts(connection, texts) as view:
        lines = dict(
            connection.execute(
                f"SELECT file_index, len(string_split(text, chr(10))) FROM {view}"
            ).fetchall()
        )
    return [
        StagedFile(lines.get(key, 0), tuple(map(identifier, landing.fields)), key, text=texts[key])
        if key in texts
        else None
        for key, landing in enumerate(landings)
    ]


@contextmanager
def _registered_texts(
    connection: duckdb.DuckDBPyConnection, texts: dict[int, _JsonLines]
) -> Iterator[str]:
    """The files' texts as a view of (file_index, text), without copying their bytes; a
    file without lines has no row."""
    import pyarrow as pa

    schema = pa.schema([("file_index", pa.int64()), ("text", pa.large_string())])
    view = f"{STAGING_TABLE}_files"
    connection.register(
        view,
        pa.Table.from_batches(
            [
                pa.record_batch([pa.array([key], pa.int64()), text.as_arrow()], schema=schema)
                for key, text in texts.items()
                if text.has_lines
            ],
            schema,
        ),
    )
    try:
        yield view
    finally:
        connection.unregister(view)


def _append_jsonl(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    files: list[LandedFile],
    texts: dict[int, _JsonLines],
    fields: tuple[str, ...],
    required_keys: tuple[str, ...],
    loaded_at: Any,
) -> tuple[int, dict[int, EngineRecords]]:
    """Split the lines of the JSON Lines files (`texts`, by position in `files`), parse and
    project them, and append the clean ones, in one statement (DuckDB parses the files on
    all its threads); then read back the lines not appended, as doubtful, by the
    `_ingest_seq` numbers they were given and that the table does not hold. Returns the rows
    appended and what became of each file's lines.

    A line is clean when it is valid JSON to both parsers and its required keys are there
    (a JSON value that is not an object has none of them).
    """
    if not any(text.has_lines for text in texts.values()):
        return 0, {position: EngineRecords(0, None) for position in texts}
    spec = json.dumps({name: "VARCHAR" for name in fields})
    with _registered_texts(connection, texts) as view:
        # Python drops a line's trailing carriage returns (DuckDB only when there are any)
        carriage_return = any(b"\r" in text.data for text in texts.values())
        line = "rtrim(unnest(lines), chr(13))" if carriage_return else "unnest(lines)"
        # The patterns have no anchors, so one that matches a line matches its file's text:
        # each file's text is searched once, and only the lines of a file with a match are
        # searched one by one (about half the patterns' cost when no file matches). DuckDB
        # skips the right side of an OR where the left is true, not of an AND under NOT.
        in_file, in_line = _python_decides_sql("text"), _python_decides_sql("line")
        appended = _insert_records(
            connection,
            table,
            files,
            fields,
            f"SELECT file_position, line_number, {', '.join(fields)} FROM ("
            f"SELECT file_position, line_number, {', '.join(fields)}, "
            f"COALESCE({_clean_keys_sql(required_keys)}, FALSE) AS clean FROM ("
            "SELECT file_index AS file_position, line_number, unnest(CASE WHEN json_valid(line) "
            f"  AND (NOT python_decides OR NOT ({in_line})) THEN json_transform(line, ?) END) "
            "  FROM (SELECT file_index, python_decides, "
            f"  generate_subscripts(lines, 1) AS line_number, {line} AS line FROM ("
            f"  SELECT file_index, string_split(text, chr(10)) AS lines, ({in_file}) "
            f"  AS python_decides FROM {view})))) WHERE clean",
            [
                *([BLANK_PATTERN] * len(required_keys)),
                *_PYTHON_DECIDES,
                spec,
                *_PYTHON_DECIDES,
            ],
            loaded_at,
        )
        counted = [
            (position, files[position].seq_before, files[position].staged.lines_read)
            for position in texts
        ]
        missing = _lines_not_appended(connection, table, counted)
        doubtful: dict[int, list[DoubtfulRecord]] = {}
        if missing:
            for position, number, text in connection.execute(
                "SELECT file_index, unnest(numbers), "
                f"  {line.replace('unnest(lines)', 'unnest(list_select(lines, numbers))')} "
                f"FROM (SELECT file_index, string_split(text, chr(10)) AS lines FROM {view}) "
                "JOIN (SELECT unnest(?::BIGINT[]) AS file_index, "
                "  unnest(?::BIGINT[][]) AS numbers) USING (file_index)",
                [list(missing), list(missing.values())],
            ).fetchall():
                doubtful.setdefault(position, []).append(DoubtfulRecord(number, line=text))
    records = {
        position: _engine_records(
            lines, sorted(doubtful.get(position, []), key=lambda record: record.line_number)
        )
        for position, _, lines in counted
    }
    if appended != sum(file.clean_rows for file in records.values()):
        raise AssertionError(
            f"{table}: {appended} clean lines appended where the lines not appended say "
            f"{sum(file.clean_rows for file in records.values())}"
        )
    return appended, records


def _lines_not_appended(
    connection: duckdb.DuckDBPyConnection, table: str, counted: list[tuple[int, int, int]]
) -> dict[int, list[int]]:
    """The line numbers of each file (position, number before line 1, lines) whose
    `_ingest_seq` the table does not hold, from one bitmap of the numbers it holds (a hash
    anti-join of the numbers expected cost ten times as much)."""
    low = min(before for _, before, _ in counted) + 1
    high = max(before + lines for _, before, lines in counted)
    if high < low:
        return {}
    ((present,),) = connection.execute(
        f"SELECT bitstring_agg(_ingest_seq, ?::BIGINT, ?::BIGINT) FROM {table} "
        "WHERE _ingest_seq BETWEEN ? AND ?",
        [low, high, low, high],
    ).fetchall()
    missing = {}
    for position, before, lines in counted:
        start = before + 1 - low
        bits = "0" * lines if present is None else present[start : start + lines]
        if numbers := [found.start() + 1 for found in re.finditer("0", bits)]:
            missing[position] = numbers
    return missing


def _engine_records(lines: int, doubtful: list[DoubtfulRecord]) -> EngineRecords:
    """A file of `lines` lines of which these were doubtful and the others appended."""
    numbers = {record.line_number for record in doubtful}
    first = next((n for n in range(1, lines + 1) if n not in numbers), None)
    if first is None:
        return EngineRecords(0, None, doubtful)
    last = next(n for n in range(lines, 0, -1) if n not in numbers)
    return EngineRecords(lines - len(numbers), (first, last), doubtful)


_NO_RECORDS = (0, 0, None)


def _file_counts(
    connection: duckdb.DuckDBPyConnection, table: str
) -> dict[int, tuple[int, int, tuple[int, int] | None]]:
    """Per staged file, in one scan of the staging table: its records (lines, rows), its clean
    ones, and the first and last line numbers of those (None without any)."""
    counts: dict[int, tuple[int, int, tuple[int, int] | None]] = {}
    for key, records, clean, first, last in connection.execute(
        "SELECT file_index, COUNT(*), COUNT(*) FILTER (WHERE clean), "
        "MIN(line_number) FILTER (WHERE clean), MAX(line_number) FILTER (WHERE clean) "
        f"FROM {table} GROUP BY 1"
    ).fetchall():
        lines = (int(first), int(last)) if clean else None
        counts[int(key)] = (int(records), int(clean), lines)
    return counts


def stage_parquet_files(
    connection: duckdb.DuckDBPyConnection, landings: list[LandingFile], table: str
) -> list[StagedFile | None]:
    """Read the files in DuckDB, each field cast to text, the files of one schema in one
    statement (DuckDB reads them in parallel); rows missing a key come back whole.

    An unreadable file is left to the Python reader, which quarantines it with the reason:
    one whose footer cannot be read at once, one that fails its group's read after that
    (its group is then read file by file, so the others still go through DuckDB).
    """
    import duckdb

    staged: list[StagedFile | None] = [None] * len(landings)
    schemas: dict[tuple, list[int]] = {}
    for key, landing in enumerate(landings):
        if not landing.required_keys:
            continue
        try:
            described = connection.execute(
                "DESCRIBE SELECT * FROM read_parquet(?)", [str(landing.path)]
            ).fetchall()
        except duckdb.Error:
            continue
        schemas.setdefault(tuple(map(tuple, described)), []).append(key)
    for number, (described, keys) in enumerate(schemas.items()):
        group = f"{table}_{number}"
        read = _stage_parquet_group(connection, landings, keys, described, group)
        if read is None:
            read = {}
            for key in keys:
                read.update(
                    _stage_parquet_group(connection, landings, [key], described, f"{group}_{key}")
                    or {}
                )
        for key, file in read.items():
            staged[key] = file
    return staged


def _stage_parquet_group(
    connection: duckdb.DuckDBPyConnection,
    landings: list[LandingFile],
    keys: list[int],
    described: tuple,
    table: str,
) -> dict[int, StagedFile] | None:
    """Files of one schema (`described`) into staging table `table`; None if DuckDB cannot
    read one of them."""
    import duckdb

    landing = landings[keys[0]]
    present = {str(name).strip().lower(): str(name) for name, *_ in described}
    fields = tuple(identifier(name) for name in landing.fields)
    projected = ", ".join(
        (
            f'CAST("{present[name].replace(chr(34), chr(34) * 2)}" AS VARCHAR) AS {name}'
            if name in present
            else f"CAST(NULL AS VARCHAR) AS {name}"
        )
        for name in fields
    )
    paths = [str(landings[key].path) for key in keys]
    file_index = " ".join(f"WHEN ? THEN {int(key)}" for key in keys)
    try:
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT file_index, line_number, {', '.join(fields)}, "
            f"COALESCE({_clean_keys_sql(landing.required_keys)}, FALSE) AS clean FROM ("
            f"  SELECT CASE _sony_de_file {file_index} END AS file_index, "
            f"  file_row_number + 1 AS line_number, {projected} "
            "  FROM read_parquet(?::VARCHAR[], file_row_number = true, "
            "  filename = '_sony_de_file'))",
            [*([BLANK_PATTERN] * len(landing.required_keys)), *paths, paths],
        )
    except duckdb.Error:
        connection.execute(f"DROP TABLE IF EXISTS {table}")
        return None
    counts = _file_counts(connection, table)
    doubtful: dict[int, list[int]] = {}
    for key, number in connection.execute(
        f"SELECT file_index, line_number FROM {table} WHERE NOT clean ORDER BY 1, 2"
    ).fetchall():
        doubtful.setdefault(key, []).append(number)
    staged = {}
    for key, path in zip(keys, paths, strict=True):
        records, rows, lines = counts.get(key, _NO_RECORDS)
        parsed = EngineRecords(rows, lines, _parquet_rows(connection, path, doubtful.get(key, [])))
        staged[key] = StagedFile(records, fields, key, table=table, parsed=parsed)
    return staged


def _parquet_rows(
    connection: duckdb.DuckDBPyConnection, path: str, numbers: list[int]
) -> list[DoubtfulRecord]:
    """Rows `numbers` of a Parquet file, whole, by lower-case column name."""
    if not numbers:
        return []
    cursor = connection.execute(
        "SELECT * EXCLUDE (file_row_number) FROM read_parquet(?, file_row_number = true) "
        "WHERE file_row_number + 1 IN (SELECT unnest(?::BIGINT[])) ORDER BY file_row_number",
        [path, numbers],
    )
    columns = [str(d[0]).strip().lower() for d in cursor.description]
    return [
        DoubtfulRecord(number, fields=dict(zip(columns, row, strict=True)))
        for number, row in zip(numbers, cursor.fetchall(), strict=True)
    ]


def append_staged(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    files: list[LandedFile],
    required_keys: tuple[str, ...],
    loaded_at: Any,
) -> tuple[int, list[EngineRecords | None]]:
    """Append the clean records of the staged files among `files` (a batch, in order): JSON
    Lines parsed now, Parquet from the staging tables. Returns the rows appended and what the
    engine made of each staged file (None for the files Python reads)."""
    records: list[EngineRecords | None] = [None] * len(files)
    staged = {position: file.staged for position, file in enumerate(files) if file.staged}
    if not staged:
        return 0, records
    (fields,) = {file.fields for file in staged.values()}
    texts = {position: file.text for position, file in staged.items() if file.text is not None}
    appended = 0
    if texts:
        appended, parsed = _append_jsonl(
            connection, table, files, texts, fields, required_keys, loaded_at
        )
        for position, file in parsed.items():
            records[position] = file
    staged_tables = [file.table for file in staged.values() if file.table]
    if not staged_tables:
        return appended, records
    parts = []
    for table_name in dict.fromkeys(staged_tables):
        positions = [
            (file.key, position) for position, file in staged.items() if file.table == table_name
        ]
        order = " ".join(f"WHEN {int(key)} THEN {position}" for key, position in positions)
        keys = ", ".join(str(int(key)) for key, _ in positions)
        parts.append(
            f"SELECT CASE file_index {order} END AS file_position, line_number, "
            f"{', '.join(fields)} FROM {identifier(table_name)} "
            f"WHERE clean AND file_index IN ({keys})"
        )
        for _, position in positions:
            records[position] = staged[position].parsed
    appended += _insert_records(
        connection, table, files, fields, " UNION ALL ".join(parts), [], loaded_at
    )
    return appended, records


def _insert_records(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    files: list[LandedFile],
    fields: tuple[str, ...],
    select: str,
    params: list[Any],
    loaded_at: Any,
) -> int:
    """Append the rows of `select` (file_position, line_number and the fields; parameters
    `params`), each with its file's `_source_file`, `_load_id` and `_ingest_seq`."""

    def per_file(values: list[Any]) -> tuple[str, list[Any]]:
        whens = " ".join(f"WHEN {position} THEN ?" for position in range(len(values)))
        return f"CASE file_position {whens} END", values

    source, source_values = per_file([file.source_file for file in files])
    load, load_values = per_file([file.load_id for file in files])
    seq, seq_values = per_file([int(file.seq_before) for file in files])
    names = ", ".join(fields)
    (appended,) = connection.execute(
        f"INSERT INTO {table} ({names}, _source_file, _load_id, _loaded_at, _line_number, "
        f"_ingest_seq) SELECT {names}, {source}, {load}, ?, line_number, "
        f"{seq} + line_number FROM ({select})",
        [*source_values, *load_values, loaded_at, *seq_values, *params],
    ).fetchone()
    return int(appended)
