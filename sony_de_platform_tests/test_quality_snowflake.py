"""DMFs on Snowflake: the exact DDL and check queries sent, recorded by a connection double
that answers like Snowflake (INFORMATION_SCHEMA, DATA_METRIC_FUNCTION_REFERENCES, ad hoc
DMF calls, SNOWFLAKE.LOCAL.DATA_QUALITY_MONITORING_RESULTS). A live test, skipped without
an account, runs the same deployment against Snowflake itself."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    AssetSpec,
    Definitions,
    ExecuteInProcessResult,
    define_asset_job,
)

from sony_de_platform.governance.key_stats import compute_key_stats
from sony_de_platform.quality.checks import build_table_checks
from sony_de_platform.quality.measurement import latest_dmf_outcome, measure
from sony_de_platform.quality.registry import load_registry, parse_registry
from sony_de_platform.settings import Engine, load_settings
from sony_de_platform.warehouse import Warehouse, build_warehouse
from sony_de_platform.warehouse.data_metrics import DATA_METRIC_ENGINES
from sony_de_platform.warehouse.snowflake import SnowflakeSession

SNOWFLAKE = DATA_METRIC_ENGINES[Engine.SNOWFLAKE]
_ADD = re.compile(
    r"^ALTER (?:TABLE|VIEW) (\S+) ADD DATA METRIC FUNCTION (\S+) ON \(([^)]*)\)", re.IGNORECASE
)
_REFERENCES = re.compile(r"REF_ENTITY_NAME => '([^']+)'")

LATEST_RESULTS = (
    "SELECT UPPER(table_schema), UPPER(table_name), UPPER(metric_database || '.' || "
    "metric_schema || '.' || metric_name), UPPER(ARRAY_TO_STRING(argument_names, ',')), value, "
    "measurement_time FROM SNOWFLAKE.LOCAL.DATA_QUALITY_MONITORING_RESULTS WHERE "
    "UPPER(table_database) = ? QUALIFY ROW_NUMBER() OVER (PARTITION BY UPPER(table_schema), "
    "UPPER(table_name), UPPER(metric_database || '.' || metric_schema || '.' || metric_name), "
    "UPPER(ARRAY_TO_STRING(argument_names, ',')) ORDER BY measurement_time DESC) = 1"
)


class FakeSnowflake:
    """Records (sql, params) of every statement; keeps the DMF attachments it was told to add."""

    def __init__(self, views: set[str] = frozenset(), values: dict[str, Any] | None = None):
        self.statements: list[tuple[str, Any]] = []
        self.attached: dict[str, list[tuple[str, list[str]]]] = {}
        self.views = views
        self.values = values or {}
        self.scheduled: list[tuple] = []

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    def answer(self, sql: str, params: Any) -> list[tuple]:
        if "INFORMATION_SCHEMA.TABLES" in sql:
            tables = ["DIM_TITLES", "DIM_FANS", "STG_FAN_INTERACTIONS", "FACT_DAILY_PERFORMANCE"]
            schema_of = {
                "DIM_TITLES": "DIMS",
                "DIM_FANS": "DIMS",
                "FACT_DAILY_PERFORMANCE": "FACTS",
            }
            return [
                (schema_of.get(t, "STG"), t, "VIEW" if t in self.views else "BASE TABLE")
                for t in tables
                if schema_of.get(t, "STG") in params
            ]
        if match := _REFERENCES.search(sql):
            return [
                (*metric.split("."), json.dumps([{"domain": "COLUMN", "name": c} for c in columns]))
                for metric, columns in self.attached.get(match.group(1), [])
            ]
        if match := _ADD.match(sql):
            table, metric, columns = match.groups()
            names = [c.strip().upper() for c in columns.split(",") if c.strip()]
            self.attached.setdefault(table, []).append((metric, names))
            return []
        if "DATA_QUALITY_MONITORING_RESULTS" in sql:
            return self.scheduled
        for name, value in self.values.items():
            if sql.startswith(f"SELECT {name}("):
                return [(value,)]
        if sql.startswith("SELECT ") and "(SELECT " in sql and "violations" not in sql:
            return [(0,)]
        if "violations" in sql:
            return [("TT-000001",), ("TT-000002",)]
        if sql.startswith("WITH arg_t AS"):
            return [(42,)]
        return []


class _Cursor:
    def __init__(self, fake: FakeSnowflake) -> None:
        self.fake = fake
        self.rows: list[tuple] = []

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: Any = None) -> None:
        self.fake.statements.append((sql, params))
        self.rows = self.fake.answer(sql, params)

    def fetchall(self) -> list[tuple]:
        return self.rows


def _sql(fake: FakeSnowflake) -> list[str]:
    return [sql for sql, _ in fake.statements]


DIM_TITLES_DEPLOYMENT = [
    "CREATE SCHEMA IF NOT EXISTS SONY_DE.GOVERNANCE",
    "CREATE DATA METRIC FUNCTION IF NOT EXISTS SONY_DE.GOVERNANCE.VALID_IMDB_SCORE("
    "arg_t TABLE(arg_c NUMBER)) RETURNS NUMBER COMMENT = 'IMDB scores lie between 0 and 10 "
    "(NULL means the feed\\'s value was dropped).' AS $$SELECT COUNT(*) FROM arg_t WHERE "
    "arg_c IS NOT NULL AND (arg_c < 0 OR arg_c > 10)$$",
    "SELECT table_schema, table_name, table_type FROM SONY_DE.INFORMATION_SCHEMA.TABLES "
    "WHERE table_schema IN (?)",
    "SELECT metric_database_name, metric_schema_name, metric_name, ref_arguments FROM "
    "TABLE(SONY_DE.INFORMATION_SCHEMA.DATA_METRIC_FUNCTION_REFERENCES("
    "REF_ENTITY_NAME => 'SONY_DE.DIMS.DIM_TITLES', REF_ENTITY_DOMAIN => 'TABLE'))",
    "ALTER TABLE SONY_DE.DIMS.DIM_TITLES SET DATA_METRIC_SCHEDULE = '60 MINUTE'",
    "ALTER TABLE SONY_DE.DIMS.DIM_TITLES ADD DATA METRIC FUNCTION "
    "SONY_DE.GOVERNANCE.VALID_IMDB_SCORE ON (imdb_score) "
    "EXPECTATION valid_imdb_score_expectation (VALUE = 0)",
    "ALTER TABLE SONY_DE.DIMS.DIM_TITLES ADD DATA METRIC FUNCTION SNOWFLAKE.CORE.NULL_COUNT "
    "ON (title_id) EXPECTATION null_count_expectation (VALUE = 0)",
    "ALTER TABLE SONY_DE.DIMS.DIM_TITLES ADD DATA METRIC FUNCTION "
    "SNOWFLAKE.CORE.DUPLICATE_COUNT ON (title_id) EXPECTATION duplicate_count_expectation "
    "(VALUE = 0)",
]


def test_deployment_ddl_is_exact_and_idempotent() -> None:
    fake = FakeSnowflake()
    session = SnowflakeSession(fake)
    issued = SNOWFLAKE.deploy(session, load_registry(), [("DIMS", "dim_titles")])
    assert _sql(fake) == DIM_TITLES_DEPLOYMENT
    assert issued == [s for s in DIM_TITLES_DEPLOYMENT if not s.startswith("SELECT")]
    assert fake.statements[2][1] == ["DIMS"]

    fake.statements.clear()
    SNOWFLAKE.deploy(session, load_registry(), [("DIMS", "dim_titles")])
    assert not [s for s in _sql(fake) if "ADD DATA METRIC FUNCTION" in s]
    assert _sql(fake) == DIM_TITLES_DEPLOYMENT[:5]  # create-if-not-exists, read, schedule


def test_deployment_adds_only_what_is_missing_and_alters_views_as_views() -> None:
    fake = FakeSnowflake(views={"STG_FAN_INTERACTIONS"})
    fake.attached["SONY_DE.STG.STG_FAN_INTERACTIONS"] = [
        ("SONY_DE.GOVERNANCE.NO_FUTURE_EVENTS", ["EVENT_TS", "_LOADED_AT"]),
        ("SONY_DE.GOVERNANCE.VALID_RATING", ["AMOUNT_USD"]),  # same DMF, other column: re-add
    ]
    SNOWFLAKE.deploy(SnowflakeSession(fake), load_registry(), [("STG", "stg_fan_interactions")])
    adds = [s for s in _sql(fake) if "ADD DATA METRIC FUNCTION" in s]
    assert adds == [
        "ALTER VIEW SONY_DE.STG.STG_FAN_INTERACTIONS ADD DATA METRIC FUNCTION "
        "SONY_DE.GOVERNANCE.VALID_EMAIL_HASH ON (email_hash) "
        "EXPECTATION valid_email_hash_expectation (VALUE = 0)",
        "ALTER VIEW SONY_DE.STG.STG_FAN_INTERACTIONS ADD DATA METRIC FUNCTION "
        "SONY_DE.GOVERNANCE.VALID_RATING ON (rating) "
        "EXPECTATION valid_rating_expectation (VALUE = 0)",
        "ALTER VIEW SONY_DE.STG.STG_FAN_INTERACTIONS ADD DATA METRIC FUNCTION "
        "SONY_DE.GOVERNANCE.PRICED_PURCHASES ON (is_purchase, amount_usd) "
        "EXPECTATION priced_purchases_expectation (VALUE = 0)",
        "ALTER VIEW SONY_DE.STG.STG_FAN_INTERACTIONS ADD DATA METRIC FUNCTION "
        "SONY_DE.GOVERNANCE.MALFORMED_EMAIL_PERCENT ON (has_valid_email) "
        "EXPECTATION malformed_email_percent_expectation (VALUE <= 2)",
    ]
    assert (
        "SELECT metric_database_name, metric_schema_name, metric_name, ref_arguments FROM "
        "TABLE(SONY_DE.INFORMATION_SCHEMA.DATA_METRIC_FUNCTION_REFERENCES("
        "REF_ENTITY_NAME => 'SONY_DE.STG.STG_FAN_INTERACTIONS', REF_ENTITY_DOMAIN => 'VIEW'))"
    ) in _sql(fake)


def test_checks_call_each_dmf_ad_hoc_and_read_the_scheduled_results() -> None:
    registry = load_registry()
    measured_at = datetime(2026, 11, 28, 9, 0)
    fake = FakeSnowflake(values={"SONY_DE.GOVERNANCE.VALID_IMDB_SCORE": 2})
    fake.scheduled = [
        (
            "DIMS",
            "DIM_TITLES",
            "SONY_DE.GOVERNANCE.VALID_IMDB_SCORE",
            "IMDB_SCORE",
            "0",
            measured_at,
        )
    ]
    attachments = registry.attachments_on("DIMS", "dim_titles")
    measurements = measure(SnowflakeSession(fake), registry, attachments)

    assert _sql(fake) == [
        "SELECT SONY_DE.GOVERNANCE.VALID_IMDB_SCORE("
        "SELECT imdb_score FROM SONY_DE.DIMS.DIM_TITLES)",
        "WITH arg_t AS (SELECT imdb_score AS arg_c, title_id FROM SONY_DE.DIMS.DIM_TITLES) "
        "SELECT title_id FROM (SELECT * FROM arg_t WHERE arg_c IS NOT NULL AND (arg_c < 0 OR "
        "arg_c > 10)) AS violations ORDER BY title_id LIMIT 10",
        "SELECT SNOWFLAKE.CORE.NULL_COUNT(SELECT title_id FROM SONY_DE.DIMS.DIM_TITLES)",
        "SELECT SNOWFLAKE.CORE.DUPLICATE_COUNT(SELECT title_id FROM SONY_DE.DIMS.DIM_TITLES)",
        LATEST_RESULTS,
    ]
    assert fake.statements[-1][1] == ["SONY_DE"]
    imdb, nulls, duplicates = measurements
    assert (imdb.value, imdb.passed) == (2.0, False)
    assert imdb.violating_keys == [{"title_id": "TT-000001"}, {"title_id": "TT-000002"}]
    assert imdb.latest_recorded is not None
    assert (imdb.latest_recorded.value, imdb.latest_recorded.measurement_time) == (0.0, measured_at)
    assert (nulls.passed, duplicates.passed) == (True, True)
    assert not [s for s in _sql(fake) if s.startswith("INSERT")]  # Snowflake records its own


def test_row_count_is_not_callable_directly_so_its_semantics_run_instead() -> None:
    registry = load_registry()
    fake = FakeSnowflake()
    (row_count,) = [
        a for a in registry.attachments_on("FACTS", "fact_daily_performance")
        if a.check_name == "row_count"
    ]  # fmt: skip
    (measurement,) = measure(SnowflakeSession(fake), registry, [row_count])
    assert _sql(fake)[0] == (
        "WITH arg_t AS (SELECT * FROM SONY_DE.FACTS.FACT_DAILY_PERFORMANCE) "
        "SELECT COUNT(*) FROM arg_t"
    )
    assert measurement.value == 42 and measurement.passed


def test_key_stats_read_snowflakes_results_view() -> None:
    fake = FakeSnowflake()
    fake.scheduled = [
        ("DIMS", "DIM_TITLES", "SONY_DE.GOVERNANCE.VALID_IMDB_SCORE", "IMDB_SCORE", "0", None),
        ("DIMS", "DIM_TITLES", "SNOWFLAKE.CORE.NULL_COUNT", "TITLE_ID", "3", None),
        ("DIMS", "DIM_TITLES", "SONY_DE.GOVERNANCE.UNKNOWN_DMF", "TITLE_ID", "0", None),
        # VALUE is a VARIANT: a percentage arrives as JSON text with its fraction
        (
            "STG",
            "STG_FAN_INTERACTIONS",
            "SONY_DE.GOVERNANCE.MALFORMED_EMAIL_PERCENT",
            "HAS_VALID_EMAIL",
            "1.020000",
            None,
        ),
    ]
    assert latest_dmf_outcome(SnowflakeSession(fake)) == (2, 3)
    fake.scheduled[-1] = (*fake.scheduled[-1][:4], "2.000001", None)
    assert latest_dmf_outcome(SnowflakeSession(fake)) == (1, 3)  # past 2%, by a hair
    fake.scheduled[-1] = (*fake.scheduled[-1][:4], None, None)
    assert latest_dmf_outcome(SnowflakeSession(fake)) == (2, 3)  # no rows: NULL, no violation
    assert _sql(fake) == [LATEST_RESULTS] * 3


def test_key_stats_read_the_results_of_the_configured_database() -> None:
    """A per-run database (SNOWFLAKE_DATABASE) holds the tables and the custom DMFs: the DMF
    Checks line filters the results view on it, not on the registry's SONY_DE."""
    fake = FakeSnowflake()
    fake.scheduled = [
        ("DIMS", "DIM_TITLES", "SONY_DE_CI_1.GOVERNANCE.VALID_IMDB_SCORE", "IMDB_SCORE", "0", None),
        ("DIMS", "DIM_TITLES", "SNOWFLAKE.CORE.NULL_COUNT", "TITLE_ID", "3", None),
    ]
    stats = compute_key_stats(SnowflakeSession(fake), 0, "SONY_DE_CI_1")
    assert (stats.dmf_passing, stats.dmf_total) == (1, 2)
    assert [params for sql, params in fake.statements if sql == LATEST_RESULTS] == [
        ["SONY_DE_CI_1"]
    ]


