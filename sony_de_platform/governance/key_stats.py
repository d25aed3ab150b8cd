"""The Key Stats table: figures of the medallion computed from the warehouse itself."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sony_de_platform.bronze.feeds import FEEDS, RAW_SCHEMA
from sony_de_platform.quality.measurement import latest_dmf_outcome
from sony_de_platform.quality.registry import load_registry
from sony_de_platform.settings import Settings
from sony_de_platform.transform.project import build_dbt_project
from sony_de_platform.transform.test_results import (
    GOVERNANCE_SCHEMA,
    TEST_RESULTS_TABLE,
    configured_data_tests,
)
from sony_de_platform.warehouse import Session, open_warehouse, qualified

# Silver Layer Rows counts the conformed Silver tables (dimensions and facts): STG is the
# staging area (incremental staging tables and views), the snapshot is reported on its own.
SILVER_SCHEMAS = ("DIMS", "FACTS")
GOLD_SCHEMAS = ("STUDIO_OPS", "MARKETING")
SNAPSHOT = ("DIMS", "SNP_FAN_PROFILES")


@dataclass(frozen=True)
class TableCount:
    schema: str
    table: str
    rows: int


@dataclass(frozen=True)
class KeyStats:
    bronze_rows: int
    silver_rows: int
    gold_rows: int
    dmf_passing: int
    dmf_total: int
    dbt_tests_configured: int
    dbt_tests_passing: int
    snapshot_rows: int
    tables: tuple[TableCount, ...]

    def rows(self) -> list[tuple[str, str]]:
        """(metric, value as shown), in the order of the Key Stats table."""
        return [
            ("Bronze Layer Rows", f"{self.bronze_rows:,}"),
            ("Silver Layer Rows", f"{self.silver_rows:,}"),
            ("Gold Layer Rows", f"{self.gold_rows:,}"),
            ("DMF Checks", f"{self.dmf_passing}/{self.dmf_total} Passing"),
            (
                "dbt Tests",
                f"{self.dbt_tests_configured} Configured, {self.dbt_tests_passing} Passing",
            ),
            ("SCD2 Snapshot Records", f"{self.snapshot_rows:,}"),
        ]

    def as_markdown(self) -> str:
        lines = (f"| {name} | {value} |" for name, value in self.rows())
        return "\n".join(["| Metric | Value |", "|---|---|", *lines])


def materialized_tables(session: Session, schemas: tuple[str, ...]) -> list[TableCount]:
    """Row counts of the base tables (not views) in the given schemas."""
    placeholders = ", ".join("?" for _ in schemas)
    found = session.fetchall(
        "SELECT upper(table_schema), upper(table_name) FROM information_schema.tables "
        f"WHERE upper(table_schema) IN ({placeholders}) AND table_type = 'BASE TABLE' "
        "ORDER BY 1, 2",
        list(schemas),
    )
    return [TableCount(s, t, session.row_count(s, t)) for s, t in found]


def _passing_data_tests(session: Session) -> int:
    """Data tests whose latest recorded outcome is a pass."""
    if not session.table_exists(GOVERNANCE_SCHEMA, TEST_RESULTS_TABLE):
        return 0
    table = qualified(GOVERNANCE_SCHEMA, TEST_RESULTS_TABLE)
    return int(
        session.scalar(
            f"""
            WITH latest AS (
                SELECT status,
                       row_number() OVER (PARTITION BY unique_id ORDER BY recorded_at DESC) AS n
                FROM {table}
                WHERE test_kind = 'data_test'
            )
            SELECT COUNT(*) FROM latest WHERE n = 1 AND status = 'pass'
            """
        )
        or 0
    )


def dmf_outcome_in(session: Session, database: str) -> tuple[int, int]:
    """(passing, evaluated) DMF checks on the tables of `database`, the warehouse's own (on
    Snowflake SNOWFLAKE_DATABASE, e.g. a per-run database; the registry names SONY_DE)."""
    return latest_dmf_outcome(session, load_registry().in_database(database))


def compute_key_stats(
    session: Session,
    dbt_tests_configured: int,
    database: str,
    dmf_outcome: tuple[int, int] | None = None,
) -> KeyStats:
    """Figures of the warehouse's `database`; `dmf_outcome` is (passing, total) DMF checks,
    read from the data-quality results unless given."""
    bronze = [
        TableCount(RAW_SCHEMA, feed.table, session.row_count(RAW_SCHEMA, feed.table))
        for feed in FEEDS
        if session.table_exists(RAW_SCHEMA, feed.table)
    ]
    silver_all = materialized_tables(session, SILVER_SCHEMAS)
    silver = [t for t in silver_all if (t.schema, t.table) != SNAPSHOT]
    snapshot = [t for t in silver_all if (t.schema, t.table) == SNAPSHOT]
    gold = materialized_tables(session, GOLD_SCHEMAS)
    dmf_passing, dmf_total = (
        dmf_outcome if dmf_outcome is not None else dmf_outcome_in(session, database)
    )
    return KeyStats(
        bronze_rows=sum(t.rows for t in bronze),
        silver_rows=sum(t.rows for t in silver),
        gold_rows=sum(t.rows for t in gold),
        dmf_passing=dmf_passing,
        dmf_total=dmf_total,
        dbt_tests_configured=dbt_tests_configured,
        dbt_tests_passing=_passing_data_tests(session),
        snapshot_rows=sum(t.rows for t in snapshot),
        tables=tuple(bronze + silver_all + gold),
    )


def project_data_tests(settings: Settings) -> int:
    """Data tests configured in the dbt project (from its manifest)."""
    manifest = json.loads(build_dbt_project(settings).manifest_path.read_text())
    return configured_data_tests(manifest)


def current_key_stats(settings: Settings, dmf_outcome: tuple[int, int] | None = None) -> KeyStats:
    """Key Stats of the configured warehouse, with the dbt project's configured tests; the
    DMF outcome is read from the data-quality results unless given."""
    configured = project_data_tests(settings)
    with open_warehouse(settings) as warehouse, warehouse.session(read_only=True) as session:
        return compute_key_stats(session, configured, warehouse.database, dmf_outcome)
