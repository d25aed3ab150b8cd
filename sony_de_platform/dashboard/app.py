"""The SONY_DE pipeline monitor: five tabs beside the Dagster UI (`make dashboard`).

On DuckDB it reads the published read-only copy (Silver, Gold, GOVERNANCE; no RAW, no
SECURE), so it never holds the writer's lock and never sees PII; on Snowflake it connects
with the monitor role. Runs and asset checks come from the Dagster webserver when one
answers. A table that is missing or empty is said in words, never shown as a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from sony_de_platform.dashboard import dagster_api, lineage, monitor
from sony_de_platform.dashboard.monitor import MonitorReader, Source
from sony_de_platform.settings import Engine, Settings, load_settings
from sony_de_platform.warehouse import build_reader_warehouse

log = logging.getLogger(__name__)

TABS = ("Overview", "Data Quality", "Pipeline Health", "Data Lineage", "Test Results")


@contextmanager
def open_reader(settings: Settings) -> Iterator[MonitorReader | None]:
    """A reader on the published copy (DuckDB) or the monitor role (Snowflake); None if no copy."""
    if settings.engine is Engine.DUCKDB and not settings.published_path.exists():
        yield None
        return
    with build_reader_warehouse(settings).session(read_only=True) as session:
        yield MonitorReader(session)


def guarded(title: str, render: Callable[[], None]) -> None:
    """Render one tab; a failure becomes a sentence on the page (the traceback goes to the log)."""
    try:
        render()
    except Exception as error:  # the page must stay readable whatever a source holds
        log.exception("%s tab failed", title)
        st.error(f"{title} could not be shown: {error}")


def frame_or_message(reader: MonitorReader, source: Source, order_by: str | None = None):
    frame = reader.frame(source, order_by)
    if frame is None:
        st.info(source.missing_message())
        return None
    if frame.empty:
        st.info(source.empty_message())
        return None
    return frame


def overview(reader: MonitorReader) -> None:
    st.subheader("Key Stats")
    stats = frame_or_message(reader, monitor.KEY_STATS, "position")
    if stats is not None:
        for column, (_, row) in zip(st.columns(len(stats)), stats.iterrows(), strict=True):
            column.metric(row["metric"], row["value"])
        st.caption(f"Computed from the warehouse at {stats['computed_at'].iloc[0]} UTC.")
    counts = frame_or_message(reader, monitor.TABLE_ROW_COUNTS, "table_schema, table_name")
    if counts is None:
        return
    st.subheader("Rows per layer")
    totals = monitor.layer_totals(counts)
    st.bar_chart(totals, x="layer", y="row_count", horizontal=True)
    st.dataframe(totals, hide_index=True)
    st.subheader("Rows per table")
    per_table = counts.assign(table=counts["table_schema"] + "." + counts["table_name"])
    st.bar_chart(per_table, x="table", y="row_count", color="layer", horizontal=True)
    st.dataframe(per_table[["layer", "table", "row_count"]], hide_index=True)


def data_quality(reader: MonitorReader) -> None:
    st.subheader("Data Metric Functions")
    results = frame_or_message(reader, monitor.DMF_RESULTS, "measurement_time")
    if results is not None:
        latest = monitor.latest_dmf_results(results)
        counting = latest[latest["counts_violations"]]
        passing = int((~counting["violation"]).sum())
        st.metric("DMF checks passing", f"{passing}/{len(counting)}")
        st.markdown("**Latest values**")
        st.bar_chart(
            latest.assign(dmf=latest["table"] + "." + latest["metric_name"]),
            x="dmf",
            y="value",
            horizontal=True,
        )
        st.markdown("**Over time**")
        st.line_chart(monitor.dmf_history(results))
        violations = latest[latest["violation"]]
        st.markdown("**Violations**")
        if violations.empty:
            st.success("No violations in the latest measurements.")
        else:
            st.dataframe(violations, hide_index=True)
        st.dataframe(latest, hide_index=True)
    st.subheader("Quarantined records")
    quarantine = frame_or_message(reader, monitor.QUARANTINE_SUMMARY, "feed, reason")
    if quarantine is not None:
        st.metric("Records quarantined", f"{int(quarantine['records'].sum()):,}")
        st.bar_chart(quarantine, x="reason", y="records", color="feed", horizontal=True)
        st.dataframe(quarantine, hide_index=True)


def pipeline_health(reader: MonitorReader, settings: Settings) -> None:
    st.subheader("Streams")
    streams = frame_or_message(reader, monitor.STREAM_STATUS)
    if streams is not None:
        st.dataframe(monitor.stream_status(streams), hide_index=True)
    st.subheader("Dynamic tables")
    history = frame_or_message(reader, monitor.DYNAMIC_TABLE_REFRESHES, "refresh_start_time")
    if history is not None:
        status = monitor.dynamic_table_status(history, datetime.now(UTC))
        late = int((~status["within_target"]).sum())
        st.metric("Dynamic tables behind their target lag", f"{late}/{len(status)}")
        st.dataframe(status, hide_index=True)
    st.subheader("Recent Dagster runs")
    runs = from_dagster(dagster_api.recent_runs, "Dagster runs", settings)
    if runs is not None:
        st.caption(f"From the Dagster webserver at {settings.dagster_url}.")
        st.dataframe(runs, hide_index=True)


def data_lineage(settings: Settings) -> None:
    nodes = _asset_nodes(settings.engine.value)
    st.subheader("Asset graph: Bronze -> Silver -> Gold")
    st.caption("Drawn from the platform's Dagster definitions (the same graph as the Dagster UI).")
    st.graphviz_chart(lineage.to_dot(nodes), width="stretch")
    table = pd.DataFrame(
        [
            {"asset": n.key, "layer": n.layer, "checks": n.checks, "parents": ", ".join(n.parents)}
            for n in nodes
        ]
    )
    st.dataframe(table, hide_index=True)


@st.cache_resource(show_spinner="Loading the Dagster definitions ...")
def _asset_nodes(engine: str) -> list[lineage.AssetNode]:
    from sony_de_platform.definitions import build_definitions

    settings = load_settings()
    assert settings.engine.value == engine
    return lineage.asset_nodes(build_definitions(settings))


def test_results(reader: MonitorReader, settings: Settings) -> None:
    st.subheader("dbt tests")
    results = frame_or_message(reader, monitor.DBT_TEST_RESULTS)
    if results is not None:
        latest = monitor.latest_test_results(results)
        status_metrics(latest, "dbt tests")
        st.dataframe(latest, hide_index=True)
    st.subheader("Asset checks in Dagster")
    checks = from_dagster(dagster_api.asset_check_outcomes, "Asset checks", settings)
    if checks is not None:
        checks = monitor.failing_first(checks, "status", ["asset", "check"])
        status_metrics(checks, "asset checks")
        st.dataframe(checks, hide_index=True)


def status_metrics(frame: pd.DataFrame, what: str) -> None:
    counts = monitor.status_counts(frame, "status")
    for column, (label, count) in zip(st.columns(len(counts)), counts.items(), strict=True):
        column.metric(f"{what} {label}", count)


def from_dagster(
    fetch: Callable[[str], pd.DataFrame], what: str, settings: Settings
) -> pd.DataFrame | None:
    """What Dagster's webserver answers, or a sentence saying why there is nothing."""
    try:
        frame = fetch(settings.dagster_url)
    except dagster_api.DagsterUnavailable as reason:
        st.warning(f"{what} unavailable: {reason}. Start the Dagster UI with `make dev`.")
        return None
    if frame.empty:
        st.info(f"{what}: Dagster at {settings.dagster_url} has none yet.")
        return None
    return frame


