"""The Streamlit monitor run with Streamlit's AppTest against the copy a real pipeline
published: every tab, its figures equal to the warehouse's, and clear words (never a
traceback) for what is missing, empty or unreadable."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from sony_de_platform.dashboard.app import TABS
from sony_de_platform.dashboard.monitor import latest_dmf_results
from sony_de_platform.governance.key_stats import current_key_stats
from sony_de_platform.settings import REPO_ROOT
from sony_de_platform_tests.browser import free_port
from sony_de_platform_tests.conftest import PublishedPipeline
from sony_de_platform_tests.lock_holders import HOLD_DUCKDB_FILE, holding

pytestmark = pytest.mark.slow

MALFORMED = "MALFORMED_EMAIL_PERCENT"
APP = REPO_ROOT / "sony_de_platform" / "dashboard" / "app.py"


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, published_pipeline: PublishedPipeline) -> None:
    for name in ("SONY_DE_TARGET", "SONY_DE_PUBLISHED_PATH", "SONY_DE_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SONY_DE_DATA_DIR", published_pipeline.env["SONY_DE_DATA_DIR"])
    # Nothing listens there: the Dagster parts must say they are unavailable.
    monkeypatch.setenv("SONY_DE_DAGSTER_URL", f"http://127.0.0.1:{free_port()}")


def run_app() -> tuple[AppTest, dict[str, object]]:
    app = AppTest.from_file(str(APP), default_timeout=300).run()
    assert [e.value for e in app.exception] == []
    tabs = {tab.label: tab for tab in app.tabs}
    assert list(tabs) == list(TABS)
    return app, tabs


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def test_every_tab_shows_the_warehouse_figures(
    app_env: None, published_pipeline: PublishedPipeline
) -> None:
    app, tabs = run_app()
    assert texts(app.error) == []
    query = published_pipeline.query

    overview = tabs["Overview"]
    stats = current_key_stats(published_pipeline.settings)
    assert [(m.label, m.value) for m in overview.metric] == stats.rows()
    layers, per_table = (frame.value for frame in overview.dataframe)
    assert dict(zip(layers["layer"], layers["row_count"], strict=True)) == {
        "bronze": stats.bronze_rows,
        "silver": stats.silver_rows + stats.snapshot_rows,
        "gold": stats.gold_rows,
    }
    assert len(per_table) == 10
    for table, rows in zip(per_table["table"], per_table["row_count"], strict=True):
        assert query(f"SELECT COUNT(*) FROM {table}") == [(rows,)], table

    quality = tabs["Data Quality"]
    metrics = {m.label: m.value for m in quality.metric}
    passing, evaluated = (int(n) for n in metrics["DMF checks passing"].split("/"))
    assert passing == evaluated >= 6  # every DMF that counts violations passes on demo data
    ((raw_quarantined,),) = query("SELECT COUNT(*) FROM RAW.LOAD_QUARANTINE")
    assert metrics["Records quarantined"] == f"{raw_quarantined:,}"
    latest, reasons = (frame for frame in quality.dataframe)
    by_feed = reasons.value.groupby("feed")["records"].sum().to_dict()
    assert by_feed == dict(query("SELECT feed, COUNT(*) FROM RAW.LOAD_QUARANTINE GROUP BY 1"))

    health = tabs["Pipeline Health"]
    assert [s.value for s in health.subheader] == [
        "Streams",
        "Dynamic tables",
        "Recent Dagster runs",
    ]
    assert not any("Not available yet" in t for t in texts(health.info))
    stream_rows, dynamic = (frame.value for frame in health.dataframe)
    consumed = query("SELECT COUNT(*) FROM RAW.FAN_INTERACTIONS_STREAM")
    assert list(stream_rows["name"]) == ["FAN_INTERACTIONS_STREAM"]
    assert [(int(n),) for n in stream_rows["pending_rows"]] == consumed
    assert sorted(dynamic["dynamic_table"]) == [
        "MARKETING.AGG_FAN_LIFETIME_VALUE",
        "STUDIO_OPS.AGG_FRANCHISE_PERFORMANCE",
    ]
    assert any("Dagster runs unavailable" in t for t in texts(health.warning))

    lineage = tabs["Data Lineage"]
    (dot,) = app.get("graphviz_chart")
    graph = published_pipeline.defs.resolve_asset_graph()
    (assets,) = lineage.dataframe
    shown = dict(zip(assets.value["asset"], assets.value["checks"], strict=True))
    expected = Counter("/".join(k.asset_key.path) for k in graph.asset_check_keys)
    keys = {"/".join(key.path) for key in graph.get_all_asset_keys()}
    assert set(shown) == keys
    assert {k: n for k, n in shown.items() if n} == dict(expected)
    for bronze, silver in [
        ("raw/raw_fan_interactions", "STG/stg_fan_interactions"),
        ("raw/raw_box_office", "STG/stg_box_office"),
    ]:
        assert f'"{bronze}" -> "{silver}"' in dot.proto.spec
    assert '"DIMS/dim_titles" -> "STUDIO_OPS/agg_franchise_performance"' in dot.proto.spec

    results = tabs["Test Results"]
    latest = query(
        "SELECT status, COUNT(*) FROM (SELECT status, row_number() OVER "
        "(PARTITION BY unique_id ORDER BY recorded_at DESC) AS n FROM GOVERNANCE.DBT_TEST_RESULTS)"
        " WHERE n = 1 GROUP BY 1"
    )
    tests = sum(count for _, count in latest)
    assert tests >= 100 and dict(latest) == {"pass": tests}
    assert [(m.label, m.value) for m in results.metric] == [
        ("dbt tests pass", str(tests)),
        ("dbt tests warn", "0"),
        ("dbt tests fail", "0"),
    ]
    assert len(results.dataframe[0].value) == tests
    assert any("Asset checks unavailable" in t for t in texts(results.warning))


@pytest.fixture
def editable_copy(
    app_env: None,
    published_pipeline: PublishedPipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A writable copy of the published file, which the app then reads."""
    copy = tmp_path / "SONY_DE_READER.duckdb"
    shutil.copyfile(published_pipeline.settings.published_path, copy)
    copy.chmod(0o600)
    monkeypatch.setenv("SONY_DE_PUBLISHED_PATH", str(copy))
    return copy


