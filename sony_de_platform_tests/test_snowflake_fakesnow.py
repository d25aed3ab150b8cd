"""The Snowflake target end to end against fakesnow, a Snowflake wire-compatible server.

One landing folder goes through the platform twice: on the Snowflake target (the deploy
job, the Bronze assets through snowflake-connector-python, `dbt build --full-refresh`
through dbt-snowflake) and on DuckDB. Every model, the snapshot and the RAW tables must
hold the same rows on both. The statements the platform sent outside dbt are asserted
exactly from the wire recording.

fakesnow cannot run dbt unit tests ("TEMPORARY table names can only use the temp
catalog"), so this run excludes them with dbt's DBT_EXCLUDE_RESOURCE_TYPES; they run on
DuckDB in test_pipeline.py. The stream the routing consumes runs on the harness's twin
(see fakesnow_harness.py). Two things fakesnow cannot evaluate are left out of the run and
proven by their exact SQL instead (test_quality_snowflake.py): the DMF checks (DATA METRIC
FUNCTION objects) and the monitor summaries, whose DMF line reads the account view
SNOWFLAKE.LOCAL.DATA_QUALITY_MONITORING_RESULTS.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from dagster import AssetCheckKey, AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult
from sqlglot import exp

from sony_de_platform import cli
from sony_de_platform.bronze.feeds import FEEDS, LOAD_METADATA_COLUMNS
from sony_de_platform.bronze.loader import STAGE_BATCH_BYTES
from sony_de_platform.cdc.routing import GUEST_SCHEMA, GUEST_TABLE, SECURE_SCHEMA, VAULT_TABLE
from sony_de_platform.cdc.streams import STREAMS
from sony_de_platform.definitions import build_definitions
from sony_de_platform.demo import split_into_waves
from sony_de_platform.governance.assets import MONITOR_SUMMARIES_KEY
from sony_de_platform.governance.deploy_job import SNOWFLAKE_DEPLOY
from sony_de_platform.governance.key_stats import current_key_stats
from sony_de_platform.governance.snowflake_deploy import DeployTarget, deploy_plan, render_script
from sony_de_platform.jobs import MEDALLION_FULL_BUILD
from sony_de_platform.quality.registry import load_registry
from sony_de_platform.settings import REPO_ROOT, Settings, get_settings, load_settings
from sony_de_platform.synthetic import generate_landing_data
from sony_de_platform.warehouse import Session, build_warehouse, open_warehouse
from sony_de_platform.warehouse.snowflake import rows_per_insert
from sony_de_platform_tests.fakesnow_harness import FakeSnowflake, SentStatement

pytestmark = pytest.mark.slow

DATABASE = "SONY_DE_FAKESNOW"
SCALE, SEED = 0.02, 7
DBT_STEPS = ("silver_dbt_models", "gold_dbt_models", "fan_profile_snapshots")
# Columns whose values depend on when or by which run a row was written.
VOLATILE_COLUMNS = {
    "_load_id",
    "_loaded_at",
    "load_id",
    "loaded_at",
    "run_id",
    "quarantined_at",
    "dbt_scd_id",
    "dbt_updated_at",
    "dbt_valid_from",
    "dbt_valid_to",
    "routed_at",
}
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}  # no-ops on fakesnow (see the harness)
ROUTED = [(SECURE_SCHEMA, VAULT_TABLE), (GUEST_SCHEMA, GUEST_TABLE)]


@dataclass
class SnowflakeRun:
    settings: Settings
    defs: Definitions
    instance: DagsterInstance
    password: str
    deploy: tuple[ExecuteInProcessResult, list[SentStatement]]
    cli_deploy: tuple[int, str, list[SentStatement]]  # exit code, output, statements
    bronze: tuple[ExecuteInProcessResult, list[SentStatement]]
    dbt: tuple[ExecuteInProcessResult, list[SentStatement]]
    log_records: list[logging.LogRecord]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first of four waves of a small generated landing folder (about three weeks)."""
    root = tmp_path_factory.mktemp("landing-data")
    generated = root / "generated"
    manifest = generate_landing_data(generated, scale=SCALE, seed=SEED)
    landing = root / "landing"
    for path in split_into_waves(generated, manifest, 4)[0]:
        target = landing / path.relative_to(generated)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return landing


