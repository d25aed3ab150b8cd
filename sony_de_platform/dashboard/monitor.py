"""What the pipeline monitor reads, declared as data, and the small reductions it shows.

Each `Source` names a table readers may see and the part of the platform that writes it,
so that a table not written yet (a feature not deployed, a build not run) is reported in
words rather than as an error. Queries are plain SQL that both engines accept; everything
else is pandas, so the reductions are the same whatever the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from sony_de_platform.governance.summaries import (
    KEY_STATS_TABLE,
    QUARANTINE_SUMMARY_TABLE,
    TABLE_ROW_COUNTS_TABLE,
)
from sony_de_platform.quality.registry import Attachment, Registry, load_registry
from sony_de_platform.transform.test_results import GOVERNANCE_SCHEMA, TEST_RESULTS_TABLE
from sony_de_platform.warehouse import Session, qualified


@dataclass(frozen=True)
class Source:
    """A table the monitor reads, and who writes it (said when it is missing)."""

    table: str
    written_by: str
    schema: str = GOVERNANCE_SCHEMA

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"

    def missing_message(self) -> str:
        return (
            f"Not available yet: {self.name} has not been written "
            f"(it comes from {self.written_by})."
        )

    def empty_message(self) -> str:
        return f"{self.name} is empty: {self.written_by} has not recorded anything yet."


KEY_STATS = Source(KEY_STATS_TABLE, "the asset governance/monitor_summaries")
TABLE_ROW_COUNTS = Source(TABLE_ROW_COUNTS_TABLE, "the asset governance/monitor_summaries")
QUARANTINE_SUMMARY = Source(QUARANTINE_SUMMARY_TABLE, "the asset governance/monitor_summaries")
DBT_TEST_RESULTS = Source(TEST_RESULTS_TABLE, "the dbt steps of every medallion build")
# Written with Snowflake's column names (SNOWFLAKE.LOCAL.DATA_QUALITY_MONITORING_RESULTS).
DMF_RESULTS = Source("DATA_QUALITY_MONITORING_RESULTS", "the Data Metric Function checks")
# Snowflake's DYNAMIC_TABLE_REFRESH_HISTORY columns.
DYNAMIC_TABLE_REFRESHES = Source("DYNAMIC_TABLE_REFRESH_HISTORY", "the dynamic-table refreshes")
# The columns of SHOW STREAMS, plus what the CDC sensor knows (pending rows, last consumed).
STREAM_STATUS = Source("STREAM_STATUS", "the CDC stream sensor")

# Failing first: dbt statuses and Dagster asset-check statuses, worst first.
STATUS_RANK = {
    "fail": 0,
    "error": 0,
    "runtime error": 0,
    "failed": 0,
    "execution_failed": 0,
    "warn": 1,
    "in_progress": 2,
    "skipped": 2,
    "pass": 3,
    "success": 3,
    "succeeded": 3,
}
SYSTEM_DMF_DATABASE = "SNOWFLAKE"  # system DMFs (ROW_COUNT, FRESHNESS...) measure, not count faults


class MonitorReader:
    """Reads sources through one open session (a read-only copy, or the monitor role)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def frame(self, source: Source, order_by: str | None = None) -> pd.DataFrame | None:
        """The whole table, or None when it does not exist."""
        if not self.session.table_exists(source.schema, source.table):
            return None
        sql = f"SELECT * FROM {qualified(source.schema, source.table)}"
        names, rows = self.session.fetch_with_names(
            sql + (f" ORDER BY {order_by}" if order_by else "")
        )
        return pd.DataFrame(rows, columns=names)


def layer_totals(row_counts: pd.DataFrame) -> pd.DataFrame:
    """Rows per layer, in medallion order."""
    order = {"bronze": 0, "silver": 1, "gold": 2}
    totals = row_counts.groupby("layer", as_index=False)["row_count"].sum()
    totals["order"] = totals["layer"].map(lambda layer: order.get(layer, 3))
    return totals.sort_values(["order", "layer"]).drop(columns="order").reset_index(drop=True)


def _rank(status: object) -> int:
    return STATUS_RANK.get(str(status).lower(), 2)


def failing_first(frame: pd.DataFrame, status_column: str, then: list[str]) -> pd.DataFrame:
    ranked = frame.assign(_rank=frame[status_column].map(_rank))
    return ranked.sort_values(["_rank", *then]).drop(columns="_rank").reset_index(drop=True)


def latest_test_results(results: pd.DataFrame) -> pd.DataFrame:
    """The latest outcome of every dbt test, failing first."""
    latest = results.sort_values("recorded_at").groupby("unique_id", as_index=False).tail(1)
    columns = [
        "status",
        "test_kind",
        "test_name",
        "attached_node",
        "severity",
        "failures",
        "message",
        "recorded_at",
    ]
    return failing_first(latest[columns], "status", ["test_kind", "test_name"])