def _add_feature_tables(copy: Path) -> None:
    """What the DMF, dynamic-table and CDC parts write, in Snowflake's column names."""
    now = datetime.now().replace(microsecond=0)
    earlier = now - timedelta(hours=1)
    dmf = pd.DataFrame(
        [
            # time, schema, table, DMF, database, columns, value
            (earlier, "DIMS", "DIM_TITLES", "VALID_IMDB_SCORE", "SONY_DE", "IMDB_SCORE", 0),
            (now, "DIMS", "DIM_TITLES", "VALID_IMDB_SCORE", "SONY_DE", "IMDB_SCORE", 2),
            (earlier, "DIMS", "FACT_BOX_OFFICE", "POSITIVE_REVENUE", "SONY_DE", "GROSS", 1),
            (now, "DIMS", "FACT_BOX_OFFICE", "POSITIVE_REVENUE", "SONY_DE", "GROSS", 0),
            (now, "DIMS", "DIM_FANS", "ROW_COUNT", "SNOWFLAKE", "", 720),
            # a percentage judged by its expectation (VALUE <= 2), not by being above 0
            (earlier, "STG", "STG_FAN_INTERACTIONS", MALFORMED, "SONY_DE", "HAS_VALID_EMAIL", 2.5),
            (now, "STG", "STG_FAN_INTERACTIONS", MALFORMED, "SONY_DE", "HAS_VALID_EMAIL", 1.02),
        ],
        columns=[
            "measurement_time",
            "table_schema",
            "table_name",
            "metric_name",
            "metric_database",
            "argument_names",
            "value",
        ],
    ).assign(table_database="SONY_DE", metric_schema="GOVERNANCE")
    refreshes = pd.DataFrame(
        [
            ("DT_FAN_DAILY", "SUCCEEDED", "INCREMENTAL", now - timedelta(minutes=2), 600),
            ("DT_FAN_DAILY", "SUCCEEDED", "NO_DATA", now - timedelta(minutes=1), 600),
            ("DT_TITLE_DAILY", "SUCCEEDED", "FULL", now - timedelta(hours=3), 600),
        ],
        columns=["name", "state", "refresh_action", "data_timestamp", "target_lag_sec"],
    ).assign(
        schema_name="STUDIO_OPS",
        database_name="SONY_DE",
        refresh_start_time=lambda f: f["data_timestamp"],
        refresh_end_time=lambda f: f["data_timestamp"] + timedelta(seconds=5),
    )
    streams = pd.DataFrame(
        [
            ("RAW_FAN_INTERACTIONS_STREAM", "RAW_FAN_INTERACTIONS", "DEFAULT", "false", 12),
            ("RAW_BOX_OFFICE_STREAM", "RAW_BOX_OFFICE", "APPEND_ONLY", "true", 0),
        ],
        columns=["name", "table_name", "mode", "stale", "pending_rows"],
    )
    failing = "INSERT INTO GOVERNANCE.DBT_TEST_RESULTS (unique_id, test_kind, test_name, status, "
    with duckdb.connect(str(copy)) as connection:
        for table, frame in [
            ("DATA_QUALITY_MONITORING_RESULTS", dmf),
            ("DYNAMIC_TABLE_REFRESH_HISTORY", refreshes),
            ("STREAM_STATUS", streams),
        ]:
            connection.register("frame", frame)
            # in place of what the pipeline wrote, so that every figure below is known
            connection.execute(f"CREATE OR REPLACE TABLE GOVERNANCE.{table} AS SELECT * FROM frame")
            connection.unregister("frame")
        connection.execute(
            failing + "severity, failures, recorded_at) SELECT unique_id, test_kind, test_name, "
            "'fail', severity, 3, now() FROM GOVERNANCE.DBT_TEST_RESULTS "
            "WHERE test_name = 'unique_dim_fans_fan_id'"
        )


