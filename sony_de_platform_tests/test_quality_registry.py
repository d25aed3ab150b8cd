"""The DMF registry: its contents, its validation, Snowflake's expectation grammar, and the
DuckDB twin of DMF evaluation (bodies, system DMF semantics, the results table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sony_de_platform.quality.registry import (
    PERCENT_BODY_FORM,
    Expectation,
    Measure,
    RegistryError,
    load_registry,
    parse_registry,
)
from sony_de_platform.settings import Engine
from sony_de_platform.synthetic.defects import MALFORMED_EMAIL
from sony_de_platform.synthetic.generator import DEFECT_RATES
from sony_de_platform.warehouse import DuckDBWarehouse
from sony_de_platform.warehouse.data_metrics import DATA_METRIC_ENGINES, MetricCall

# SNOWFLAKE.LOCAL.DATA_QUALITY_MONITORING_RESULTS, as documented by Snowflake
# (docs.snowflake.com/en/sql-reference/local/data_quality_monitoring_results).
SNOWFLAKE_RESULTS_COLUMNS = [
    "SCHEDULED_TIME",
    "CHANGE_COMMIT_TIME",
    "MEASUREMENT_TIME",
    "TABLE_ID",
    "TABLE_NAME",
    "TABLE_SCHEMA",
    "TABLE_DATABASE",
    "METRIC_ID",
    "METRIC_NAME",
    "METRIC_SCHEMA",
    "METRIC_DATABASE",
    "METRIC_RETURN_TYPE",
    "ARGUMENT_IDS",
    "ARGUMENT_TYPES",
    "ARGUMENT_NAMES",
    "REFERENCE_ID",
    "VALUE",
]
SILVER_GOLD_SCHEMAS = {"STG", "DIMS", "FACTS", "STUDIO_OPS", "MARKETING"}
DUCKDB = DATA_METRIC_ENGINES[Engine.DUCKDB]


def test_registry_defines_the_demo_dmfs_on_silver_and_gold() -> None:
    registry = load_registry()
    custom = {f.name: f for f in registry.custom_functions}
    assert {"VALID_IMDB_SCORE", "VALID_EMAIL_HASH", "POSITIVE_REVENUE"} <= set(custom)
    assert len(custom) >= 6
    attached = {a.function.name for a in registry.attachments if not a.function.system}
    assert attached == set(custom), "every custom DMF is attached somewhere"
    for attachment in registry.attachments:
        assert attachment.schema in SILVER_GOLD_SCHEMAS, attachment.label
        assert attachment.owner and attachment.runbook, attachment.label
    for function in custom.values():
        assert function.body.startswith(
            ("SELECT COUNT(*) FROM arg_t WHERE ", "SELECT COUNT_IF(")
        ), function.name
        assert function.qualified_name == f"SONY_DE.GOVERNANCE.{function.name}"
    systems = {a.function.qualified_name for a in registry.attachments if a.function.system}
    assert {"SNOWFLAKE.CORE.NULL_COUNT", "SNOWFLAKE.CORE.DUPLICATE_COUNT"} <= systems
    assert registry.schedule == "60 MINUTE"


def _malformed_email_percent():
    (attachment,) = [
        a for a in load_registry().attachments if a.function.name == "MALFORMED_EMAIL_PERCENT"
    ]
    return attachment


def test_malformed_email_percent_is_a_tolerated_rate_that_only_warns() -> None:
    """The generator's malformed e-mails (the contract's 1.0% of interactions) are measured
    on Silver from the validity flag alone, as a percentage, so the tolerance (twice the
    contract's rate) holds at every scale; the check warns and never blocks Gold."""
    attachment = _malformed_email_percent()
    assert (attachment.label, attachment.columns) == (
        "STG.stg_fan_interactions:malformed_email_percent",
        ("has_valid_email",),
    )
    function = attachment.function
    assert function.arguments == (("arg_c", "BOOLEAN"),)
    assert function.measure is Measure.PERCENT
    assert function.violating_rows == "SELECT * FROM arg_t WHERE arg_c IS NULL OR NOT arg_c"
    assert attachment.severity.value == "WARN"
    contract_percent = 100 * DEFECT_RATES["fan_interactions"][MALFORMED_EMAIL]
    assert attachment.expectation.text == f"VALUE <= {2 * contract_percent:g}"
    assert attachment.passes(contract_percent)
    assert attachment.passes(2 * contract_percent)
    assert not attachment.passes(2.01)
    assert attachment.passes(None)  # no rows: NULL, nothing to judge


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [
        ("VALUE = 0", 0, True),
        ("VALUE = 0", 1, False),
        ("VALUE > 0", 0, False),
        ("value >= 1 AND VALUE < 10", 5, True),
        ("VALUE < 1 OR VALUE > 9", 5, False),
        ("NOT (VALUE <> 3)", 3, True),
        ("VALUE != 3", 3, False),
        ("VALUE >= -2.5", -2.5, True),
        ("VALUE = 0", None, False),
    ],
)
def test_expectations_follow_snowflakes_grammar(
    text: str, value: float | None, holds: bool
) -> None:
    assert Expectation.parse(text).holds(value) is holds


