"""The published reader copy: what it holds (Silver, Gold, GOVERNANCE), what it must never
hold (RAW, SECURE, clear PII: scanned), and how it is written (writer lock, atomic swap)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from sony_de_platform.governance.assets import READER_SCHEMAS
from sony_de_platform.governance.key_stats import current_key_stats
from sony_de_platform.settings import load_settings
from sony_de_platform.warehouse import (
    DuckDBWarehouse,
    SnowflakeWarehouse,
    WarehouseLockTimeout,
    build_reader_warehouse,
)
from sony_de_platform.warehouse.dynamic_tables import TWIN_KEY_STATE_PREFIX
from sony_de_platform_tests.conftest import PublishedPipeline

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"\+?\d{1,3}[- ]\d{3}[- ]\d{4}")
PII_COLUMN_NAMES = {"email", "full_name", "phone", "date_of_birth", "raw_record"}


def _read(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def _text_values(connection: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Every distinct value of every text column, by SCHEMA.table.column."""
    columns = connection.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR' AND table_catalog = current_database()"
    ).fetchall()
    return {
        f"{s}.{t}.{c}": {
            value
            for (value,) in connection.execute(
                f'SELECT DISTINCT "{c}" FROM "{s}"."{t}" WHERE "{c}" IS NOT NULL'
            ).fetchall()
        }
        for s, t, c in columns
    }


