"""`sony-de snowflake deploy`: the exact script, Snowflake's documented syntax, idempotence.

Statement forms sqlglot's Snowflake dialect understands are parsed by it; the others
(roles, grants on ALL/FUTURE objects, managed access, masking policies), which it keeps as
opaque commands, are matched against the syntax in Snowflake's SQL reference, transcribed
below with the page each comes from.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from sony_de_platform.bronze.feeds import FEEDS
from sony_de_platform.cdc.streams import STREAMS
from sony_de_platform.governance.snowflake_deploy import (
    DEPLOY_SECTIONS,
    DeployError,
    DeployTarget,
    deploy_plan,
    pii_masking_body,
    render_script,
    run_deploy,
)
from sony_de_platform.quality.registry import load_registry
from sony_de_platform.settings import REPO_ROOT, SettingsError, load_settings
from sony_de_platform.warehouse import DuckDBWarehouse
from sony_de_platform.warehouse.data_metrics import SnowflakeDataMetrics
from sony_de_platform.warehouse.snowflake import STAGE_BINDING_THRESHOLD, rows_per_insert
from sony_de_platform.warehouse.streams import create_stream_sql

GOLDEN = Path(__file__).parent / "golden" / "snowflake_deploy_SONY_DE.sql"
DEFAULT = DeployTarget("SONY_DE", "SONY_DE_WH")

NAME = r"[A-Z_][A-Z0-9_]*"
QUALIFIED = rf"{NAME}(?:\.{NAME}){{0,2}}"
COLUMN = r"[a-z_][a-z0-9_]*"
STRING = r"'(?:[^'\\]|''|\\.)*'"

# Privileges per securable, from /sql-reference/sql/grant-privilege (the subset of each list
# that matters here; anything else in a statement fails the test).
PRIVILEGES_ON = {
    # globalPrivileges, granted ON ACCOUNT (sqlglot reads ACCOUNT as the securable's name)
    "ACCOUNT": {"EXECUTE DATA METRIC FUNCTION"},
    "WAREHOUSE": {"USAGE", "MONITOR", "OPERATE", "MODIFY"},
    "DATABASE": {"USAGE", "MONITOR", "CREATE SCHEMA"},
    "SCHEMA": {
        "USAGE",
        "MONITOR",
        "CREATE TABLE",
        "CREATE VIEW",
        "CREATE DYNAMIC TABLE",
        "CREATE STREAM",
        "CREATE DATA METRIC FUNCTION",
    },
    "TABLES": {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES"},
    "VIEWS": {"SELECT", "REFERENCES"},
    "DYNAMIC TABLES": {"SELECT", "MONITOR", "OPERATE"},
    "STREAMS": {"SELECT"},
    "DATA METRIC FUNCTIONS": {"USAGE"},
}

# Documented forms of the statements sqlglot keeps opaque: (reference page, pattern).
DOCUMENTED = [
    (
        # CREATE [ OR REPLACE ] SCHEMA [ IF NOT EXISTS ] <name> ... [ WITH MANAGED ACCESS ]
        "/sql-reference/sql/create-schema",
        rf"CREATE SCHEMA IF NOT EXISTS {QUALIFIED} WITH MANAGED ACCESS",
    ),
    (
        # ALTER SCHEMA [ IF EXISTS ] <name> { ENABLE | DISABLE } MANAGED ACCESS
        "/sql-reference/sql/alter-schema",
        rf"ALTER SCHEMA {QUALIFIED} ENABLE MANAGED ACCESS",
    ),
    (
        # CREATE [ OR REPLACE ] ROLE [ IF NOT EXISTS ] <name> [ COMMENT = '<string_literal>' ]
        "/sql-reference/sql/create-role",
        rf"CREATE ROLE IF NOT EXISTS {NAME} COMMENT = {STRING}",
    ),
    (
        # GRANT ROLE <name> TO { ROLE <parent_role_name> | USER <user_name> }
        "/sql-reference/sql/grant-role",
        rf"GRANT ROLE {NAME} TO ROLE {NAME}",
    ),
    (
        # GRANT DATABASE ROLE <name> TO ROLE <parent_role_name>
        # (SNOWFLAKE.DATA_METRIC_USER: /user-guide/data-quality-access-control)
        "/sql-reference/sql/grant-database-role",
        rf"GRANT DATABASE ROLE {QUALIFIED} TO ROLE {NAME}",
    ),
    (
        # GRANT APPLICATION ROLE <name> TO { ROLE <parent_role_name> | ... }
        # (SNOWFLAKE.DATA_QUALITY_MONITORING_VIEWER: /user-guide/data-quality-access-control)
        "/sql-reference/sql/grant-application-role",
        rf"GRANT APPLICATION ROLE {QUALIFIED} TO ROLE {NAME}",
    ),
    (
        # GRANT { schemaObjectPrivileges } ON { ALL | FUTURE } <object_type_plural>
        #   IN SCHEMA <schema_name> TO ROLE <role_name>
        "/sql-reference/sql/grant-privilege",
        rf"GRANT (?P<privileges>[A-Z ,]+) ON (?:ALL|FUTURE) "
        rf"(?P<securable>TABLES|VIEWS|DYNAMIC TABLES|STREAMS|DATA METRIC FUNCTIONS) "
        rf"IN SCHEMA {QUALIFIED} TO ROLE {NAME}",
    ),
    (
        # GRANT { schemaPrivileges } ON SCHEMA <schema_name> TO ROLE <role_name>
        # (sqlglot reads single-word privileges; CREATE <object> ones stay opaque)
        "/sql-reference/sql/grant-privilege",
        rf"GRANT (?P<privileges>[A-Z ,]+) ON (?P<securable>SCHEMA) {QUALIFIED} TO ROLE {NAME}",
    ),
    (
        # CREATE [ OR REPLACE ] MASKING POLICY [ IF NOT EXISTS ] <name> AS
        #   ( <arg_name_to_mask> <arg_type_to_mask> ) RETURNS <arg_type_to_mask>
        #   -> <expression_on_arg_name> [ COMMENT = '<string_literal>' ]
        "/sql-reference/sql/create-masking-policy",
        rf"CREATE MASKING POLICY IF NOT EXISTS {QUALIFIED} AS \(val STRING\) "
        rf"RETURNS STRING -> (?P<body>.+) COMMENT = {STRING}",
    ),
    (
        # ALTER MASKING POLICY [ IF EXISTS ] <name> SET BODY -> <expression_on_arg_name_to_mask>
        "/sql-reference/sql/alter-masking-policy",
        rf"ALTER MASKING POLICY {QUALIFIED} SET BODY -> (?P<body>.+)",
    ),
    (
        # ALTER TABLE [ IF EXISTS ] <table_name> { ALTER | MODIFY } [ COLUMN ] <col1_name>
        #   SET MASKING POLICY <policy_name> [ USING ( ... ) ] [ FORCE ]
        "/sql-reference/sql/alter-table-column",
        rf"ALTER TABLE {QUALIFIED} MODIFY COLUMN {COLUMN} SET MASKING POLICY {QUALIFIED} FORCE",
    ),
    (
        # CREATE [ OR REPLACE ] STREAM [ IF NOT EXISTS ] <name> [ COPY GRANTS ]
        #   ON TABLE <table_name> [ APPEND_ONLY = TRUE | FALSE ]
        #   [ SHOW_INITIAL_ROWS = TRUE | FALSE ] [ COMMENT = '<string_literal>' ]
        "/sql-reference/sql/create-stream",
        rf"CREATE STREAM IF NOT EXISTS {QUALIFIED} ON TABLE {QUALIFIED} "
        rf"APPEND_ONLY = (?:TRUE|FALSE) SHOW_INITIAL_ROWS = (?:TRUE|FALSE) COMMENT = {STRING}",
    ),
    (
        # CREATE [ OR REPLACE ] [ SECURE ] DATA METRIC FUNCTION [ IF NOT EXISTS ] <name>
        #   ( <table_arg> TABLE( [ <col_arg> <data_type> [ , ... ] ] ) )
        #   RETURNS NUMBER [ [ NOT ] NULL ] [ LANGUAGE SQL ] [ COMMENT = '<string_literal>' ]
        #   AS '<expression>'   (a dollar-quoted string constant is a string literal too)
        "/sql-reference/sql/create-data-metric-function",
        rf"CREATE DATA METRIC FUNCTION IF NOT EXISTS {QUALIFIED}\(arg_t TABLE\("
        rf"{COLUMN} {NAME}(?:, {COLUMN} {NAME})*\)\) RETURNS NUMBER COMMENT = {STRING} "
        r"AS \$\$(?P<query>(?:(?!\$\$).)+)\$\$",
    ),
]


def plan_sql(target: DeployTarget = DEFAULT) -> list[str]:
    return [statement.sql for statement in deploy_plan(target)]


def documented_form(sql: str) -> tuple[str, re.Match[str]] | None:
    for page, pattern in DOCUMENTED:
        match = re.fullmatch(pattern, sql)
        if match:
            return page, match
    return None


def test_the_default_script_is_exactly_the_reviewed_one() -> None:
    assert render_script(DEFAULT, deploy_plan(DEFAULT)) == GOLDEN.read_text()


def test_every_statement_follows_snowflakes_documented_syntax() -> None:
    understood = opaque = 0
    for sql in plan_sql():
        parsed = sqlglot.parse_one(sql, read="snowflake")
        if not isinstance(parsed, exp.Command):
            understood += 1
            assert isinstance(parsed, (exp.Create, exp.Grant)), sql
            continue
        opaque += 1
        found = documented_form(sql)
        assert found, f"not a documented Snowflake form: {sql}"
        _, match = found
        groups = match.groupdict()
        if groups.get("privileges"):
            privileges = {p.strip() for p in groups["privileges"].split(",")}
            assert privileges <= PRIVILEGES_ON[groups["securable"]], sql
        if groups.get("body"):
            body = sqlglot.parse_one(groups["body"], read="snowflake")
            assert isinstance(body, exp.Case), sql
        if groups.get("query"):
            query = sqlglot.parse_one(groups["query"], read="snowflake")
            assert isinstance(query, exp.Select), sql
    assert understood > 20 and opaque > 20


def test_sqlglot_understood_grants_use_documented_privileges() -> None:
    for sql in plan_sql():
        parsed = sqlglot.parse_one(sql, read="snowflake")
        if isinstance(parsed, exp.Grant):
            kind = parsed.args["kind"] or parsed.args["securable"].name
            privileges = {p.sql("snowflake") for p in parsed.args["privileges"]}
            assert privileges <= PRIVILEGES_ON[kind], sql


def test_every_statement_is_idempotent() -> None:
    idempotent = [
        r"CREATE (WAREHOUSE|DATABASE|SCHEMA|ROLE|TABLE|MASKING POLICY|STREAM"
        r"|DATA METRIC FUNCTION) IF NOT EXISTS .+",
        r"ALTER SCHEMA \S+ ENABLE MANAGED ACCESS",  # converges; no-op when enabled
        r"ALTER MASKING POLICY \S+ SET BODY -> .+",  # converges the body
        r"ALTER TABLE \S+ MODIFY COLUMN \S+ SET MASKING POLICY \S+ FORCE",  # re-attaches
        r"GRANT .+",  # granting a held privilege or role is a no-op
    ]
    for sql in plan_sql():
        assert any(re.fullmatch(pattern, sql) for pattern in idempotent), sql
        assert not re.search(r"\b(DROP|REVOKE|TRUNCATE|DELETE)\b", sql), sql


def test_objects_are_created_before_they_are_used() -> None:
    created: set[str] = {"SYSADMIN"}
    for sql in plan_sql():
        made = re.match(r"CREATE \w+(?: \w+)? IF NOT EXISTS (\S+)", sql)
        if made:
            created.add(made.group(1))
        for used in re.findall(r"(?:ON SCHEMA|IN SCHEMA|ALTER TABLE|ON TABLE|TO ROLE) (\S+)", sql):
            assert used in created, f"{used} used before it is created: {sql}"
        for policy in re.findall(r"SET MASKING POLICY (\S+)", sql):
            assert policy in created, sql
    names = [section.name for section in DEPLOY_SECTIONS]
    assert names[-1] == "grants"  # ALL grants then cover every object the deploy created
    assert names.index("RAW tables") < names.index("masking policies")
    assert names.index("RAW tables") < names.index("streams")  # a stream needs its table
    assert names[-3:-1] == ["streams", "data metric functions"]


def test_masking_covers_every_raw_pii_column() -> None:
    masked = {
        tuple(re.match(r"ALTER TABLE SONY_DE\.RAW\.(\w+) MODIFY COLUMN (\w+)", sql).groups())
        for sql in plan_sql()
        if sql.startswith("ALTER TABLE")
    }
    assert masked == {
        ("RAW_FAN_INTERACTIONS", "email"),
        ("RAW_FAN_INTERACTIONS", "full_name"),
        ("RAW_FAN_INTERACTIONS", "phone"),
        ("RAW_FAN_INTERACTIONS", "date_of_birth"),
        ("LOAD_QUARANTINE", "raw_record"),  # a rejected line keeps its PII as received
    }
    assert {f for feed in FEEDS for f in feed.pii_fields} == {
        "email",
        "full_name",
        "phone",
        "date_of_birth",
    }
    assert pii_masking_body(DEFAULT) == (
        "CASE WHEN IS_ROLE_IN_SESSION('SONY_DE_TRANSFORMER') "
        "OR IS_ROLE_IN_SESSION('SONY_DE_PII_STEWARD') THEN val "
        "ELSE SHA2(LOWER(TRIM(val)), 256) END"
    )


def test_names_come_from_settings() -> None:
    settings = load_settings(
        {"SNOWFLAKE_DATABASE": "sony_de_dev", "SNOWFLAKE_WAREHOUSE": "analytics_wh"}
    )
    target = DeployTarget.from_settings(settings)
    assert target == DeployTarget("SONY_DE_DEV", "ANALYTICS_WH")
    script = render_script(target, deploy_plan(target))
    assert "SONY_DE." not in script and "SONY_DE_WH" not in script
    assert "CREATE DATABASE IF NOT EXISTS SONY_DE_DEV;" in script
    assert "CREATE ROLE IF NOT EXISTS SONY_DE_DEV_PII_STEWARD COMMENT" in script
    assert "GRANT USAGE ON WAREHOUSE ANALYTICS_WH TO ROLE SONY_DE_DEV_ANALYST;" in script
    with pytest.raises(SettingsError, match="SNOWFLAKE_DATABASE='sony-de'"):
        load_settings({"SNOWFLAKE_DATABASE": "sony-de"})


def test_dry_run_twice_prints_the_same_script_without_any_credential(tmp_path: Path) -> None:
    """Two processes with different hash seeds: no set or dict order leaks into the SQL."""
    outputs = [
        subprocess.run(
            [sys.executable, "-m", "sony_de_platform.cli", "snowflake", "deploy", "--dry-run"],
            cwd=REPO_ROOT,
            env={
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
                "SONY_DE_DATA_DIR": str(tmp_path / "data"),
                "PYTHONHASHSEED": seed,
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
        for seed in ("1", "2")
    ]
    assert outputs[0] == outputs[1] == GOLDEN.read_text()
    assert not (tmp_path / "data").exists()  # connected to nothing, wrote nothing


def test_a_failing_statement_stops_the_deploy_and_names_itself(
    warehouse: DuckDBWarehouse,
) -> None:
    """DuckDB has no CREATE WAREHOUSE: a real engine error, reported with its statement."""
    plan = deploy_plan(DEFAULT)
    said: list[str] = []
    with warehouse.session() as session, pytest.raises(DeployError) as error:
        run_deploy(session, plan, said.append)
    message = str(error.value)
    assert message.startswith(f"deploy stopped at statement 1 of {len(plan)} (warehouse): ")
    assert plan[0].sql in message and "run the deploy again" in message
    assert said == [f"[1/{len(plan)}] warehouse: {plan[0].sql}"]


@pytest.mark.parametrize("columns", [1, 8, 13, 20, 65_279, 70_000])
def test_appends_stay_below_the_stage_binding_threshold(columns: int) -> None:
    """At or above the threshold the connector binds through a temporary stage it creates,
    and that DDL would commit a Bronze file's transaction half-way."""
    rows = rows_per_insert(columns)
    assert rows >= 1
    assert rows * columns < STAGE_BINDING_THRESHOLD or rows == 1
    assert (rows + 1) * columns >= STAGE_BINDING_THRESHOLD