@pytest.mark.parametrize(
    "text", ["VALUE = 0; DROP TABLE x", "VALUE", "count(*) = 0", "VALUE = = 1"]
)
def test_expectations_reject_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        Expectation.parse(text)


def _document(**function: object) -> dict:
    entry = {
        "name": "valid_thing",
        "arguments": {"arg_c": "NUMBER"},
        "body": "SELECT COUNT(*) FROM arg_t WHERE arg_c < 0",
        "expectation": "VALUE = 0",
        "severity": "ERROR",
        "owner": "team:data-platform",
        "runbook": "fix it",
        "attached_to": [{"table": "DIMS.dim_titles", "columns": ["imdb_score"]}],
    }
    entry.update(function)
    return {
        "database": "SONY_DE",
        "schema": "GOVERNANCE",
        "tables": {"DIMS.dim_titles": ["title_id"]},
        "functions": [entry],
    }


@pytest.mark.parametrize(
    ("body", "violation"),
    [
        (
            "SELECT COUNT_IF(arg_c < 0 OR arg_c > 10) * 100.0 / NULLIF(COUNT(*), 0) FROM arg_t",
            "arg_c < 0 OR arg_c > 10",
        ),
        (
            "select count_if((arg_c < 0) or (arg_c > 10))*100.0/nullif(count(*),0) from arg_t",
            "(arg_c < 0) or (arg_c > 10)",
        ),
        (
            " SELECT  COUNT_IF(arg_c IN (-1, 11))\n * 100.0 / NULLIF( COUNT(*) , 0 )  FROM arg_t ",
            "arg_c IN (-1, 11)",
        ),
    ],
)
def test_a_percentage_body_lists_the_rows_it_counts(body: str, violation: str) -> None:
    (function,) = parse_registry(_document(body=body), Path("dmfs.yml")).functions
    assert function.measure is Measure.PERCENT
    assert function.violating_rows == f"SELECT * FROM arg_t WHERE {violation}"
    assert function.body == " ".join(body.split())  # deployed as written


