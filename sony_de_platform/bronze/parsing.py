"""Record readers for the landing formats: every record comes out parsed or rejected.

Bronze keeps values as received, as text, so a badly typed value never fails a load.
A record is rejected (and later quarantined) only when it cannot be read at all or lacks
a required key; the reason says what is wrong in words an operator can act on.

These readers decide every record the engine's bulk reader does not load on its own (see
warehouse/landing.py), and every record on engines without one, so both render values the
same way: numbers as JSON writes them, nested values as compact JSON in the order received
(non-ASCII kept), and a key named twice in one object keeps its first value.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sony_de_platform.bronze.feeds import Feed, FileFormat

_BOM = b"\xef\xbb\xbf"
MAX_RAW_RECORD_CHARS = 65_536


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    line_number: int
    values: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    line_number: int
    raw_record: str
    reason: str


Record = ParsedRecord | RejectedRecord


def _clip(text: str) -> str:
    if len(text) <= MAX_RAW_RECORD_CHARS:
        return text
    return text[:MAX_RAW_RECORD_CHARS] + f"... [clipped, {len(text)} characters in all]"


def as_text(value: Any) -> str | None:
    """A received value as Bronze text: strings as they are, numbers as JSON writes them."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def first_value_of_each_key(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys repeat keeps each key's first value, as DuckDB reads it."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        obj = {}
        for key, value in pairs:
            obj.setdefault(key, value)
    return obj


def _missing_keys(feed: Feed, fields: Mapping[str, Any]) -> list[str]:
    missing = []
    for key in feed.required_keys:
        value = fields.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.append(key)
    return missing


def record_from_fields(
    feed: Feed, line_number: int, fields: Mapping[str, Any], raw: str | Callable[[], str]
) -> Record:
    """Check the required keys and project the feed's fields (others are ignored).

    `raw` may be a callable so the raw text is only rendered for rejected records.
    """
    missing = _missing_keys(feed, fields)
    if missing:
        raw_text = raw() if callable(raw) else raw
        return RejectedRecord(
            line_number, _clip(raw_text), "missing required key: " + ", ".join(missing)
        )
    return ParsedRecord(line_number, tuple(as_text(fields.get(name)) for name in feed.fields))


def read_jsonl(feed: Feed, data: bytes) -> Iterator[Record]:
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw_line in enumerate(lines, start=1):
        raw_line = raw_line.rstrip(b"\r")
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError as error:
            yield RejectedRecord(
                number,
                _clip(raw_line.decode("utf-8", errors="replace")),
                f"invalid UTF-8 byte at position {error.start}: re-export the file as UTF-8",
            )
            continue
        yield read_json_line(feed, number, text)


def read_json_line(feed: Feed, number: int, text: str) -> Record:
    """One decoded JSON line, without its line break."""
    if not text.strip():
        return RejectedRecord(number, text, "empty line")
    try:
        obj = json.loads(text, object_pairs_hook=first_value_of_each_key)
    except json.JSONDecodeError as error:
        return RejectedRecord(
            number, _clip(text), f"malformed JSON: {error.msg} at column {error.colno}"
        )
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        return RejectedRecord(
            number,
            _clip(text),
            f"malformed JSON: a number of more than {sys.get_int_max_str_digits()} digits; "
            "fix the value at its source",
        )
    if not isinstance(obj, dict):
        return RejectedRecord(
            number, _clip(text), f"malformed JSON: expected an object, got {type(obj).__name__}"
        )
    return record_from_fields(feed, number, obj, text)


def _csv_line(row: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(row)
    return buffer.getvalue()


# bytes that are not UTF-8, as decoding with errors="surrogateescape" leaves them
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def read_csv(feed: Feed, data: bytes) -> Iterator[Record]:
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    text = data.decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    columns = [name.strip().lower() for name in header]
    width = len(columns)
    # a row holds a byte that is not UTF-8 only if the file does: most files need no search
    undecodable = _UNDECODABLE.search(text) is not None
    number = 0
    previous_line = reader.line_num
    for row in reader:
        number += 1
        first_line = previous_line + 1
        previous_line = reader.line_num
        if undecodable and any(_UNDECODABLE.search(cell) for cell in row):
            shown = _csv_line(row).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            yield RejectedRecord(
                number,
                _clip(shown),
                f"invalid UTF-8 bytes (file line {first_line}): re-export the file as UTF-8",
            )
            continue
        if not row or all(not cell.strip() for cell in row):
            yield RejectedRecord(number, _csv_line(row), f"empty line (file line {first_line})")
            continue
        if len(row) != width:
            yield RejectedRecord(
                number,
                _clip(_csv_line(row)),
                f"malformed CSV row (file line {first_line}): expected {width} fields as in "
                f"the header, found {len(row)} (check quoting and delimiters)",
            )
            continue
        fields = dict(zip(columns, row, strict=True))
        yield record_from_fields(feed, number, fields, lambda row=row: _csv_line(row))


def read_parquet(feed: Feed, path: Path) -> Iterator[Record]:
    import duckdb  # here, not at module level: see warehouse/landing.py

    with duckdb.connect() as connection:
        try:
            cursor = connection.execute("SELECT * FROM read_parquet(?)", [str(path)])
        except duckdb.Error as error:
            first_line = str(error).splitlines()[0]
            yield RejectedRecord(
                0, "", f"unreadable Parquet file: {first_line}; re-export the whole file"
            )
            return
        columns = [description[0].strip().lower() for description in cursor.description]
        number = 0
        while batch := cursor.fetchmany(8192):
            for row in batch:
                number += 1
                yield parquet_record(feed, number, dict(zip(columns, row, strict=True)))


def parquet_record(feed: Feed, number: int, fields: dict[str, Any]) -> Record:
    """One Parquet row by lower-case column name; a rejected row keeps all its columns."""
    return record_from_fields(
        feed, number, fields, lambda: json.dumps(fields, default=str, sort_keys=True)
    )


def read_records(feed: Feed, path: Path, data: bytes) -> Iterator[Record]:
    """All records of one landing file, in file order."""
    if feed.file_format is FileFormat.JSONL:
        return read_jsonl(feed, data)
    if feed.file_format is FileFormat.CSV:
        return read_csv(feed, data)
    return read_parquet(feed, path)
