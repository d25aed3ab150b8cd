"""Bad input never crashes a load, never loses a record: the corpus, partial files, fuzzing."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sony_de_platform.bronze.feeds import FAN_INTERACTIONS, TITLE_METADATA
from sony_de_platform.bronze.loader import load_feed, raw_table_columns
from sony_de_platform.bronze.parsing import (
    ParsedRecord,
    RejectedRecord,
    first_value_of_each_key,
    read_csv,
    read_jsonl,
)
from sony_de_platform.settings import REPO_ROOT
from sony_de_platform.warehouse import DuckDBWarehouse
from sony_de_platform.warehouse.landing import (
    BLANK_PATTERN,
    LandedFile,
    LandingFile,
    append_staged,
    stage_jsonl_files,
)
from sony_de_platform_tests.bad_input_corpus import CASES, Case, good_lines, reliability_table


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_loaded_or_quarantined_and_reconciles(
    case: Case, warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    folder = landing / case.feed.folder
    folder.mkdir(parents=True)
    loads = []
    for name, content in case.files:
        (folder / name).write_bytes(content)
        with warehouse.session() as session:
            loads += load_feed(session, case.feed, landing)

    fresh = [load for load in loads if not load.skipped]
    assert all(load.reconciles for load in fresh)
    assert sum(load.rows_loaded for load in fresh) == case.loaded
    assert sum(load.rows_quarantined for load in fresh) == case.quarantined
    # Files loaded in an earlier run show again as skipped; count only new skips.
    skipped_now = {load.source_file for load in loads if load.skipped and load.file_sha256}
    loaded_names = {load.source_file for load in fresh}
    assert len(skipped_now - loaded_names) == case.skipped_files

    with warehouse.session(read_only=True) as session:
        raw_rows = session.fetchall(
            f"SELECT {case.feed.fields[0]}, {case.feed.fields[1]} FROM RAW.{case.feed.table}"
        )
        reasons = [
            reason
            for (reason,) in session.fetchall(
                "SELECT reason FROM RAW.LOAD_QUARANTINE ORDER BY quarantined_at, line_number"
            )
        ]
        ledger_lines = session.scalar("SELECT COALESCE(SUM(lines_read), 0) FROM RAW.LOAD_LEDGER")
    assert len(raw_rows) == case.loaded
    assert len(reasons) == len(case.reasons) == case.quarantined
    for reason, prefix in zip(reasons, case.reasons, strict=True):
        assert reason.startswith(prefix), (reason, prefix)
    assert ledger_lines == case.loaded + case.quarantined
    if case.check is not None:
        assert case.check(raw_rows), raw_rows


def test_a_file_still_being_written_waits_for_a_later_run(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    path = landing / "fan_interactions" / "today.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(good_lines(2)) + "\n" + good_lines(3)[2][:30])  # mid-write

    with warehouse.session() as session:
        (first,) = load_feed(session, FAN_INTERACTIONS, landing, settle_seconds=60)
    assert first.skipped and "still being written" in first.skipped_because
    with warehouse.session(read_only=True) as session:
        assert session.scalar("SELECT COUNT(*) FROM RAW.LOAD_LEDGER") == 0

    path.write_text("\n".join(good_lines(3)) + "\n")  # the writer finishes
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    with warehouse.session() as session:
        (second,) = load_feed(session, FAN_INTERACTIONS, landing, settle_seconds=60)
    assert (second.skipped, second.rows_loaded, second.rows_quarantined) == (False, 3, 0)


def test_readme_reliability_table_is_rendered_from_the_corpus() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert reliability_table() in readme


_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.binary(max_size=2_000))
def test_jsonl_reader_accounts_for_every_line_of_any_bytes(data: bytes) -> None:
    records = list(read_jsonl(FAN_INTERACTIONS, data))
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    expected = len(body.split(b"\n")) - (1 if body.endswith(b"\n") or not body else 0)
    assert len(records) == expected
    assert [r.line_number for r in records] == list(range(1, expected + 1))
    for record in records:
        if isinstance(record, RejectedRecord):
            assert record.reason
        else:
            assert record.values[0] and record.values[1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@_FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(FAN_INTERACTIONS.fields), json_values)))
def test_jsonl_objects_load_exactly_when_their_keys_are_present(objects: list[dict]) -> None:
    data = "".join(json.dumps(obj) + "\n" for obj in objects).encode()
    records = list(read_jsonl(FAN_INTERACTIONS, data))
    assert len(records) == len(objects)
    for obj, record in zip(objects, records, strict=True):
        has_keys = all(
            obj.get(key) not in (None, "")
            and not (isinstance(obj.get(key), str) and not obj[key].strip())
            for key in FAN_INTERACTIONS.required_keys
        )
        assert isinstance(record, ParsedRecord) == has_keys, (obj, record)


@_FUZZ
@given(st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=12), max_size=8))
def test_csv_reader_accounts_for_every_row(rows: list[list[str]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: CRLF rows, CR/LF inside values are quoted
    writer.writerow(TITLE_METADATA.fields)
    writer.writerows(rows)
    records = list(read_csv(TITLE_METADATA, buffer.getvalue().encode()))
    assert len(records) == len(rows)
    width = len(TITLE_METADATA.fields)
    for row, record in zip(rows, records, strict=True):
        loadable = len(row) == width and row[0].strip() != "" and any(c.strip() for c in row)
        assert isinstance(record, ParsedRecord) == loadable, (row, record)


_TOKENS = ("nan", "NaN", "Infinity", "-inf", "INF", "[1,]", '{"a": 1 ,}', "1e400", "1E5", "-0",
           "1.5e-7", "12345678901234567890123", '"\\u00e9\\ud83d\\ude00"', '"a,]"', "null",
           '"\\u3000"', '" \\u0085"', "[]", "{}", "false", '{"b": 1, "b": 2}', '"x"',
           "9" * 310, "0." + "0" * 330 + "1", "-" + "1" * 305 + ".5", "2.5E-400", "[ NaN]",
           "[1 , -Infinity ]")  # fmt: skip
_templated = st.builds(
    lambda key, first, second: (
        f'{{"interaction_id": "INT-1", "{key}": {first}, "{key}": {second}, "rating": {first}}}'
    ),
    st.sampled_from(("fan_id", "channel", "extra")),
    st.sampled_from(_TOKENS),
    st.sampled_from(_TOKENS),
)
_objects = st.dictionaries(
    st.sampled_from(FAN_INTERACTIONS.fields) | st.text(max_size=4), json_values, max_size=6
)
_json_lines = st.one_of(
    _objects.map(json.dumps),
    _objects.map(lambda obj: json.dumps(obj, ensure_ascii=False)),
    _templated,
    st.text(max_size=20).map(lambda text: text.replace("\n", " ")),
)


def _same_value(python: str | None, duckdb_value: str | None) -> bool:
    """Equal text; nested values (compact JSON) may spell a number differently, and DuckDB
    keeps a nested key named twice where Python keeps its first value only."""
    if python == duckdb_value or python is None or duckdb_value is None:
        return python == duckdb_value
    if python[:1] in "[{":
        first = first_value_of_each_key
        return json.loads(python) == json.loads(duckdb_value, object_pairs_hook=first)
    return False


@_FUZZ
@given(st.lists(_json_lines, max_size=6), st.sampled_from(["\n", "\r\n"]))
def test_duckdb_loads_a_json_line_only_as_the_python_reader_would(
    lines: list[str], line_break: str
) -> None:
    """The bulk reader's clean lines are exactly lines Python loads, with the same values;
    every line Python rejects is left to Python."""
    data = "".join(line + line_break for line in lines).encode("utf-8", "surrogatepass")
    expected = list(read_jsonl(FAN_INTERACTIONS, data))
    fields = FAN_INTERACTIONS.fields
    columns = ", ".join(
        f"{name} {sql_type}" for name, sql_type in raw_table_columns(FAN_INTERACTIONS)
    )
    with duckdb.connect() as connection:
        (staged,) = stage_jsonl_files(
            connection,
            [LandingFile("jsonl", Path("day.jsonl"), data, fields, FAN_INTERACTIONS.required_keys)],
        )
        if staged is None:  # not UTF-8 (a lone surrogate): the Python reader reads the file
            return
        connection.execute(f"CREATE TABLE raw ({columns})")
        appended, (parsed,) = append_staged(
            connection,
            "raw",
            [LandedFile(staged, "day.jsonl", "load", 100)],
            FAN_INTERACTIONS.required_keys,
            None,
        )
        clean = {
            number: values
            for number, seq, *values in connection.execute(
                f"SELECT _line_number, _ingest_seq, {', '.join(fields)} FROM raw"
            ).fetchall()
            if seq == 100 + number
        }
    assert parsed is not None and appended == parsed.clean_rows == len(clean)
    doubtful = {record.line_number for record in parsed.doubtful}
    # a doubtful line comes back as the Python reader splits it
    body = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8").split("\n")
    assert all(
        record.line == body[record.line_number - 1].rstrip("\r") for record in parsed.doubtful
    )
    assert staged.lines_read == len(expected)
    assert set(clean) | doubtful == set(range(1, len(expected) + 1))
    assert not set(clean) & doubtful
    for record in expected:
        if record.line_number in clean:
            assert isinstance(record, ParsedRecord), record
            pairs = zip(record.values, clean[record.line_number], strict=True)
            assert all(_same_value(mine, theirs) for mine, theirs in pairs), (
                record,
                clean[record.line_number],
            )


def test_the_blank_pattern_is_every_character_python_strips_and_no_other() -> None:
    """A required key is missing when it holds only what str.strip() removes: the staging's
    pattern must list exactly those characters, in DuckDB as in Python."""
    blank = re.compile(BLANK_PATTERN)
    characters = [chr(point) for point in range(0x110000) if not 0xD800 <= point <= 0xDFFF]
    whitespace = [c for c in characters if c.isspace()]
    assert [c for c in characters if blank.fullmatch(c)] == whitespace
    with duckdb.connect() as connection:
        matched = connection.execute(
            "SELECT list(c ORDER BY c) FROM (SELECT chr(c::INTEGER) AS c FROM range(1, 65536) t(c) "
            "WHERE c NOT BETWEEN 55296 AND 57343) WHERE regexp_full_match(c, ?)",
            [BLANK_PATTERN],
        ).fetchone()[0]
    assert matched == whitespace