def test_feature_tables_are_shown_when_present(editable_copy: Path) -> None:
    _add_feature_tables(editable_copy)
    app, tabs = run_app()
    assert texts(app.error) == []

    quality = tabs["Data Quality"]
    assert not any("Not available yet" in t for t in texts(quality.info))
    metrics = {m.label: m.value for m in quality.metric}
    assert metrics["DMF checks passing"] == "2/3"  # system ROW_COUNT measures, not counts
    violations, latest, _reasons = (f.value for f in quality.dataframe)
    assert list(violations["metric_name"]) == ["VALID_IMDB_SCORE"]
    assert list(violations["value"]) == [2]
    assert len(latest) == 4
    shown = dict(zip(latest["metric_name"], latest["value"], strict=True))
    assert shown[MALFORMED] == 1.02  # the fraction is kept
    assert len(app.get("vega_lite_chart")) >= 4  # overview 2, DMF latest + over time

    health = tabs["Pipeline Health"]
    assert not any("Not available yet" in t for t in texts(health.info))
    streams, dynamic = (f.value for f in health.dataframe)
    assert list(streams["name"]) == ["RAW_BOX_OFFICE_STREAM", "RAW_FAN_INTERACTIONS_STREAM"]
    assert list(streams.columns[:5]) == ["name", "table_name", "mode", "stale", "pending_rows"]
    assert list(dynamic["dynamic_table"]) == [
        "STUDIO_OPS.DT_FAN_DAILY",
        "STUDIO_OPS.DT_TITLE_DAILY",
    ]
    assert list(dynamic["refresh_action"]) == ["NO_DATA", "FULL"]
    assert list(dynamic["within_target"]) == [True, False]
    behind = {m.label: m.value for m in health.metric}
    assert behind == {"Dynamic tables behind their target lag": "1/2"}

    results = tabs["Test Results"]
    assert {m.label: m.value for m in results.metric}["dbt tests fail"] == "1"
    first = results.dataframe[0].value.iloc[0]
    assert (first["status"], first["test_name"]) == ("fail", "unique_dim_fans_fan_id")


