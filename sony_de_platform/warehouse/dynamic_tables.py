"""Dynamic-table refresh history: Snowflake's own, and the DuckDB twin's, side by side.

Snowflake records every refresh it makes in INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY()
(seven days of them). The DuckDB twin (the dbt `dynamic_table` materialization in
dbt_project/macros/dynamic_table/) appends one row per refresh to
GOVERNANCE.DYNAMIC_TABLE_REFRESH_HISTORY, with Snowflake's column names, so both are read
with the same columns into the same record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sony_de_platform.settings import Engine
from sony_de_platform.warehouse.base import Session, qualified

TWIN_REFRESH_HISTORY = ("GOVERNANCE", "DYNAMIC_TABLE_REFRESH_HISTORY")
# The twin's per-key state of a key-scoped refresh (key_scoped_refresh.sql names it
# GOVERNANCE.DT_KEY_FINGERPRINTS__<SCHEMA>__<NAME>): bookkeeping Snowflake has no table for.
TWIN_KEY_STATE_PREFIX = "DT_KEY_FINGERPRINTS__"
REFRESH_HISTORY_COLUMNS = (
    "QUALIFIED_NAME",
    "STATE",
    "STATE_MESSAGE",
    "REFRESH_ACTION",
    "REFRESH_TRIGGER",
    "DATA_TIMESTAMP",
    "REFRESH_START_TIME",
    "REFRESH_END_TIME",
    "TARGET_LAG_SEC",
    "STATISTICS",
    "QUERY_ID",
)
_COLUMNS = ", ".join(REFRESH_HISTORY_COLUMNS)

SNOWFLAKE_REFRESHES_SQL = (
    f"SELECT {_COLUMNS} FROM TABLE(INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY("
    "DATA_TIMESTAMP_START => DATEADD('day', -7, CURRENT_TIMESTAMP()), RESULT_LIMIT => 10000)) "
    "WHERE DATABASE_NAME = ? AND REFRESH_END_TIME > TO_TIMESTAMP_TZ(?) "
    "ORDER BY REFRESH_END_TIME"
)
DUCKDB_REFRESHES_SQL = (
    f"SELECT {_COLUMNS} FROM {qualified(*TWIN_REFRESH_HISTORY)} "
    "WHERE DATABASE_NAME = ? AND REFRESH_END_TIME > ? "
    "ORDER BY REFRESH_END_TIME"
)


def _as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC; a naive value is UTC already (the platform stores UTC wall-clock time)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class DynamicTableRefresh:
    """One refresh of a dynamic table; times are aware UTC."""

    qualified_name: str
    state: str
    state_message: str | None
    refresh_action: str | None
    refresh_trigger: str | None
    data_timestamp: datetime | None
    refresh_start_time: datetime | None
    refresh_end_time: datetime | None
    target_lag_sec: int | None
    statistics: str | None
    query_id: str | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> DynamicTableRefresh:
        values = dict(zip(REFRESH_HISTORY_COLUMNS, row, strict=True))
        lag, statistics = values["TARGET_LAG_SEC"], values["STATISTICS"]
        return cls(
            qualified_name=str(values["QUALIFIED_NAME"]).upper(),
            state=values["STATE"],
            state_message=values["STATE_MESSAGE"],
            refresh_action=values["REFRESH_ACTION"],
            refresh_trigger=values["REFRESH_TRIGGER"],
            data_timestamp=_as_utc(values["DATA_TIMESTAMP"]),
            refresh_start_time=_as_utc(values["REFRESH_START_TIME"]),
            refresh_end_time=_as_utc(values["REFRESH_END_TIME"]),
            target_lag_sec=None if lag is None else int(lag),
            statistics=None if statistics is None else str(statistics),
            query_id=values["QUERY_ID"],
        )


def dynamic_table_refreshes(
    session: Session, database: str, ended_after: datetime
) -> list[DynamicTableRefresh]:
    """Completed refreshes of the database's dynamic tables that ended after `ended_after`,
    oldest first."""
    if session.engine is Engine.SNOWFLAKE:
        rows = session.fetchall(
            SNOWFLAKE_REFRESHES_SQL, [database, ended_after.astimezone(UTC).isoformat()]
        )
    elif session.table_exists(*TWIN_REFRESH_HISTORY):
        rows = session.fetchall(
            DUCKDB_REFRESHES_SQL, [database, ended_after.astimezone(UTC).replace(tzinfo=None)]
        )
    else:
        rows = []  # no dynamic table refreshed yet
    return [DynamicTableRefresh.from_row(row) for row in rows]