def test_a_count_body_stays_a_number_of_rows() -> None:
    (function,) = parse_registry(_document(), Path("dmfs.yml")).functions
    assert function.measure is Measure.ROWS
    assert function.violating_rows == "SELECT * FROM arg_t WHERE arg_c < 0"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": "SELECT MAX(arg_c) FROM arg_t"}, "must read `SELECT COUNT(*) FROM arg_t WHERE"),
        ({"body": "SELECT MAX(arg_c) FROM arg_t"}, f"or `{PERCENT_BODY_FORM}`"),
        # integer percentages and a division by zero on an empty table
        (
            {"body": "SELECT COUNT_IF(arg_c < 0) * 100 / COUNT(*) FROM arg_t"},
            f"a percentage body must read exactly `{PERCENT_BODY_FORM}`",
        ),
        # a WHERE would shrink the denominator: not a share of the table's rows
        (
            {
                "body": "SELECT COUNT_IF(arg_c < 0) * 100.0 / NULLIF(COUNT(*), 0) FROM arg_t "
                "WHERE arg_c IS NOT NULL"
            },
            "a percentage body must read exactly",
        ),
        # the violation must be COUNT_IF's whole argument
        (
            {
                "body": "SELECT COUNT_IF(arg_c < 0) + COUNT_IF(arg_c > 9) * 100.0 "
                "/ NULLIF(COUNT(*), 0) FROM arg_t"
            },
            "a percentage body must read exactly",
        ),
        (
            {"body": "SELECT COUNT(*) FROM arg_t WHERE arg_c < 0 $$; DROP TABLE x; $$"},
            "may not contain $$",
        ),
        ({"severity": "FATAL"}, "severity must be ERROR or WARN"),
        ({"expectation": "VALUE ="}, "expectation:"),
        ({"attached_to": [{"table": "DIMS.dim_titles", "columns": ["a", "b"]}]}, "takes 1 column"),
        ({"attached_to": [{"table": "DIMS.dim_fans", "columns": ["x"]}]}, "under `tables:`"),
        ({"arguments": {"arg_c": "GEOGRAPHY"}}, "has type GEOGRAPHY"),
        ({"owner": None}, "set `owner`"),
    ],
)
def test_registry_errors_name_the_entry_and_the_fix(change: dict, message: str) -> None:
    with pytest.raises(RegistryError) as raised:
        parse_registry(_document(**change), Path("dmfs.yml"))
    assert "dmfs.yml: function valid_thing" in str(raised.value)
    assert message in str(raised.value)


@pytest.fixture
def scratch(warehouse: DuckDBWarehouse):
    with warehouse.session() as session:
        session.execute("CREATE SCHEMA IF NOT EXISTS SCRATCH")
        DUCKDB.prepare(session)
        yield session


def _value(session, name: str, table: str, *arguments: str) -> float | None:
    registry = load_registry()
    function = next(f for f in registry.functions if f.name == name)
    return DUCKDB.measure(session, "SONY_DE", MetricCall(function, "SCRATCH", table, arguments))


def test_custom_bodies_run_on_duckdb_with_snowflake_semantics(scratch) -> None:
    digest = "a" * 64
    scratch.execute("CREATE TABLE SCRATCH.hashes (h VARCHAR)")
    scratch.execute(
        "INSERT INTO SCRATCH.hashes VALUES (?), (?), (?), (?), (?), (NULL)",
        [digest, "A" * 64, "fan@example.com", digest + "0", " " + digest[1:]],
    )
    # upper-case hex, a clear address, 65 and 63(+space) chars fail; NULL (no valid address) passes
    assert _value(scratch, "VALID_EMAIL_HASH", "hashes", "h") == 4
    scratch.execute("CREATE TABLE SCRATCH.scores (s DECIMAL(3, 1))")
    scratch.execute("INSERT INTO SCRATCH.scores VALUES (0), (10), (10.1), (-0.1), (NULL), (6.4)")
    assert _value(scratch, "VALID_IMDB_SCORE", "scores", "s") == 2
    scratch.execute("CREATE TABLE SCRATCH.emails (valid BOOLEAN)")
    scratch.execute("INSERT INTO SCRATCH.emails VALUES (true), (false), (true), (false), (NULL)")
    # an address failing the rule, and a row whose flag is unknown, count; valid ones do not
    assert _value(scratch, "MALFORMED_EMAIL_PERCENT", "emails", "valid") == 60.0


def _emails(session, table: str, rows: int, malformed: int) -> None:
    """`rows` validity flags, the first `malformed` of them failing the rule: false, or
    NULL every other row (a flag that is unknown fails too)."""
    session.execute(
        f"CREATE OR REPLACE TABLE SCRATCH.{table} AS SELECT i AS interaction_id, CASE WHEN "
        "i >= ? THEN true WHEN i % 2 = 0 THEN false END AS valid FROM range(?) t(i)",
        [malformed, rows],
    )


@pytest.mark.parametrize("rows", [1_000, 100_000])
def test_malformed_email_percent_holds_at_every_volume(scratch, rows: int) -> None:
    """The contract's 1% of malformed e-mails passes at any volume (a fixed row count
    tolerated at one scale failed at the next); past 2% the check fails."""
    attachment = _malformed_email_percent()
    call = MetricCall(attachment.function, "SCRATCH", "volume", ("valid",))
    _emails(scratch, "volume", rows, rows // 100)
    value = DUCKDB.measure(scratch, "SONY_DE", call)
    assert value == pytest.approx(1.0, abs=1e-9)
    assert attachment.passes(value)
    _emails(scratch, "volume", rows, rows // 40)  # 2.5%
    value = DUCKDB.measure(scratch, "SONY_DE", call)
    assert value == pytest.approx(2.5, abs=1e-9)
    assert not attachment.passes(value)
    listed = DUCKDB.violating_keys(scratch, "SONY_DE", call, ["interaction_id"], limit=rows)
    assert len(listed) == rows // 40  # the rows the percentage counts, and only those


def test_a_percentage_over_no_rows_is_null_and_passes(scratch) -> None:
    """An empty table: NULL (Snowflake's EXPECTATION is then NULL, not a violation), never a
    division by zero; the check passes and lists no rows."""
    attachment = _malformed_email_percent()
    _emails(scratch, "no_interactions", 0, 0)
    call = MetricCall(attachment.function, "SCRATCH", "no_interactions", ("valid",))
    assert DUCKDB.measure(scratch, "SONY_DE", call) is None
    assert attachment.passes(None)
    assert DUCKDB.violating_keys(scratch, "SONY_DE", call, ["interaction_id"]) == []


def test_system_dmfs_keep_snowflakes_semantics(scratch) -> None:
    scratch.execute("CREATE TABLE SCRATCH.keys (k VARCHAR)")
    scratch.execute("INSERT INTO SCRATCH.keys VALUES ('a'), ('a'), ('a'), ('b'), (NULL), (NULL)")
    assert _value(scratch, "NULL_COUNT", "keys", "k") == 2
    # every value that has duplicates counts, NULLs included: a, a, a, NULL, NULL
    assert _value(scratch, "DUPLICATE_COUNT", "keys", "k") == 5
    assert _value(scratch, "ROW_COUNT", "keys") == 6


def test_results_table_has_exactly_snowflakes_column_names(warehouse: DuckDBWarehouse) -> None:
    with warehouse.session() as session:
        DUCKDB.deploy(session, load_registry())
        columns = [
            name
            for (name,) in session.fetchall(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'GOVERNANCE' AND table_name = 'DATA_QUALITY_MONITORING_RESULTS' "
                "ORDER BY ordinal_position"
            )
        ]
    assert [name.upper() for name in columns] == SNOWFLAKE_RESULTS_COLUMNS
