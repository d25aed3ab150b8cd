"""Landing files read in bulk by the engine: every clean record as Bronze text, the rest named.

An engine with a bulk reader (DuckDB) parses a landing file itself into a temporary staging
table, one row per line (JSON Lines) or per row (Parquet), with the feed's fields projected
to text. It marks a record clean only when the platform's own reader would load it with the
same values; every other record is handed back as doubtful, and the loader's Python reader
decides on it (load it, or quarantine it with its reason). So the engine's parser never
decides what is quarantined, it only spares Python the records that are plainly good.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from sony_de_platform.warehouse.base import identifier

if TYPE_CHECKING:  # imported where used: pyarrow costs the code location load about 0.9 s
    import pyarrow as pa

STAGING_TABLE = "_sony_de_landing"  # the prefix of the staging tables' names
_BOM_BYTES = b"\xef\xbb\xbf"


@cache
def _blank_pattern() -> str:
    """A regular expression of text Python's str.strip() empties: a required key holding only
    these characters is missing. Built on first use (it scans every code point, about 0.1 s,
    which the code location load need not pay)."""
    whitespace = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    return f"[{whitespace}]*"


# Lines Python must read: JSON DuckDB's parser accepts and Python's json module refuses
# (trailing commas; NaN or Infinity in any case, where Python knows only NaN, Infinity and
# -Infinity), and numbers beyond a double, whose text DuckDB keeps and Python reads as
# Infinity or 0.0 (three-digit exponents, 300 digits in a row).
_PYTHON_DECIDES = r",\s*[\]}]|[:\[,]\s*[-+]?(?:[NiI]|n[aA])|\d[eE][-+]?\d{3}|\d{300}"


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


@dataclass
class StagedFile:
    """A landing file staged by the engine: how many records, and those left to Python.

    Its records are the rows of temporary table `table` whose `file_index` is `key`.
    """

    lines_read: int
    fields: tuple[str, ...]
    table: str
    key: int
    doubtful: list[DoubtfulRecord] = field(default_factory=list)


@dataclass(frozen=True)
class _JsonLines:
    """Where a JSON Lines file's lines lie in its bytes (no byte-order mark, no final newline)
    and how many there are, as the Python reader counts them."""

    data: bytes
    start: int
    end: int
    count: int

    @classmethod
    def of(cls, data: bytes) -> _JsonLines | None:
        """None if the file is not UTF-8 (the Python reader names each line's bad byte)."""
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        start = len(_BOM_BYTES) if data.startswith(_BOM_BYTES) else 0
        if start == len(data):
            return cls(data, start, start, 0)
        end = len(data) - 1 if data.endswith(b"\n") else len(data)
        return cls(data, start, end, data.count(b"\n", start, end) + 1)

    def as_arrow(self) -> pa.LargeStringArray:
        """The lines as one Arrow string, without copying the bytes."""
        import pyarrow as pa

        offsets = pa.py_buffer(struct.pack("<qq", 0, self.end - self.start))
        body = pa.py_buffer(memoryview(self.data)[self.start : self.end])
        return pa.LargeStringArray.from_buffers(1, offsets, body)

    def lines(self) -> list[str]:
        return [
            line.rstrip(b"\r").decode("utf-8")
            for line in self.data[self.start : self.end].split(b"\n")
        ]


def _clean_keys_sql(required_keys: tuple[str, ...]) -> str:
    """Every required key present and not blank (as Python's str.strip() sees blank)."""
    return " AND ".join(
        f"{identifier(key)} IS NOT NULL AND NOT regexp_full_match({identifier(key)}, ?)"
        for key in required_keys
    )


def stage_jsonl_files(
    connection: duckdb.DuckDBPyConnection, landings: list[LandingFile], table: str
) -> list[StagedFile | None]:
    """Split the lines, parse and project them in DuckDB, several files in one statement (so
    DuckDB parses them on all its threads); doubtful lines come back as text.

    A line is clean when it is valid JSON to both parsers and its required keys are there
    (a JSON value that is not an object has none of them). A file that is not UTF-8 is left
    whole to the Python reader, which names the bad byte of each line.
    """
    import pyarrow as pa

    texts = [_JsonLines.of(landing.data) if landing.required_keys else None for landing in landings]
    staged: list[StagedFile | None] = [None] * len(landings)
    readable = [(key, read) for key, read in enumerate(texts) if read is not None]
    if not readable:
        return staged
    batches = [
        pa.record_batch(
            [pa.array([key], pa.int64()), read.as_arrow()], names=["file_index", "text"]
        )
        for key, read in readable
        if read.count > 0
    ]
    landing = landings[0]
    fields = tuple(identifier(name) for name in landing.fields)
    spec = json.dumps({name: "VARCHAR" for name in fields})
    files = pa.Table.from_batches(
        batches, pa.schema([("file_index", pa.int64()), ("text", pa.large_string())])
    )
    view = f"{table}_files"
    connection.register(view, files)
    try:
        # Python drops a line's trailing carriage returns (DuckDB only when there are any)
        carriage_return = any(b"\r" in read.data for _, read in readable)
        line = "rtrim(unnest(lines), chr(13))" if carriage_return else "unnest(lines)"
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT *, row_number() OVER (PARTITION BY file_index, clean ORDER BY line_number) "
            "AS clean_rank FROM ("
            f"SELECT file_index, line_number, {', '.join(fields)}, "
            f"COALESCE({_clean_keys_sql(landing.required_keys)}, FALSE) AS clean "
            f"FROM (SELECT file_index, line_number, unnest(CASE WHEN json_valid(line) "
            "  AND NOT regexp_matches(line, ?) THEN json_transform(line, ?) END) FROM ("
            f"  SELECT file_index, generate_subscripts(lines, 1) AS line_number, {line} AS line "
            f"  FROM (SELECT file_index, string_split(text, chr(10)) AS lines FROM {view}))))",
            [*([_blank_pattern()] * len(landing.required_keys)), _PYTHON_DECIDES, spec],
        )
    finally:
        connection.unregister(view)
    doubtful: dict[int, list[int]] = {}
    for key, number in connection.execute(
        f"SELECT file_index, line_number FROM {table} WHERE NOT clean ORDER BY 1, 2"
    ).fetchall():
        doubtful.setdefault(key, []).append(number)
    for key, read in readable:
        lines = read.lines() if key in doubtful else []
        staged[key] = StagedFile(
            read.count,
            fields,
            table,
            key,
            [DoubtfulRecord(n, line=lines[n - 1]) for n in doubtful.get(key, [])],
        )
    return staged