def main() -> None:
    st.set_page_config(page_title="SONY_DE pipeline monitor", layout="wide")
    st.title("SONY_DE pipeline monitor")
    settings = load_settings()
    if settings.engine is Engine.DUCKDB:
        st.caption(f"Reading the published copy {settings.published_path} (read-only).")
    else:
        st.caption(f"Reading Snowflake as role {settings.monitor_role}.")
    with open_reader(settings) as reader:
        tabs = dict(zip(TABS, st.tabs(TABS), strict=True))
        with tabs["Data Lineage"]:
            guarded("Data Lineage", lambda: data_lineage(settings))
        if reader is None:
            for name in (t for t in TABS if t != "Data Lineage"):
                with tabs[name]:
                    st.warning(
                        f"No published copy at {settings.published_path} yet: run `make demo`, "
                        "or materialize governance/published_reader_copy in the Dagster UI."
                    )
            return
        with tabs["Overview"]:
            guarded("Overview", lambda: overview(reader))
        with tabs["Data Quality"]:
            guarded("Data Quality", lambda: data_quality(reader))
        with tabs["Pipeline Health"]:
            guarded("Pipeline Health", lambda: pipeline_health(reader, settings))
        with tabs["Test Results"]:
            guarded("Test Results", lambda: test_results(reader, settings))


if __name__ == "__main__":  # `streamlit run` and AppTest run the file as __main__
    main()
