"""Aggregates that readers may see of data they may not: written into GOVERNANCE.

Readers (the dashboard, analysts) get no RAW and no SECURE data, yet the monitor shows how
many rows Bronze holds and why records were quarantined. These tables carry only counts,
feed names and reason categories (never a record's text), on both engines, so the
published copy and the Snowflake monitor role can both read them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sony_de_platform.bronze.feeds import QUARANTINE_TABLE, RAW_SCHEMA
from sony_de_platform.cdc.streams import STREAMS
from sony_de_platform.governance.key_stats import GOLD_SCHEMAS, SILVER_SCHEMAS, KeyStats
from sony_de_platform.transform.test_results import GOVERNANCE_SCHEMA
from sony_de_platform.warehouse import Session, qualified
from sony_de_platform.warehouse.streams import streams

KEY_STATS_TABLE = "KEY_STATS"
TABLE_ROW_COUNTS_TABLE = "TABLE_ROW_COUNTS"
QUARANTINE_SUMMARY_TABLE = "LOAD_QUARANTINE_SUMMARY"
STREAM_STATUS_TABLE = "STREAM_STATUS"

SUMMARY_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    KEY_STATS_TABLE: (
        ("position", "INTEGER"),
        ("metric", "VARCHAR"),
        ("value", "VARCHAR"),
        ("computed_at", "TIMESTAMP"),
    ),
    TABLE_ROW_COUNTS_TABLE: (
        ("layer", "VARCHAR"),
        ("table_schema", "VARCHAR"),
        ("table_name", "VARCHAR"),
        ("row_count", "BIGINT"),
        ("computed_at", "TIMESTAMP"),
    ),
    QUARANTINE_SUMMARY_TABLE: (
        ("feed", "VARCHAR"),
        ("target_table", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("records", "BIGINT"),
        ("files", "BIGINT"),
        ("first_quarantined_at", "TIMESTAMP"),
        ("last_quarantined_at", "TIMESTAMP"),
    ),
    STREAM_STATUS_TABLE: (
        ("name", "VARCHAR"),
        ("table_name", "VARCHAR"),
        ("mode", "VARCHAR"),
        ("stale", "BOOLEAN"),
        ("pending_rows", "BIGINT"),
        ("has_data", "BOOLEAN"),
        ("last_consumed_at", "TIMESTAMP"),
        ("computed_at", "TIMESTAMP"),
    ),
}

# The reason's category: the text before its first ':' without the CSV line it names
# ("missing required key", "malformed JSON", "malformed CSV row", "empty line").
_REASON_CATEGORY = "trim(regexp_replace(split_part(reason, ':', 1), '[(]file line [0-9]+[)]', ''))"


def layer_of_schema(schema: str) -> str:
    if schema.upper() == RAW_SCHEMA:
        return "bronze"
    if schema.upper() in SILVER_SCHEMAS:
        return "silver"
    if schema.upper() in GOLD_SCHEMAS:
        return "gold"
    return schema.lower()


def write_monitor_summaries(session: Session, stats: KeyStats) -> dict[str, int]:
    """Replace the summary tables in one transaction; returns rows written per table."""
    now = datetime.now(UTC).replace(tzinfo=None)
    key_stats = stats.rows()
    tables = stats.tables
    written: dict[str, int] = {}
    # Each stream's state (pending rows, staleness), for readers who may not query RAW.
    created = [s for s in (streams(session).status(stream) for stream in STREAMS) if s]
    with session.transaction():
        session.ensure_schema(GOVERNANCE_SCHEMA)
        for table, columns in SUMMARY_TABLES.items():
            body = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
            session.execute(
                f"CREATE OR REPLACE TABLE {qualified(GOVERNANCE_SCHEMA, table)} ({body})"
            )
        written[KEY_STATS_TABLE] = session.append_columns(
            qualified(GOVERNANCE_SCHEMA, KEY_STATS_TABLE),
            {
                "position": list(range(1, len(key_stats) + 1)),
                "metric": [metric for metric, _ in key_stats],
                "value": [value for _, value in key_stats],
                "computed_at": [now] * len(key_stats),
            },
        )
        written[TABLE_ROW_COUNTS_TABLE] = session.append_columns(
            qualified(GOVERNANCE_SCHEMA, TABLE_ROW_COUNTS_TABLE),
            {
                "layer": [layer_of_schema(t.schema) for t in tables],
                "table_schema": [t.schema for t in tables],
                "table_name": [t.table for t in tables],
                "row_count": [t.rows for t in tables],
                "computed_at": [now] * len(tables),
            },
        )
        written[QUARANTINE_SUMMARY_TABLE] = 0
        if session.table_exists(RAW_SCHEMA, QUARANTINE_TABLE):
            summary = qualified(GOVERNANCE_SCHEMA, QUARANTINE_SUMMARY_TABLE)
            session.execute(
                f"INSERT INTO {summary} SELECT feed, target_table, {_REASON_CATEGORY}, "
                "COUNT(*), COUNT(DISTINCT source_file), MIN(quarantined_at), "
                f"MAX(quarantined_at) FROM {qualified(RAW_SCHEMA, QUARANTINE_TABLE)} "
                "GROUP BY 1, 2, 3"
            )
            written[QUARANTINE_SUMMARY_TABLE] = session.row_count(
                GOVERNANCE_SCHEMA, QUARANTINE_SUMMARY_TABLE
            )
        written[STREAM_STATUS_TABLE] = session.append_columns(
            qualified(GOVERNANCE_SCHEMA, STREAM_STATUS_TABLE),
            {
                "name": [s.name for s in created],
                "table_name": [s.table_name for s in created],
                "mode": [s.mode for s in created],
                "stale": [s.stale for s in created],
                "pending_rows": [s.pending_rows for s in created],
                "has_data": [s.has_data for s in created],
                "last_consumed_at": [s.last_consumed_at for s in created],
                "computed_at": [now] * len(created),
            },
        )
    return written