def status_counts(frame: pd.DataFrame, status_column: str) -> dict[str, int]:
    """Counts of pass / warn / fail (errors count as fail), in that order."""
    buckets = {0: "fail", 1: "warn", 3: "pass"}
    counts = {"pass": 0, "warn": 0, "fail": 0}
    for status in frame[status_column]:
        bucket = buckets.get(_rank(status))
        if bucket:
            counts[bucket] += 1
    return counts


def _argument_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _registered(registry: Registry) -> dict[tuple[str, str, str], Attachment]:
    """Attachments by how a results row names them: table, DMF name and argument names."""
    return {
        (a.table_label.upper(), a.function.name, ", ".join(a.argument_names)): a
        for a in registry.attachments
    }


def _violation(attachment: Attachment | None, value: float) -> bool:
    """A registered DMF is judged by its expectation (a count or a percentage alike; a
    percentage over no rows, NULL, is none); an unregistered one, by any violating row.
    System DMFs count no violations at all: the caller masks them."""
    measured = None if pd.isna(value) else float(value)
    if attachment is not None:
        return not attachment.passes(measured)
    return measured is not None and measured > 0


def latest_dmf_results(results: pd.DataFrame, registry: Registry | None = None) -> pd.DataFrame:
    """The latest measurement of every (table, DMF, columns), with whether it is a violation."""
    frame = results.assign(
        table=results["table_schema"].astype(str) + "." + results["table_name"].astype(str),
        columns=results["argument_names"].map(_argument_text),
        value=pd.to_numeric(results["value"]),
    )
    keys = ["table", "metric_name", "columns"]
    latest = frame.sort_values("measurement_time").groupby(keys, as_index=False).tail(1)
    counting = latest["metric_database"].astype(str).str.upper() != SYSTEM_DMF_DATABASE
    attachments = _registered(registry or load_registry())
    violation = [
        _violation(attachments.get((table.upper(), str(metric).upper(), names.upper())), v)
        for table, metric, names, v in zip(
            latest["table"], latest["metric_name"], latest["columns"], latest["value"], strict=True
        )
    ]
    latest = latest.assign(
        counts_violations=counting,
        violation=counting & pd.Series(violation, index=latest.index, dtype=bool),
    )
    columns = [*keys, "value", "violation", "counts_violations", "measurement_time"]
    return (
        latest[columns]
        .sort_values(["violation", *keys], ascending=[False, True, True, True])
        .reset_index(drop=True)
    )


def dmf_history(results: pd.DataFrame) -> pd.DataFrame:
    """Values over time, one column per table.DMF, for a line chart."""
    frame = results.assign(
        series=results["table_name"].astype(str) + "." + results["metric_name"].astype(str),
        value=pd.to_numeric(results["value"]),
    )
    return frame.pivot_table(
        index="measurement_time", columns="series", values="value", aggfunc="max"
    ).sort_index()


def dynamic_table_status(history: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """Per dynamic table: the latest refresh, its action, and the lag against its target."""
    latest = (
        history.sort_values("refresh_start_time")
        .groupby(["schema_name", "name"], as_index=False)
        .tail(1)
    )
    data_time = pd.to_datetime(latest["data_timestamp"], utc=True)
    lag = (pd.Timestamp(now).tz_convert("UTC") - data_time).dt.total_seconds().round()
    target = pd.to_numeric(latest["target_lag_sec"])
    status = latest.assign(
        dynamic_table=latest["schema_name"].astype(str) + "." + latest["name"].astype(str),
        lag_sec=lag,
        within_target=lag <= target,
    )
    columns = [
        "dynamic_table",
        "state",
        "refresh_action",
        "refresh_end_time",
        "data_timestamp",
        "target_lag_sec",
        "lag_sec",
        "within_target",
    ]
    return status[columns].sort_values("dynamic_table").reset_index(drop=True)


def stream_status(streams: pd.DataFrame) -> pd.DataFrame:
    """The stream table with the columns an operator looks at first, stale ones on top."""
    first = [
        c
        for c in ("name", "table_name", "mode", "stale", "pending_rows", "has_data")
        if c in streams
    ]
    ordered = streams[first + [c for c in streams.columns if c not in first]]
    if "stale" in ordered:
        stale = ordered["stale"].astype(str).str.lower().isin({"true", "1"})
        ordered = ordered.assign(_stale=~stale).sort_values("_stale").drop(columns="_stale")
    return ordered.reset_index(drop=True)
