"""The PII isolation check, run by Dagster over a real DuckDB file: it fails with ERROR
severity, naming table and column, as soon as clear PII shows outside RAW and SECURE."""

from __future__ import annotations

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    define_asset_job,
)

from sony_de_platform.cdc.pii_isolation import PII_RULES, build_pii_isolation_checks
from sony_de_platform.warehouse import DuckDBWarehouse

DIM_FANS = AssetKey(["DIMS", "dim_fans"])
FAN_VALUE = AssetKey(["MARKETING", "agg_fan_value"])
VAULT = AssetKey(["SECURE", "fan_pii_vault"])


@pytest.fixture
def warehouse(warehouse: DuckDBWarehouse) -> DuckDBWarehouse:
    """Silver and Gold tables without PII, and PII where it belongs (RAW, SECURE)."""
    with warehouse.session() as session:
        for schema in ("RAW", "SECURE", "DIMS", "MARKETING", "GOVERNANCE"):
            session.ensure_schema(schema)
        session.execute(
            "CREATE TABLE RAW.RAW_FANS AS SELECT 'FAN-0000001' AS fan_id, "
            "'ada@example.com' AS email, '+44-555-1234567' AS phone"
        )
        session.execute(
            "CREATE TABLE SECURE.FAN_PII_VAULT AS SELECT 'FAN-0000001' AS fan_id, "
            "'ada@example.com' AS email, 'Ada Lovelace' AS full_name"
        )
        session.execute(
            "CREATE TABLE DIMS.dim_fans AS SELECT * FROM (VALUES "
            "('FAN-0000001', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', "
            "'Drama', DATE '2026-06-01'), "
            "('FAN-1234567', NULL, 'Sci-Fi', DATE '2026-06-02')) "
            "AS t(fan_id, email_hash, preferred_genre, first_day)"
        )
        session.execute(
            "CREATE TABLE MARKETING.agg_fan_value AS SELECT 'FAN-0000001' AS fan_id, "
            "'INT-1000000001' AS last_interaction_id, 12.5 AS spend_usd"
        )
        session.execute(
            "CREATE TABLE GOVERNANCE.RUN_NOTES AS SELECT 'dbt build passed 2026-06-01' AS note"
        )
    return warehouse


def evaluate_checks(warehouse: DuckDBWarehouse) -> dict[AssetKey, AssetCheckEvaluation]:
    """Run the check op in a real Dagster job, as after a materialization of these assets."""
    specs = [
        AssetSpec(key, group_name=group, metadata={"dagster/table_name": table})
        for key, group, table in (
            (DIM_FANS, "silver", "SONY_DE.DIMS.dim_fans"),
            (FAN_VALUE, "gold", "SONY_DE.MARKETING.agg_fan_value"),
            (VAULT, "silver", "SONY_DE.SECURE.FAN_PII_VAULT"),
        )
    ]
    defs = Definitions(
        assets=specs,
        asset_checks=[build_pii_isolation_checks(specs)],
        jobs=[define_asset_job("pii_scan", selection=AssetSelection.all_asset_checks())],
        resources={"warehouse": warehouse},
    )
    result = defs.resolve_job_def("pii_scan").execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    evaluations = [
        event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert {e.check_name for e in evaluations} == {"no_clear_pii"}
    return {evaluation.asset_key: evaluation for evaluation in evaluations}


def findings(evaluation: AssetCheckEvaluation) -> list[str]:
    return evaluation.metadata["findings"].value  # type: ignore[return-value]


def test_every_silver_and_gold_asset_outside_secure_is_checked_and_passes_clean(
    warehouse: DuckDBWarehouse,
) -> None:
    evaluations = evaluate_checks(warehouse)
    assert set(evaluations) == {DIM_FANS, FAN_VALUE}  # the vault holds PII by design
    assert all(e.passed for e in evaluations.values())
    # Tables outside RAW and SECURE: DIMS, MARKETING, GOVERNANCE.
    assert evaluations[DIM_FANS].metadata["tables_scanned"].value == 3


def test_an_email_planted_in_a_silver_table_fails_its_check_naming_table_and_column(
    warehouse: DuckDBWarehouse,
) -> None:
    with warehouse.session() as session:
        session.execute(
            "UPDATE DIMS.dim_fans SET preferred_genre = 'Drama; contact ada@example.com' "
            "WHERE fan_id = 'FAN-0000001'"
        )
    evaluations = evaluate_checks(warehouse)
    failed = evaluations[DIM_FANS]
    assert not failed.passed
    assert failed.severity is AssetCheckSeverity.ERROR
    assert findings(failed) == [
        "DIMS.DIM_FANS.preferred_genre: 1 value(s) match the e-mail address pattern"
    ]
    assert "ada@example.com" not in str(failed.metadata) + str(failed.description)
    assert evaluations[FAN_VALUE].passed


def test_a_phone_number_or_a_pii_named_column_in_gold_fails(warehouse: DuckDBWarehouse) -> None:
    with warehouse.session() as session:
        session.execute(
            "ALTER TABLE MARKETING.agg_fan_value ADD COLUMN date_of_birth DATE DEFAULT NULL"
        )
        session.execute("UPDATE MARKETING.agg_fan_value SET last_interaction_id = '+1-555-2345678'")
    failed = evaluate_checks(warehouse)[FAN_VALUE]
    assert not failed.passed and failed.severity is AssetCheckSeverity.ERROR
    assert findings(failed) == [
        "MARKETING.AGG_FAN_VALUE.date_of_birth: column named like a PII field",
        "MARKETING.AGG_FAN_VALUE.last_interaction_id: 1 value(s) match the phone number pattern",
    ]


def test_a_leak_in_a_table_no_asset_owns_fails_every_check(warehouse: DuckDBWarehouse) -> None:
    with warehouse.session() as session:
        session.execute("INSERT INTO GOVERNANCE.RUN_NOTES VALUES ('call (555) 123-4567')")
    evaluations = evaluate_checks(warehouse)
    for evaluation in evaluations.values():
        assert not evaluation.passed
        assert findings(evaluation) == [
            "GOVERNANCE.RUN_NOTES.note: 1 value(s) match the phone number pattern"
        ]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("ada.lovelace1434252@fans.example.net", "e-mail address"),
        ("reply to x_y@mail.co.uk please", "e-mail address"),
        ("+44-555-4538452", "phone number"),
        ("+1 555 7926198", "phone number"),
        ("(555) 123-4567", "phone number"),
        ("FAN-1434252", None),
        ("INT-1000000001", None),
        ("TT-123456", None),
        ("2026-06-01 10:00:00", None),
        ("2176393b1fca31215c63a573b83a33bb42e36dca210d608d59ed2b91735a216b", None),
        ("ada.example.com", None),
        ("Spider-Verse 2: 1,234-5678 tickets", None),
    ],
)
def test_pii_patterns_on_the_engine(
    warehouse: DuckDBWarehouse, value: str, rule: str | None
) -> None:
    """The condition the scan evaluates (the plain search, then the pattern), and the pattern
    alone: both find the same values."""
    with warehouse.session(read_only=True) as session:
        matched = set()
        for name, pii_rule in PII_RULES.items():
            condition, params = pii_rule.matches_sql(session, "value")
            scan = session.scalar(f"SELECT {condition} FROM (SELECT ? AS value)", [*params, value])
            alone = session.scalar(
                f"SELECT {session.regex_contains_sql('?')}", [value, pii_rule.pattern]
            )
            assert scan == alone, (name, value)
            if scan:
                matched.add(name)
    assert matched == ({rule} if rule else set())