def _section(name: str, target: DeployTarget = DEFAULT) -> list[str]:
    return [s.sql for s in deploy_plan(target) if s.section == name]


def test_streams_are_deployed_with_the_statement_the_routing_issues() -> None:
    assert _section("streams") == [
        "CREATE STREAM IF NOT EXISTS SONY_DE.RAW.FAN_INTERACTIONS_STREAM "
        "ON TABLE SONY_DE.RAW.RAW_FAN_INTERACTIONS APPEND_ONLY = TRUE SHOW_INITIAL_ROWS = TRUE "
        "COMMENT = 'New fan interactions, consumed by route_fan_pii "
        "(PII to SECURE, guests public).'"
    ]
    # The routing names the stream in its session's database; otherwise the same text.
    assert [sql.replace("SONY_DE.", "") for sql in _section("streams")] == [
        create_stream_sql(stream) for stream in STREAMS
    ]


def test_custom_dmfs_are_deployed_into_the_target_database_and_not_attached() -> None:
    registry = load_registry()
    created = _section("data metric functions")
    assert created == [
        SnowflakeDataMetrics().create_function_sql(function)
        for function in registry.custom_functions
    ]
    assert len(created) == 8  # GOVERNANCE is created with the other schemas
    assert created[0] == (
        "CREATE DATA METRIC FUNCTION IF NOT EXISTS SONY_DE.GOVERNANCE.VALID_IMDB_SCORE("
        "arg_t TABLE(arg_c NUMBER)) RETURNS NUMBER COMMENT = 'IMDB scores lie between 0 and 10 "
        "(NULL means the feed\\'s value was dropped).' AS $$SELECT COUNT(*) FROM arg_t WHERE "
        "arg_c IS NOT NULL AND (arg_c < 0 OR arg_c > 10)$$"
    )
    # the malformed e-mails are a percentage of the interactions (so the tolerance holds at
    # every scale), from Silver's validity flag, never from an address; NULL on no rows
    assert created[-1] == (
        "CREATE DATA METRIC FUNCTION IF NOT EXISTS SONY_DE.GOVERNANCE.MALFORMED_EMAIL_PERCENT("
        "arg_t TABLE(arg_c BOOLEAN)) RETURNS NUMBER COMMENT = 'Percentage of interactions whose "
        "e-mail fails the contract\\'s validity rule (no @, no domain, or none at all), read "
        "from has_valid_email: no address is read.' AS $$SELECT COUNT_IF(arg_c IS NULL OR NOT "
        "arg_c) * 100.0 / NULLIF(COUNT(*), 0) FROM arg_t$$"
    )
    per_run = _section("data metric functions", DeployTarget("SONY_DE_CI_1", "WH"))
    assert per_run == [sql.replace("SONY_DE.", "SONY_DE_CI_1.") for sql in created]
    # Attachments need the dbt tables and dbt's CREATE OR REPLACE drops them: the DMF check
    # steps add them at run time.
    assert not [s for s in plan_sql() if "ADD DATA METRIC FUNCTION" in s]