def _pii_found(values: dict[str, set[str]], known: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for column, texts in values.items():
        hits = [v for v in texts if v in known or EMAIL.search(v) or PHONE.search(v)]
        if hits:
            found[column] = sorted(hits)[:3]
    return found


def _landing_pii(pipeline: PublishedPipeline) -> set[str]:
    """The clear PII the landing files carry (emails, names, phones), read independently."""
    known: set[str] = set()
    for path in (pipeline.settings.landing_dir / "fan_interactions").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                known.update(
                    str(record[f]) for f in ("email", "full_name", "phone") if record.get(f)
                )
    return known


def test_copy_holds_silver_gold_governance_only(published_pipeline: PublishedPipeline) -> None:
    path = published_pipeline.settings.published_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o400, "readable by its owner only, read-only"
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no partial file left"
    schemas = {
        s.upper()
        for (s,) in _read(
            path,
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database()",
        )
    }
    assert {"RAW", "STG", "SECURE"}.isdisjoint(schemas)
    assert set(READER_SCHEMAS) <= schemas <= set(READER_SCHEMAS) | {"MAIN"}

    relations = "SELECT upper(table_schema), table_name, table_type FROM information_schema.tables "
    in_reader = f"WHERE upper(table_schema) IN ({', '.join(map(repr, READER_SCHEMAS))})"
    in_warehouse = published_pipeline.query(relations + in_reader + " ORDER BY 1, 2")
    twin_state = [r for r in in_warehouse if r[1].startswith(TWIN_KEY_STATE_PREFIX)]
    expected = [r for r in in_warehouse if r not in twin_state]
    copied = _read(path, relations + "ORDER BY 1, 2")
    assert [(s, t) for s, t, _ in copied] == [(s, t) for s, t, _ in expected], "no twin state"
    assert {"DIMS", "FACTS", "STUDIO_OPS", "MARKETING", "GOVERNANCE"} == {s for s, _, _ in copied}
    assert {kind for _, _, kind in copied} == {"BASE TABLE"}
    for schema, table, _ in expected:
        count = f"SELECT COUNT(*) FROM {schema}.{table}"
        assert _read(path, count) == published_pipeline.query(count), f"{schema}.{table}"


def test_copy_has_no_clear_pii(published_pipeline: PublishedPipeline) -> None:
    known = _landing_pii(published_pipeline)
    assert len(known) > 100, "the landing data carries PII to look for"
    # The scanner finds the PII where it does live: RAW in the writer's warehouse.
    with duckdb.connect(str(published_pipeline.settings.warehouse_path), read_only=True) as raw:
        in_warehouse = _pii_found(_text_values(raw), known)
    assert {"RAW.RAW_FAN_INTERACTIONS.email", "RAW.RAW_FAN_INTERACTIONS.phone"} <= set(in_warehouse)

    with duckdb.connect(str(published_pipeline.settings.published_path), read_only=True) as copy:
        values = _text_values(copy)
        columns = copy.execute("SELECT lower(column_name) FROM information_schema.columns")
        names = {name for (name,) in columns.fetchall()}
    assert sum(len(v) for v in values.values()) > 1000, "the copy's text was scanned"
    assert _pii_found(values, known) == {}
    assert names.isdisjoint(PII_COLUMN_NAMES)


def test_summaries_equal_the_warehouse(published_pipeline: PublishedPipeline) -> None:
    path = published_pipeline.settings.published_path
    stats = current_key_stats(published_pipeline.settings)
    assert _read(path, "SELECT metric, value FROM GOVERNANCE.KEY_STATS ORDER BY position") == (
        stats.rows()
    )
    counts = _read(
        path, "SELECT table_schema, table_name, row_count FROM GOVERNANCE.TABLE_ROW_COUNTS"
    )
    assert {(s, t) for s, t, _ in counts} >= {("RAW", "RAW_FAN_INTERACTIONS"), ("DIMS", "DIM_FANS")}
    for schema, table, rows in counts:
        assert published_pipeline.query(f"SELECT COUNT(*) FROM {schema}.{table}") == [(rows,)]
    by_feed = "SELECT feed, SUM(records) FROM GOVERNANCE.LOAD_QUARANTINE_SUMMARY GROUP BY 1"
    raw_by_feed = "SELECT feed, COUNT(*) FROM RAW.LOAD_QUARANTINE GROUP BY 1"
    assert dict(_read(path, by_feed)) == dict(published_pipeline.query(raw_by_feed))
    assert sum(dict(_read(path, by_feed)).values()) == sum(
        feed["quarantined"] for feed in published_pipeline.manifest["feeds"].values()
    )
    reasons = {r for (r,) in _read(path, "SELECT reason FROM GOVERNANCE.LOAD_QUARANTINE_SUMMARY")}
    assert reasons <= {"missing required key", "malformed JSON", "malformed CSV row", "empty line"}


def _small_warehouse(folder: Path, rows: int) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(path=str(folder / "SONY_DE.duckdb"), lock_timeout_seconds=0.5)
    with warehouse.session() as session:
        for schema in ("RAW", "SECURE", "DIMS"):
            session.ensure_schema(schema)
        session.execute("CREATE OR REPLACE TABLE RAW.fans AS SELECT 'a@b.com' AS email")
        session.execute("CREATE OR REPLACE TABLE SECURE.vault AS SELECT 'a@b.com' AS email")
        session.execute(
            f"CREATE OR REPLACE TABLE DIMS.dim_fans AS SELECT range AS n FROM range({rows})"
        )
    return warehouse


# Another process holding the writer lock, as a platform writer does (without importing it).
HOLD_WRITER_LOCK = """
import fcntl, json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({"pid": os.getpid(), "purpose": "holding for a test"}).encode())
print("holding", flush=True)
sys.stdin.read()
"""


def test_publish_leaves_the_dynamic_table_twins_key_state_out(tmp_path: Path) -> None:
    """The twin's per-key state (a keyed input it hashes per key) is its own bookkeeping,
    with no table on Snowflake: the copy leaves it out, whatever its case."""
    warehouse = _small_warehouse(tmp_path, rows=2)
    state = f"{TWIN_KEY_STATE_PREFIX}MARKETING__AGG_FAN_LIFETIME_VALUE"
    with warehouse.session() as session:
        session.ensure_schema("GOVERNANCE")
        session.execute(
            f"CREATE TABLE GOVERNANCE.{state} AS SELECT 'F-1' AS fan_id, 1 AS row_count"
        )
        session.execute("CREATE TABLE GOVERNANCE.refresh_history AS SELECT 1 AS n")
    target = tmp_path / "published" / "SONY_DE_READER.duckdb"
    copied = warehouse.publish_copy(
        target, READER_SCHEMAS, internal_prefixes=[TWIN_KEY_STATE_PREFIX.lower()]
    )
    assert copied == {"DIMS.dim_fans": 2, "GOVERNANCE.refresh_history": 1}


def test_publish_waits_for_the_writer_and_swaps_atomically(tmp_path: Path) -> None:
    warehouse = _small_warehouse(tmp_path, rows=3)
    target = tmp_path / "published" / "SONY_DE_READER.duckdb"
    assert warehouse.publish_copy(target, READER_SCHEMAS) == {"DIMS.dim_fans": 3}
    reader = duckdb.connect(str(target), read_only=True)  # a reader keeps the old copy open
    try:
        _small_warehouse(tmp_path, rows=5)
        lock_file = str(warehouse._lock.path)
        with subprocess.Popen(
            [sys.executable, "-c", HOLD_WRITER_LOCK, lock_file],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as holder:
            try:
                assert holder.stdout.readline().strip() == "holding"
                with pytest.raises(WarehouseLockTimeout, match="holding for a test"):
                    warehouse.publish_copy(target, READER_SCHEMAS)
            finally:
                holder.stdin.close()
                holder.wait(30)
        assert _read(target, "SELECT COUNT(*) FROM DIMS.dim_fans") == [(3,)], "copy untouched"
        assert [p.name for p in target.parent.iterdir()] == [target.name]

        assert warehouse.publish_copy(target, READER_SCHEMAS) == {"DIMS.dim_fans": 5}
        assert reader.execute("SELECT COUNT(*) FROM DIMS.dim_fans").fetchone() == (3,)
    finally:
        reader.close()
    assert _read(target, "SELECT COUNT(*) FROM DIMS.dim_fans") == [(5,)]


def test_publish_refuses_a_pii_column(tmp_path: Path) -> None:
    warehouse = _small_warehouse(tmp_path, rows=1)
    with warehouse.session() as session:
        session.execute("CREATE TABLE DIMS.leaky AS SELECT 'x@y.org' AS email")
    target = tmp_path / "published" / "SONY_DE_READER.duckdb"
    with pytest.raises(ValueError, match=r"DIMS\.leaky\.email may hold PII"):
        warehouse.publish_copy(target, READER_SCHEMAS, {"email", "phone"})
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_snowflake_readers_use_the_monitor_role_and_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = {
        "SONY_DE_TARGET": "snowflake",
        "SNOWFLAKE_ACCOUNT": "acct",
        "SNOWFLAKE_USER": "dashboard",
        "SNOWFLAKE_PASSWORD": "not-a-real-secret",
        "SNOWFLAKE_ROLE": "SONY_DE_ENGINEER",
        "SONY_DE_MONITOR_ROLE": "SONY_DE_ANALYST",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    reader = build_reader_warehouse(load_settings())
    assert isinstance(reader, SnowflakeWarehouse)
    assert reader.connection.role == "SONY_DE_ANALYST"
    assert reader.connection.password == "not-a-real-secret"  # resolved outside Dagster
    with pytest.raises(NotImplementedError, match="monitor role"):
        reader.publish_copy(tmp_path / "copy.duckdb", READER_SCHEMAS)


def test_publish_copies_every_row_with_its_text_stored_plain(tmp_path: Path) -> None:
    """The copy is written for speed (no insertion order, no DICT_FSST for text), and still
    holds exactly the warehouse's rows; the warehouse's own storage is unchanged."""
    warehouse = _small_warehouse(tmp_path, rows=1)
    table = (
        "SELECT range AS n, sha256(range::VARCHAR) AS email_hash, "
        "['NA', 'EMEA', 'APAC'][range % 3 + 1] AS region FROM range(300000)"
    )
    with warehouse.session() as session:
        session.execute(f"CREATE OR REPLACE TABLE DIMS.dim_fans AS {table}")
    target = tmp_path / "published" / "SONY_DE_READER.duckdb"
    assert warehouse.publish_copy(target, READER_SCHEMAS) == {"DIMS.dim_fans": 300_000}
    fingerprint = "SELECT COUNT(*), SUM(hash(n, email_hash, region)) FROM DIMS.dim_fans"
    assert _read(target, fingerprint) == _read(Path(warehouse.path), fingerprint)

    def text_compressions(path: Path) -> set[str]:
        return {
            row[0]
            for row in _read(
                path,
                "SELECT DISTINCT compression FROM pragma_storage_info('DIMS.dim_fans') "
                "WHERE column_name IN ('email_hash', 'region') AND segment_type = 'VARCHAR'",
            )
        }

    assert "DICT_FSST" in text_compressions(Path(warehouse.path))
    copied = text_compressions(target)
    assert copied and "DICT_FSST" not in copied, copied