@pytest.fixture(scope="module")
def snowflake_run(
    fakesnow: FakeSnowflake, landing: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SnowflakeRun]:
    password = f"fakesnow-secret-{uuid.uuid4().hex}"
    environment = {
        **fakesnow.environment(password, DATABASE),
        "SONY_DE_DATA_DIR": str(tmp_path_factory.mktemp("snowflake-target") / "data"),
        "SONY_DE_LANDING_DIR": str(landing),
        "SONY_DE_LANDING_SETTLE_SECONDS": "0",  # the copied files are complete
        "DBT_EXCLUDE_RESOURCE_TYPES": "unit_test",
    }
    collector = _Collect()
    # Where the connector logs logins and authentication, at its most verbose.
    login_loggers = [
        logging.getLogger(name)
        for name in ("snowflake.connector.connection", "snowflake.connector.auth")
    ]
    # The dbt subprocess and EnvVar resolution read the process environment.
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        settings = load_settings()
        defs = build_definitions(settings)
        instance = DagsterInstance.ephemeral()
        logging.getLogger().addHandler(collector)
        previous_levels = [logger.level for logger in login_loggers]
        for logger in login_loggers:
            logger.setLevel(logging.DEBUG)
        try:

            def execute(
                job: str,
                asset_selection: set[AssetKey] | None = None,
                check_selection: set[AssetCheckKey] | None = None,
                **kwargs: Any,
            ) -> tuple[ExecuteInProcessResult, list]:
                job_def = defs.resolve_job_def(job)
                if asset_selection is not None:
                    job_def = job_def.get_subset(
                        asset_selection=asset_selection, asset_check_selection=check_selection
                    )
                mark = fakesnow.mark()
                result = job_def.execute_in_process(
                    instance=instance, raise_on_error=False, **kwargs
                )
                return result, fakesnow.sent_since(mark)

            deploy = execute(SNOWFLAKE_DEPLOY)
            # The second deploy through the command line: the same statements, in order.
            get_settings.cache_clear()
            output = io.StringIO()
            mark = fakesnow.mark()
            with redirect_stdout(output), redirect_stderr(output):
                exit_code = cli.main(["snowflake", "deploy"])
            cli_deploy = (exit_code, output.getvalue(), fakesnow.sent_since(mark))
            graph = defs.resolve_asset_graph()
            bronze_keys = {AssetKey(["raw", feed.asset_name]) for feed in FEEDS}
            later_keys = graph.get_all_asset_keys() - bronze_keys - {MONITOR_SUMMARIES_KEY}
            dmf_names = {attachment.check_name for attachment in load_registry().attachments}
            bronze = execute(
                MEDALLION_FULL_BUILD,
                bronze_keys,
                graph.get_check_keys_for_assets(bronze_keys),
            )
            dbt = execute(
                MEDALLION_FULL_BUILD,
                later_keys,
                {
                    key
                    for key in graph.get_check_keys_for_assets(later_keys)
                    if key.name not in dmf_names
                },
                run_config={
                    "ops": {step: {"config": {"full_refresh": True}} for step in DBT_STEPS}
                },
            )
        finally:
            get_settings.cache_clear()
            logging.getLogger().removeHandler(collector)
            for logger, level in zip(login_loggers, previous_levels, strict=True):
                logger.setLevel(level)
        yield SnowflakeRun(
            settings, defs, instance, password, deploy, cli_deploy, bronze, dbt, collector.records
        )