def test_missing_copy_is_said_in_words(
    app_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SONY_DE_PUBLISHED_PATH", str(tmp_path / "SONY_DE_READER.duckdb"))
    app, tabs = run_app()
    for name in ("Overview", "Data Quality", "Pipeline Health", "Test Results"):
        (warning,) = texts(tabs[name].warning)
        assert warning.startswith("No published copy at ") and "make demo" in warning
    assert len(tabs["Data Lineage"].dataframe[0].value) >= 15
    assert texts(app.error) == []


def test_unreadable_source_is_a_sentence_not_a_traceback(editable_copy: Path) -> None:
    with duckdb.connect(str(editable_copy)) as connection:
        connection.execute("DROP TABLE GOVERNANCE.DBT_TEST_RESULTS")
        connection.execute("CREATE TABLE GOVERNANCE.DBT_TEST_RESULTS AS SELECT 1 AS unexpected")
        connection.execute("DELETE FROM GOVERNANCE.LOAD_QUARANTINE_SUMMARY")
    app, tabs = run_app()
    (error,) = texts(tabs["Test Results"].error)
    assert error.startswith("Test Results could not be shown:") and "recorded_at" in error
    assert any(
        "GOVERNANCE.LOAD_QUARANTINE_SUMMARY is empty" in t for t in texts(tabs["Data Quality"].info)
    )
    assert texts(tabs["Overview"].error) == []


def test_the_monitor_keeps_working_while_a_run_holds_the_warehouse(
    app_env: None, published_pipeline: PublishedPipeline
) -> None:
    """A long run keeps the warehouse file open to write, and DuckDB then refuses every other
    process, readers too. The monitor reads the published copy and shows the same figures."""
    stats = current_key_stats(published_pipeline.settings)
    warehouse_path = str(published_pipeline.settings.warehouse_path)
    with holding(HOLD_DUCKDB_FILE, warehouse_path):
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(warehouse_path, read_only=True)
        app, tabs = run_app()
        assert texts(app.error) == []
        assert [(m.label, m.value) for m in tabs["Overview"].metric] == stats.rows()


def test_dmf_violations_follow_each_expectation() -> None:
    """The DMF tab judges a registered DMF by its expectation: a percentage within its
    tolerance is no violation, nor is one over no rows (NULL); a count that is missing is."""
    now = datetime.now().replace(microsecond=0)
    results = pd.DataFrame(
        [
            ("STG", "STG_FAN_INTERACTIONS", MALFORMED, "HAS_VALID_EMAIL", None),
            ("STG", "STG_FAN_INTERACTIONS", "VALID_RATING", "RATING", None),
            ("DIMS", "DIM_TITLES", "VALID_IMDB_SCORE", "IMDB_SCORE", 0.0),
        ],
        columns=["table_schema", "table_name", "metric_name", "argument_names", "value"],
    ).assign(measurement_time=now, metric_database="SONY_DE")
    latest = latest_dmf_results(results)
    judged = dict(zip(latest["metric_name"], latest["violation"], strict=True))
    assert judged == {MALFORMED: False, "VALID_RATING": True, "VALID_IMDB_SCORE": False}
    over = latest_dmf_results(results.assign(value=[2.0001, 0.0, 0.0]))
    judged = dict(zip(over["metric_name"], over["violation"], strict=True))
    assert judged == {MALFORMED: True, "VALID_RATING": False, "VALID_IMDB_SCORE": False}