def stage_parquet(
    connection: duckdb.DuckDBPyConnection, landing: LandingFile, table: str
) -> StagedFile | None:
    """Read the file in DuckDB, each field cast to text; rows missing a key come back whole.

    An unreadable file is left to the Python reader, which quarantines it with the reason.
    """
    path = str(landing.path)
    if not landing.required_keys:
        return None
    try:
        described = connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    except duckdb.Error:
        return None
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
    try:
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT *, row_number() OVER (PARTITION BY clean ORDER BY line_number) "
            "AS clean_rank FROM ("
            f"SELECT 0 AS file_index, line_number, {', '.join(fields)}, "
            f"COALESCE({_clean_keys_sql(landing.required_keys)}, FALSE) AS clean FROM ("
            f"  SELECT file_row_number + 1 AS line_number, {projected} "
            "  FROM read_parquet(?, file_row_number = true)))",
            [*([_blank_pattern()] * len(landing.required_keys)), path],
        )
    except duckdb.Error:
        return None
    lines_read = int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    numbers = [
        number
        for (number,) in connection.execute(
            f"SELECT line_number FROM {table} WHERE NOT clean ORDER BY line_number"
        ).fetchall()
    ]
    doubtful: list[DoubtfulRecord] = []
    if numbers:
        cursor = connection.execute(
            "SELECT * EXCLUDE (file_row_number) FROM read_parquet(?, file_row_number = true) "
            "WHERE file_row_number + 1 IN (SELECT unnest(?::BIGINT[])) ORDER BY file_row_number",
            [path, numbers],
        )
        columns = [str(d[0]).strip().lower() for d in cursor.description]
        doubtful = [
            DoubtfulRecord(number, fields=dict(zip(columns, row, strict=True)))
            for number, row in zip(numbers, cursor.fetchall(), strict=True)
        ]
    return StagedFile(lines_read, fields, table, 0, doubtful)


def append_staged(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    staged: StagedFile,
    rescued_view: str | None,
    metadata: list[Any],
    first_seq: int,
) -> int:
    """Append the clean staged records and the rescued ones, numbered in file order."""
    fields = ", ".join(staged.fields)
    clean = f"FROM {staged.table} WHERE file_index = {int(staged.key)} AND clean"
    if rescued_view is None:  # the clean records alone: numbered as they were staged
        source = f"SELECT {fields}, ?, ?, ?, line_number, ? + clean_rank {clean}"
    else:
        source = (
            f"SELECT {fields}, ?, ?, ?, line_number, ? + row_number() OVER "
            f"(ORDER BY line_number) FROM (SELECT line_number, {fields} {clean} "
            f"UNION ALL SELECT _line_number, {fields} FROM {rescued_view})"
        )
    (appended,) = connection.execute(
        f"INSERT INTO {table} ({fields}, _source_file, _load_id, _loaded_at, _line_number, "
        f"_ingest_seq) {source}",
        [*metadata, first_seq - 1],
    ).fetchone()
    return int(appended)