@pytest.fixture(scope="module")
def duckdb_settings(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The same landing folder through the default engine."""
    settings = load_settings(
        {
            "SONY_DE_DATA_DIR": str(tmp_path_factory.mktemp("duckdb-target") / "data"),
            "SONY_DE_LANDING_DIR": str(landing),
            "SONY_DE_LANDING_SETTLE_SECONDS": "0",
        }
    )
    result = (
        build_definitions(settings)
        .resolve_job_def(MEDALLION_FULL_BUILD)
        .execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return settings


def failures(result: ExecuteInProcessResult) -> list[str]:
    return [str(event.message) for event in result.all_events if event.is_failure]


# --- deploy ------------------------------------------------------------------------------


def test_deploy_job_and_cli_send_exactly_the_deploy_script_twice_over(
    snowflake_run: SnowflakeRun,
) -> None:
    """Both runs succeed and send the same script: the second one finds everything in place."""
    expected = [s.sql for s in deploy_plan(DeployTarget(DATABASE, "SONY_DE_WH"))]
    result, sent = snowflake_run.deploy
    assert result.success, failures(result)
    # The connection closes with a COMMIT (dagster-snowflake, autocommit unset).
    assert [s.sql for s in sent] == [*expected, "COMMIT"]
    exit_code, output, sent_by_cli = snowflake_run.cli_deploy
    assert exit_code == 0, output[-3000:]
    assert [s.sql for s in sent_by_cli] == [*expected, "COMMIT"]
    assert output.splitlines()[-1] == f"deployed: {len(expected)} statements into {DATABASE}"


def test_deploy_job_dry_run_sends_nothing_and_reports_the_script(
    snowflake_run: SnowflakeRun, fakesnow: FakeSnowflake, duckdb_settings: Settings
) -> None:
    target = DeployTarget(DATABASE, "SONY_DE_WH")
    mark = fakesnow.mark()
    result = snowflake_run.defs.resolve_job_def(SNOWFLAKE_DEPLOY).execute_in_process(
        instance=snowflake_run.instance,
        run_config={"ops": {"deploy_snowflake_account_objects": {"config": {"dry_run": True}}}},
    )
    assert result.success
    assert fakesnow.sent_since(mark) == []
    (output,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.step_output_data.metadata
    assert metadata["executed"].value == 0
    assert metadata["script"].value == f"```sql\n{render_script(target, deploy_plan(target))}```"
    # The job exists where it can run.
    duckdb_jobs = {job.name for job in build_definitions(duckdb_settings).resolve_all_job_defs()}
    assert SNOWFLAKE_DEPLOY not in duckdb_jobs


def test_deploy_runs_on_the_server_what_fakesnow_supports(snowflake_run: SnowflakeRun) -> None:
    _, sent = snowflake_run.deploy
    ran = [s.sql for s in sent if s.executed]
    assert ran == [
        f"CREATE DATABASE IF NOT EXISTS {DATABASE}",
        *(
            f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{schema}"
            for schema in ("RAW", "STG", "DIMS", "FACTS", "STUDIO_OPS", "MARKETING", "GOVERNANCE")
        ),
        *(s for s in ran if s.startswith(f"CREATE TABLE IF NOT EXISTS {DATABASE}.RAW.")),
    ]
    assert len([s for s in ran if s.startswith("CREATE TABLE")]) == 5
    # What fakesnow lacks was still sent, as the very statements a real account receives.
    kinds = {
        re.match(r"(CREATE|ALTER|GRANT) \w+", s.sql).group(0)
        for s in sent
        if not s.executed and s.sql not in TRANSACTION_CONTROL
    }
    assert kinds == {
        "CREATE WAREHOUSE",
        "CREATE SCHEMA",  # SECURE WITH MANAGED ACCESS
        "ALTER SCHEMA",
        "CREATE ROLE",
        "GRANT ROLE",
        "GRANT USAGE",
        "GRANT SELECT",
        # The data quality grants: EXECUTE DATA METRIC FUNCTION ON ACCOUNT, CREATE DATA
        # METRIC FUNCTION ON SCHEMA, the SNOWFLAKE database and application roles.
        "GRANT EXECUTE",
        "GRANT CREATE",
        "GRANT DATABASE",
        "GRANT APPLICATION",
        "CREATE MASKING",
        "ALTER MASKING",
        "ALTER TABLE",
        "CREATE STREAM",
        "CREATE DATA",  # METRIC FUNCTION
    }
    # The streams and DMFs are answered as no-ops, not by the routing's stream twin: the
    # routing creates the twin itself, later, as on an account where the deploy's stream
    # makes the routing's CREATE STREAM IF NOT EXISTS a no-op.
    plan = deploy_plan(DeployTarget(DATABASE, "SONY_DE_WH"))
    area_sections = ("streams", "data metric functions")
    assert [s.sql for s in sent if s.sql.startswith(("CREATE STREAM", "CREATE DATA METRIC"))] == [
        s.sql for s in plan if s.section in area_sections
    ]
    # one CREATE STREAM per stream, one CREATE DATA METRIC FUNCTION per custom DMF
    expected = len(STREAMS) + len(load_registry().custom_functions)
    assert len([s for s in plan if s.section in area_sections]) == expected
    assert all(not s.executed and s.ran_instead is None for s in sent if "STREAM " in s.sql)


def test_deployed_raw_tables_hold_utc_wall_clock_as_timestamp_ntz(
    snowflake_run: SnowflakeRun,
) -> None:
    with open_warehouse(snowflake_run.settings) as warehouse, warehouse.session() as session:
        types = session.fetchall(
            "SELECT upper(table_name), data_type FROM information_schema.columns "
            "WHERE upper(table_schema) = 'RAW' AND lower(column_name) IN "
            "('_loaded_at', 'loaded_at', 'quarantined_at') AND upper(table_name) IN "
            "(SELECT upper(table_name) FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE') ORDER BY 1"
        )
    assert types == [
        ("LOAD_LEDGER", "TIMESTAMP_NTZ"),
        ("LOAD_QUARANTINE", "TIMESTAMP_NTZ"),
        ("RAW_BOX_OFFICE", "TIMESTAMP_NTZ"),
        ("RAW_FAN_INTERACTIONS", "TIMESTAMP_NTZ"),
        ("RAW_TITLE_METADATA", "TIMESTAMP_NTZ"),
    ]


# --- Bronze ------------------------------------------------------------------------------


def test_bronze_sends_exactly_these_statements(snowflake_run: SnowflakeRun, landing: Path) -> None:
    result, sent = snowflake_run.bronze
    assert result.success, failures(result)

    def columns(table: str) -> str:
        return {
            "RAW_FAN_INTERACTIONS": "interaction_id, fan_id, fan_type, email, full_name, "
            "phone, date_of_birth, region, preferred_genre, title_id, interaction_type, "
            "amount_usd, rating, channel, event_ts",
            "RAW_TITLE_METADATA": "title_id, title_name, franchise, genre, release_date, "
            "imdb_score, runtime_minutes, mpaa_rating, budget_usd",
            "RAW_BOX_OFFICE": "title_id, report_date, region, screens, tickets_sold, "
            "gross_revenue_usd",
        }[table]

    ledger = (
        "load_id, feed, target_table, source_file, file_sha256, file_bytes, lines_read, "
        "rows_loaded, rows_quarantined, first_ingest_seq, last_ingest_seq, loaded_at, run_id"
    )
    quarantine = (
        "load_id, feed, target_table, source_file, line_number, raw_record, reason, quarantined_at"
    )
    ddl = {
        "RAW_FAN_INTERACTIONS": "CREATE TABLE IF NOT EXISTS RAW.RAW_FAN_INTERACTIONS "
        "(interaction_id VARCHAR, fan_id VARCHAR, fan_type VARCHAR, email VARCHAR, "
        "full_name VARCHAR, phone VARCHAR, date_of_birth VARCHAR, region VARCHAR, "
        "preferred_genre VARCHAR, title_id VARCHAR, interaction_type VARCHAR, "
        "amount_usd VARCHAR, rating VARCHAR, channel VARCHAR, event_ts VARCHAR, "
        "_source_file VARCHAR, _line_number BIGINT, _load_id VARCHAR, "
        "_loaded_at TIMESTAMP_NTZ, _ingest_seq BIGINT)",
        "RAW_TITLE_METADATA": "CREATE TABLE IF NOT EXISTS RAW.RAW_TITLE_METADATA "
        "(title_id VARCHAR, title_name VARCHAR, franchise VARCHAR, genre VARCHAR, "
        "release_date VARCHAR, imdb_score VARCHAR, runtime_minutes VARCHAR, "
        "mpaa_rating VARCHAR, budget_usd VARCHAR, _source_file VARCHAR, "
        "_line_number BIGINT, _load_id VARCHAR, _loaded_at TIMESTAMP_NTZ, "
        "_ingest_seq BIGINT)",
        "RAW_BOX_OFFICE": "CREATE TABLE IF NOT EXISTS RAW.RAW_BOX_OFFICE "
        "(title_id VARCHAR, report_date VARCHAR, region VARCHAR, screens VARCHAR, "
        "tickets_sold VARCHAR, gross_revenue_usd VARCHAR, _source_file VARCHAR, "
        "_line_number BIGINT, _load_id VARCHAR, _loaded_at TIMESTAMP_NTZ, "
        "_ingest_seq BIGINT)",
    }
    expected: set[str] = {
        "SELECT COUNT(*) FROM information_schema.schemata WHERE upper(schema_name) = upper(?)",
        # The volume check: the ledger's history of each feed's loads.
        "SELECT COUNT(*) FROM information_schema.tables "
        "WHERE upper(table_schema) = upper(?) AND upper(table_name) = upper(?)",
        "SELECT COALESCE(NULLIF(run_id, ''), load_id), source_file, rows_loaded, loaded_at "
        "FROM RAW.LOAD_LEDGER WHERE target_table = ? ORDER BY loaded_at, source_file",
        "CREATE TABLE IF NOT EXISTS RAW.LOAD_LEDGER (load_id VARCHAR, feed VARCHAR, "
        "target_table VARCHAR, source_file VARCHAR, file_sha256 VARCHAR, file_bytes BIGINT, "
        "lines_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, "
        "first_ingest_seq BIGINT, last_ingest_seq BIGINT, loaded_at TIMESTAMP_NTZ, "
        "run_id VARCHAR)",
        "CREATE TABLE IF NOT EXISTS RAW.LOAD_QUARANTINE (load_id VARCHAR, feed VARCHAR, "
        "target_table VARCHAR, source_file VARCHAR, line_number BIGINT, raw_record VARCHAR, "
        "reason VARCHAR, quarantined_at TIMESTAMP_NTZ)",
        "BEGIN",
        f"INSERT INTO RAW.LOAD_QUARANTINE ({quarantine}) VALUES ({', '.join('?' * 8)})",
        f"INSERT INTO RAW.LOAD_LEDGER ({ledger}) VALUES ({', '.join('?' * 13)})",
        "COMMIT",
    }
    for feed in FEEDS:
        names = (
            f"{columns(feed.table)}, _source_file, _line_number, _load_id, _loaded_at, _ingest_seq"
        )
        marks = ", ".join("?" * len(names.split(", ")))
        expected |= {
            ddl[feed.table],
            f"SELECT COALESCE(MAX(_ingest_seq), 0) FROM RAW.{feed.table}",
            f"INSERT INTO RAW.{feed.table} ({names}) VALUES ({marks})",
            f"SELECT COUNT(*) FROM RAW.{feed.table}",
        }
        # the ledger is asked once per batch (before staging, and again in the transaction)
        # for all of the batch's contents, not once per file
        contents = {
            hashlib.sha256(path.read_bytes()).hexdigest()
            for path in (landing / feed.folder).glob(feed.pattern)
        }
        if contents:
            expected.add(
                "SELECT file_sha256, source_file, loaded_at FROM RAW.LOAD_LEDGER "
                f"WHERE target_table = ? AND file_sha256 IN ({', '.join('?' * len(contents))}) "
                "ORDER BY loaded_at"
            )
    assert {s.sql for s in sent} == expected
    assert all(s.executed for s in sent if s.sql not in TRANSACTION_CONTROL)
    # Every statement is in the Snowflake dialect as sqlglot knows it (none opaque).
    for sql in expected:
        parsed = sqlglot.parse_one(sql, read="snowflake")
        assert not isinstance(parsed, exp.Command), sql

    # One transaction per batch of files (each feed's files here are one batch); a batch's
    # rows go in array-bound INSERT requests of as many rows as the bind limit allows.
    feeds_with_files = [feed for feed in FEEDS if any((landing / feed.folder).glob(feed.pattern))]
    for feed in feeds_with_files:
        batch_bytes = sum(p.stat().st_size for p in (landing / feed.folder).glob(feed.pattern))
        assert batch_bytes < STAGE_BATCH_BYTES, feed.name
    assert [s.sql for s in sent].count("BEGIN") == len(feeds_with_files)
    for feed in FEEDS:
        inserts = [s for s in sent if s.sql.startswith(f"INSERT INTO RAW.{feed.table} ")]
        with open_warehouse(snowflake_run.settings) as warehouse, warehouse.session() as s:
            loaded = s.row_count("RAW", feed.table)
        per_request = rows_per_insert(len(feed.fields) + len(LOAD_METADATA_COLUMNS))
        assert len(inserts) == -(-loaded // per_request), feed.table
        assert sum(s.rows_bound for s in inserts) == loaded, feed.table


# --- dbt and equality with DuckDB --------------------------------------------------------


def _relations(settings: Settings) -> list[tuple[str, str]]:
    """Every dbt model and snapshot (schema, name), from the manifest, the RAW tables and
    the tables the routing writes."""
    manifest = json.loads((settings.dbt_target_path / "manifest.json").read_text())
    nodes = [
        (node["schema"].upper(), node["alias"].upper())
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "snapshot")
    ]
    raw = [
        ("RAW", table)
        for table in (*(feed.table for feed in FEEDS), "LOAD_LEDGER", "LOAD_QUARANTINE")
    ]
    routed = [(schema.upper(), table.upper()) for schema, table in ROUTED]
    return sorted(raw + routed + nodes)


def _normalise(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)):
        return round(float(value), 6)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _contents(session: Session, schema: str, table: str) -> list[tuple]:
    names = [
        name
        for (name,) in session.fetchall(
            "SELECT lower(column_name) FROM information_schema.columns "
            "WHERE upper(table_schema) = ? AND upper(table_name) = ? ORDER BY ordinal_position",
            [schema, table],
        )
        if name not in VOLATILE_COLUMNS
    ]
    assert names, f"{schema}.{table} has no columns"
    rows = session.fetchall(f"SELECT {', '.join(names)} FROM {schema}.{table}")
    normalised = [tuple(_normalise(v) for v in row) for row in rows]
    return sorted(normalised, key=lambda row: [(v is None, str(v)) for v in row])


def test_dbt_builds_every_model_and_the_snapshot_with_dbt_snowflake(
    snowflake_run: SnowflakeRun,
) -> None:
    result, sent = snowflake_run.dbt
    assert result.success, failures(result)
    materialized = {e.asset_key.path[-1].upper() for e in result.get_asset_materialization_events()}
    nodes = {name for schema, name in _relations(snowflake_run.settings) if schema != "RAW"}
    assert materialized == nodes  # the routed tables too
    assert {table.upper() for _, table in ROUTED} < nodes
    assert "SNP_FAN_PROFILES" in nodes
    evaluations = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert len(evaluations) >= 37
    assert [e.check_name for e in evaluations if not e.passed] == []
    assert any(s.sql.lower().startswith("create or replace") for s in sent)


def test_every_relation_holds_the_same_rows_as_on_duckdb(
    snowflake_run: SnowflakeRun, duckdb_settings: Settings
) -> None:
    relations = _relations(snowflake_run.settings)
    assert len([r for r in relations if r[0] != "RAW"]) >= 10  # 9 models and the snapshot
    with (
        open_warehouse(snowflake_run.settings) as snowflake,
        snowflake.session() as on_snowflake,
        build_warehouse(duckdb_settings).session(read_only=True) as on_duckdb,
    ):
        for schema, table in relations:
            snowflake_rows = _contents(on_snowflake, schema, table)
            duckdb_rows = _contents(on_duckdb, schema, table)
            assert len(snowflake_rows) == len(duckdb_rows), f"{schema}.{table}"
            assert snowflake_rows, f"{schema}.{table} is empty"
            assert snowflake_rows == duckdb_rows, f"{schema}.{table}"


def test_key_stats_on_snowflake_equal_duckdb(
    snowflake_run: SnowflakeRun, duckdb_settings: Settings
) -> None:
    # The DMF line reads SNOWFLAKE.LOCAL, which fakesnow lacks (see the module docstring).
    on_snowflake = current_key_stats(snowflake_run.settings, dmf_outcome=(0, 0))
    on_duckdb = current_key_stats(duckdb_settings, dmf_outcome=(0, 0))
    assert on_snowflake.bronze_rows == on_duckdb.bronze_rows > 0
    assert on_snowflake.silver_rows == on_duckdb.silver_rows > 0
    assert on_snowflake.gold_rows == on_duckdb.gold_rows > 0
    assert on_snowflake.snapshot_rows == on_duckdb.snapshot_rows > 0
    assert on_snowflake.dbt_tests_passing == on_duckdb.dbt_tests_passing
    assert on_snowflake.dbt_tests_passing == on_snowflake.dbt_tests_configured


# --- credentials -------------------------------------------------------------------------


def test_the_password_is_in_no_event_log_no_log_and_no_dbt_file(
    snowflake_run: SnowflakeRun,
) -> None:
    secret = snowflake_run.password
    runs = [snowflake_run.deploy[0], snowflake_run.bronze[0], snowflake_run.dbt[0]]
    entries = [entry for result in runs for entry in snowflake_run.instance.all_logs(result.run_id)]
    assert len(entries) > 100
    assert not [e for e in entries if secret in repr(e)]
    records = snowflake_run.log_records
    assert any(r.name.startswith("snowflake.connector") for r in records)
    assert not [r for r in records if secret in r.getMessage() or secret in repr(r.args)]
    assert secret not in snowflake_run.cli_deploy[1]
    warehouse_config = repr(snowflake_run.defs.resources["warehouse"])
    assert "SNOWFLAKE_PASSWORD" in warehouse_config and secret not in warehouse_config
    dbt_files = [
        path
        for folder in (snowflake_run.settings.dbt_target_path, REPO_ROOT / "dbt_project" / "logs")
        if folder.exists()
        for path in folder.rglob("*")
        if path.is_file()
    ]
    assert dbt_files
    assert [p for p in dbt_files if secret.encode() in p.read_bytes()] == []