@pytest.mark.snowflake_live
def test_live_deploy_twice_and_call_ad_hoc() -> None:
    if not os.environ.get("SNOWFLAKE_ACCOUNT"):
        pytest.skip("no Snowflake account (SNOWFLAKE_ACCOUNT and credentials not set)")
    settings = load_settings({**os.environ, "SONY_DE_TARGET": "snowflake"})
    schema = f"DQ_TEST_{uuid.uuid4().hex[:8].upper()}"
    registry = parse_registry(
        {
            "database": settings.snowflake_values.get("database", "SONY_DE"),
            "schema": schema,
            "tables": {f"{schema}.scores": ["title_id"]},
            "functions": [
                {
                    "name": "valid_imdb_score",
                    "arguments": {"arg_c": "NUMBER"},
                    "body": load_registry().functions[0].body,
                    "expectation": "VALUE = 0",
                    "severity": "ERROR",
                    "owner": "team:data-platform",
                    "runbook": "live test",
                    "attached_to": [{"table": f"{schema}.scores", "columns": ["score"]}],
                },
                {  # a percentage keeps its fraction: RETURNS NUMBER must not round it
                    "name": "invalid_imdb_score_percent",
                    "arguments": {"arg_c": "NUMBER"},
                    "body": "SELECT COUNT_IF(arg_c < 0 OR arg_c > 10) * 100.0 "
                    "/ NULLIF(COUNT(*), 0) FROM arg_t",
                    "expectation": "VALUE <= 2",
                    "severity": "WARN",
                    "owner": "team:data-platform",
                    "runbook": "live test",
                    "attached_to": [{"table": f"{schema}.scores", "columns": ["score"]}],
                },
            ],
        },
        Path("live-test"),
    )
    with build_warehouse(settings).session() as session:
        session.execute(f"CREATE SCHEMA {registry.database}.{schema}")
        try:
            table = f"{registry.database}.{schema}.scores"
            session.execute(f"CREATE TABLE {table} (title_id VARCHAR, score NUMBER(3, 1))")
            session.execute(f"INSERT INTO {table} VALUES ('a', 5), ('b', 12), ('c', 6)")
            SNOWFLAKE.deploy(session, registry)
            assert not [s for s in SNOWFLAKE.deploy(session, registry) if " ADD DATA " in s]
            count, percent = measure(session, registry, registry.attachments)
            assert count.value == 1 and not count.passed
            assert percent.value == pytest.approx(100 / 3, abs=1e-4) and not percent.passed
        finally:
            session.execute(f"DROP SCHEMA IF EXISTS {registry.database}.{schema} CASCADE")


class RecordedSnowflake(Warehouse):
    """The warehouse resource on Snowflake, its connection replaced by the recording double."""

    @property
    def engine(self) -> Engine:
        return Engine.SNOWFLAKE

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[SnowflakeSession]:
        yield SnowflakeSession(CONNECTIONS["current"])


CONNECTIONS: dict[str, FakeSnowflake] = {}


def run_check_step(
    schema: str, table: str, values: dict[str, Any]
) -> tuple[FakeSnowflake, ExecuteInProcessResult]:
    """Run the DMF check step of one Silver table against the recording double, whose ad hoc
    DMF calls answer `values` (0 for the others)."""
    registry = load_registry()
    key = AssetKey([schema, table])
    checks = build_table_checks(
        registry, key, registry.attachments_on(schema, table), True, Engine.SNOWFLAKE
    )
    CONNECTIONS["current"] = fake = FakeSnowflake(values=values)
    defs = Definitions(
        assets=[AssetSpec(key)],
        asset_checks=[checks],
        jobs=[define_asset_job("table_dmfs", selection=AssetSelection.checks(checks))],
        resources={"warehouse": RecordedSnowflake()},
    )
    return fake, defs.resolve_job_def("table_dmfs").execute_in_process(raise_on_error=False)


def test_the_check_step_deploys_then_calls_each_dmf(tmp_path: Path) -> None:
    fake, result = run_check_step("DIMS", "dim_titles", {"SONY_DE.GOVERNANCE.VALID_IMDB_SCORE": 2})
    sql = _sql(fake)
    assert sql[: len(DIM_TITLES_DEPLOYMENT)] == DIM_TITLES_DEPLOYMENT
    assert sql[len(DIM_TITLES_DEPLOYMENT)].startswith("SELECT SONY_DE.GOVERNANCE.VALID_IMDB_SCORE(")
    assert sql[-1] == LATEST_RESULTS
    outcomes = {
        e.asset_check_evaluation_data.check_name: (
            e.asset_check_evaluation_data.passed,
            e.asset_check_evaluation_data.blocking,
        )
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert outcomes == {
        "valid_imdb_score": (False, True),
        "null_count": (True, True),
        "duplicate_count": (True, True),
    }
    assert not result.success  # a blocking ERROR check failed: what stops Gold downstream


def _evaluations(result: ExecuteInProcessResult) -> dict[str, Any]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_malformed_email_percent_past_the_tolerated_rate_warns_without_blocking() -> None:
    """The known malformed-e-mail defect: past 2% of the interactions (a NUMBER with a scale,
    as the connector returns it) the check fails with WARN, is not blocking (it stops no Gold
    step) and the run succeeds; the ERROR checks beside it on the same Silver table stay
    blocking."""
    fake, result = run_check_step(
        "STG",
        "stg_fan_interactions",
        {"SONY_DE.GOVERNANCE.MALFORMED_EMAIL_PERCENT": Decimal("2.01")},
    )
    assert (
        "SELECT SONY_DE.GOVERNANCE.MALFORMED_EMAIL_PERCENT("
        "SELECT has_valid_email FROM SONY_DE.STG.STG_FAN_INTERACTIONS)"
    ) in _sql(fake)
    assert (
        "WITH arg_t AS (SELECT has_valid_email AS arg_c, interaction_id FROM "
        "SONY_DE.STG.STG_FAN_INTERACTIONS) SELECT interaction_id FROM (SELECT * FROM arg_t "
        "WHERE arg_c IS NULL OR NOT arg_c) AS violations ORDER BY interaction_id LIMIT 10"
    ) in _sql(fake)
    evaluations = _evaluations(result)
    outcomes = {name: (e.passed, e.severity.value, e.blocking) for name, e in evaluations.items()}
    assert outcomes == {
        "valid_email_hash": (True, "ERROR", True),
        "no_future_events": (True, "ERROR", True),
        "valid_rating": (True, "WARN", False),
        "priced_purchases": (True, "ERROR", True),
        "malformed_email_percent": (False, "WARN", False),
    }
    metadata = evaluations["malformed_email_percent"].metadata
    assert metadata["value"].value == 2.01
    assert metadata["measure"].value == "percent of rows"
    assert metadata["expectation"].value == "VALUE <= 2"
    assert evaluations["valid_rating"].metadata["measure"].value == "rows"
    assert result.success  # a failed WARN check reports; it stops nothing downstream


@pytest.mark.parametrize(
    ("value", "passed", "shown"),
    [(Decimal("1.994"), True, 1.994), (None, True, "no rows to measure")],
)
def test_malformed_email_percent_within_the_rate_or_over_no_rows_passes(
    value: Decimal | None, passed: bool, shown: float | str
) -> None:
    """Within 2% the check passes with its fractional value; over an empty table the DMF
    returns NULL (Snowflake's EXPECTATION is then NULL, which it does not report as a
    violation): the check passes too and says there was nothing to measure."""
    fake, result = run_check_step(
        "STG", "stg_fan_interactions", {"SONY_DE.GOVERNANCE.MALFORMED_EMAIL_PERCENT": value}
    )
    evaluation = _evaluations(result)["malformed_email_percent"]
    assert evaluation.passed is passed
    assert evaluation.metadata["value"].value == shown
    assert evaluation.metadata["violating_rows"].value == []
    assert not [sql for sql in _sql(fake) if "violations" in sql]  # nothing to list
    assert result.success


def test_a_per_run_database_holds_its_own_dmfs_beside_its_tables() -> None:
    """`SNOWFLAKE_DATABASE` other than SONY_DE (a per-run test database): the custom DMFs are
    created, attached and called there; the system DMFs stay in SNOWFLAKE.CORE."""
    registry = load_registry()
    assert registry.in_database("sony_de") is registry
    per_run = registry.in_database("sony_de_ci_1")
    assert per_run.database == "SONY_DE_CI_1"
    assert {f.qualified_name.rsplit(".", 1)[0] for f in per_run.custom_functions} == {
        "SONY_DE_CI_1.GOVERNANCE"
    }
    assert [a.function.name for a in per_run.attachments] == [
        a.function.name for a in registry.attachments
    ]
    assert all(a.function in per_run.functions for a in per_run.attachments)
    assert {a.function.qualified_name for a in per_run.attachments if a.function.system} == {
        a.function.qualified_name for a in registry.attachments if a.function.system
    }
    fake = FakeSnowflake()
    SNOWFLAKE.deploy(SnowflakeSession(fake), per_run, [("DIMS", "dim_titles")])
    assert _sql(fake) == [
        re.sub(r"\bSONY_DE\.", "SONY_DE_CI_1.", sql) for sql in DIM_TITLES_DEPLOYMENT
    ]
