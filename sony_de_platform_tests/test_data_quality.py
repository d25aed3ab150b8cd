"""Data quality end to end on the demo data at its default scale, on a persistent Dagster
instance: every DMF passes on Silver and Gold while the same bodies over RAW count exactly
the defects the generator injected; a corrupted Silver row fails the right check with
ERROR, keeps Gold from being built in that run, and pages on-call once (a webhook served
here on 127.0.0.1) until it is fixed, which sends a resolve."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    Definitions,
    build_sensor_context,
    define_asset_job,
)

from sony_de_platform.definitions import build_definitions
from sony_de_platform.governance.key_stats import current_key_stats
from sony_de_platform.jobs import MEDALLION_FULL_BUILD
from sony_de_platform.quality.alerts import OnCallAlerts
from sony_de_platform.quality.measurement import latest_dmf_outcome
from sony_de_platform.quality.registry import load_registry
from sony_de_platform.quality.schedules import DMF_JOB
from sony_de_platform.quality.sensors import data_quality_alerts
from sony_de_platform.settings import Engine, Settings, load_settings
from sony_de_platform.synthetic import generate_landing_data
from sony_de_platform.warehouse import build_warehouse
from sony_de_platform.warehouse.data_metrics import DATA_METRIC_ENGINES, MetricCall

pytestmark = pytest.mark.slow

SCALE = 1.0  # `make demo`'s default scale
GOLD = [
    AssetKey(["STUDIO_OPS", "agg_franchise_performance"]),
    AssetKey(["MARKETING", "agg_fan_lifetime_value"]),
]
DIM_TITLES = AssetKey(["DIMS", "dim_titles"])
CORRUPT_TITLE = "TT-999999"
INTERACTIONS = AssetKey(["STG", "stg_fan_interactions"])
# The contract's e-mail rule over RAW's clear addresses (dbt macro is_valid_email)
RAW_HAS_VALID_EMAIL = (
    r"COALESCE(REGEXP_LIKE(TRIM(email), '^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$'), FALSE)"
)
DUCKDB = DATA_METRIC_ENGINES[Engine.DUCKDB]


class Platform:
    def __init__(self, root: Path) -> None:
        # The copied files are complete: no settle time, or a file copied in the last few
        # seconds of a busy machine would wait for a later run and the counts would differ.
        self.settings: Settings = load_settings(
            {"SONY_DE_DATA_DIR": str(root / "data"), "SONY_DE_LANDING_SETTLE_SECONDS": "0"}
        )
        self.manifest = generate_landing_data(root / "generated", scale=SCALE, seed=42)
        shutil.copytree(root / "generated", self.settings.landing_dir)
        self.defs: Definitions = build_definitions(self.settings)
        (root / "dagster_home").mkdir()
        self.instance = DagsterInstance.local_temp(str(root / "dagster_home"))
        self.registry = load_registry()

    def run(self, job_name: str, defs: Definitions | None = None):
        job = (defs or self.defs).resolve_job_def(job_name)
        return job.execute_in_process(instance=self.instance, raise_on_error=False)

    def execute(self, sql: str, params: list | None = None) -> None:
        with build_warehouse(self.settings).session() as session:
            session.execute(sql, params)


def evaluations(result) -> list:
    return [
        event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory):
    built = Platform(tmp_path_factory.mktemp("quality"))
    built.first = built.run(MEDALLION_FULL_BUILD)  # type: ignore[attr-defined]
    assert built.first.success, [e.message for e in built.first.all_events if e.is_failure]
    yield built
    built.instance.dispose()


def test_every_dmf_passes_on_the_demo_data(platform: Platform) -> None:
    attached = {(a.schema, a.table, a.check_name) for a in platform.registry.attachments}
    dmf_results = {
        (e.asset_key.path[0], e.asset_key.path[1], e.check_name): e
        for e in evaluations(platform.first)  # type: ignore[attr-defined]
        if (e.asset_key.path[0], e.asset_key.path[-1], e.check_name) in attached
    }
    assert set(dmf_results) == attached
    assert [key for key, e in dmf_results.items() if not e.passed] == []
    with build_warehouse(platform.settings).session(read_only=True) as session:
        recorded = session.scalar("SELECT COUNT(*) FROM GOVERNANCE.DATA_QUALITY_MONITORING_RESULTS")
    assert recorded == len(attached)  # one row per evaluation, appended

    stats = current_key_stats(platform.settings)
    assert stats.dmf_passing == stats.dmf_total == len(attached) >= 6
    assert f"| DMF Checks | {len(attached)}/{len(attached)} Passing |" in stats.as_markdown()


def test_the_same_bodies_over_raw_count_the_injected_defects(platform: Platform) -> None:
    functions = {f.name: f for f in platform.registry.functions}
    feeds = platform.manifest["feeds"]
    interactions, titles, box_office = (
        feeds["fan_interactions"],
        feeds["title_metadata"],
        feeds["box_office"],
    )
    purchase = "interaction_type IN ('ticket_purchase', 'stream_rental', 'merch_purchase')"
    # DMF, RAW table, arguments (RAW keeps text: cast as the signature needs), ground truth
    probes = [
        ("VALID_IMDB_SCORE", "RAW_TITLE_METADATA", ["TRY_CAST(imdb_score AS DOUBLE)"],
         titles["defects"]["imdb_out_of_range"]),
        ("POSITIVE_REVENUE", "RAW_BOX_OFFICE", ["TRY_CAST(gross_revenue_usd AS DOUBLE)"],
         box_office["defects"]["non_positive_revenue"]),
        ("NO_FUTURE_EVENTS", "RAW_FAN_INTERACTIONS",
         ["TRY_CAST(REPLACE(event_ts, 'Z', '') AS TIMESTAMP)", "_loaded_at"],
         interactions["defects"]["future_timestamp"]),
        # every RAW row carries a clear address, which is exactly what an email_hash must not be
        ("VALID_EMAIL_HASH", "RAW_FAN_INTERACTIONS", ["email"], interactions["loadable_records"]),
        # only the injected addresses fail the contract's rule (copies are of clean records):
        # their percentage of RAW's loaded rows
        ("MALFORMED_EMAIL_PERCENT", "RAW_FAN_INTERACTIONS", [RAW_HAS_VALID_EMAIL],
         100 * interactions["defects"]["malformed_email"] / interactions["loadable_records"]),
        # a duplicated record shows its value twice
        ("DUPLICATE_COUNT", "RAW_FAN_INTERACTIONS", ["interaction_id"],
         2 * interactions["defects"]["duplicate"]),
        ("DUPLICATE_COUNT", "RAW_TITLE_METADATA", ["title_id"], 2 * titles["defects"]["duplicate"]),
        ("DUPLICATE_COUNT", "RAW_BOX_OFFICE", ["title_id || '|' || report_date || '|' || region"],
         2 * box_office["defects"]["duplicate"]),
        # records missing a key were quarantined, and no feed carries the defects below
        ("NULL_COUNT", "RAW_FAN_INTERACTIONS", ["fan_id"], 0),
        ("NULL_COUNT", "RAW_TITLE_METADATA", ["title_id"], 0),
        ("VALID_REGION", "RAW_FAN_INTERACTIONS", ["region"], 0),
        ("VALID_REGION", "RAW_BOX_OFFICE", ["region"], 0),
        ("VALID_RATING", "RAW_FAN_INTERACTIONS", ["TRY_CAST(rating AS INTEGER)"], 0),
        ("PRICED_PURCHASES", "RAW_FAN_INTERACTIONS",
         [purchase, "TRY_CAST(amount_usd AS DOUBLE)"], 0),
    ]  # fmt: skip
    assert min(titles["defects"]["imdb_out_of_range"], box_office["defects"]["duplicate"]) > 0
    with build_warehouse(platform.settings).session(read_only=True) as session:
        DUCKDB.prepare(session)
        counted = [
            (name, table, DUCKDB.measure(session, "SONY_DE", MetricCall(
                functions[name], "RAW", table, tuple(arguments))))
            for name, table, arguments, _ in probes
        ]  # fmt: skip
    assert counted == [
        (name, table, pytest.approx(truth, rel=1e-12)) for name, table, _, truth in probes
    ]


def _malformed_email_percent(result) -> object:
    (evaluation,) = [
        e
        for e in evaluations(result)
        if (e.asset_key, e.check_name) == (INTERACTIONS, "malformed_email_percent")
    ]
    return evaluation


def test_malformed_email_percent_on_silver_is_the_injected_rate(platform: Platform) -> None:
    """The malformed_email_percent check of the full build measures, from Silver's validity
    flag alone, exactly the generator's malformed e-mails (guests' and verified fans' alike)
    as a percentage of Silver's interactions: the contract's 1.0%, within the tolerated 2%."""
    interactions = platform.manifest["feeds"]["fan_interactions"]
    injected = interactions["defects"]["malformed_email"]
    assert injected == interactions["silver_invalid_emails"] > 0
    expected = 100 * injected / interactions["silver_records"]
    assert expected == pytest.approx(1.0, abs=0.05)  # the contract's rate
    evaluation = _malformed_email_percent(platform.first)  # type: ignore[attr-defined]
    assert evaluation.metadata["value"].value == pytest.approx(expected, rel=1e-12)
    assert evaluation.metadata["measure"].value == "percent of rows"
    assert evaluation.passed and evaluation.severity.value == "WARN" and not evaluation.blocking
    with build_warehouse(platform.settings).session(read_only=True) as session:
        recorded = session.scalar(
            "SELECT value FROM GOVERNANCE.DATA_QUALITY_MONITORING_RESULTS WHERE metric_name = "
            "'MALFORMED_EMAIL_PERCENT' AND table_name = 'STG_FAN_INTERACTIONS'"
        )
        silver_rows = session.scalar("SELECT COUNT(*) FROM STG.stg_fan_interactions")
        by_fan_type = dict(
            session.fetchall(
                "SELECT fan_type, COUNT(*) FROM STG.stg_fan_interactions "
                "WHERE NOT has_valid_email GROUP BY fan_type"
            )
        )
    assert silver_rows == interactions["silver_records"]
    assert recorded == pytest.approx(expected, rel=1e-12)  # DOUBLE keeps the fraction
    assert set(by_fan_type) == {"guest", "verified"}


def test_a_corrupted_silver_row_blocks_gold_and_pages_on_call_once(
    platform: Platform, webhook
) -> None:
    alerts = OnCallAlerts(
        webhook_url=webhook.url, dagster_url="http://dagster.test", backoff_seconds=0.01
    )
    resources = {"alerts": alerts, "warehouse": build_warehouse(platform.settings)}

    def tick(cursor: str | None) -> str:
        context = build_sensor_context(
            instance=platform.instance,
            cursor=cursor,
            definitions=platform.defs,
            resources=resources,
        )
        result = data_quality_alerts(context)
        return result.cursor

    cursor = tick(None)
    assert webhook.received == [], "a clean build pages no one"

    platform.execute(
        "INSERT INTO DIMS.dim_titles (title_id, title_name, franchise, genre, imdb_score) "
        "VALUES (?, 'Corrupted', 'Nowhere', 'Drama', 42.0)",
        [CORRUPT_TITLE],
    )
    dim_titles_dmfs = [
        AssetCheckKey(DIM_TITLES, a.check_name)
        for a in platform.registry.attachments_on("DIMS", "dim_titles")
    ]
    rebuild_gold = define_asset_job(
        "rebuild_gold",
        selection=AssetSelection.assets(*GOLD) | AssetSelection.checks(*dim_titles_dmfs),
    )
    gold_before = {
        key: platform.instance.get_latest_materialization_event(key).run_id for key in GOLD
    }
    result = platform.run(
        "rebuild_gold", Definitions.merge(platform.defs, Definitions(jobs=[rebuild_gold]))
    )

    failed = [
        (e.asset_key, e.check_name, e.severity.value) for e in evaluations(result) if not e.passed
    ]
    assert failed == [(DIM_TITLES, "valid_imdb_score", "ERROR")]
    (failure,) = [e for e in evaluations(result) if not e.passed]
    assert failure.metadata["value"].value == 1
    assert failure.metadata["violating_rows"].value == [{"title_id": CORRUPT_TITLE}]
    assert not result.success
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "data_metrics_dims_dim_titles" in started and "gold_dbt_models" not in started
    assert not [e for e in result.all_events if e.is_step_materialization]
    assert {
        key: platform.instance.get_latest_materialization_event(key).run_id for key in GOLD
    } == gold_before
    with build_warehouse(platform.settings).session(read_only=True) as session:
        passing, total = latest_dmf_outcome(session)
    assert passing == total - 1

    cursor = tick(cursor)
    (alert,) = webhook.received
    details = alert["sony_de_alert"]
    assert {
        k: details[k]
        for k in ("action", "asset_key", "check_name", "severity", "value", "expectation")
    } == {
        "action": "trigger",
        "asset_key": "DIMS/dim_titles",
        "check_name": "valid_imdb_score",
        "severity": "ERROR",
        "value": "1",
        "expectation": "VALUE = 0",
    }
    assert details["run_url"] == f"http://dagster.test/runs/{result.run_id}"
    assert details["runbook"] == next(
        a.runbook
        for a in platform.registry.attachments
        if a.label == "DIMS.dim_titles:valid_imdb_score"
    )

    # The hourly DMF evaluation finds it again, within the suppression window: no new page.
    again = platform.run(DMF_JOB)
    assert [e.check_name for e in evaluations(again) if not e.passed] == ["valid_imdb_score"]
    cursor = tick(cursor)
    assert len(webhook.received) == 1

    platform.execute("DELETE FROM DIMS.dim_titles WHERE title_id = ?", [CORRUPT_TITLE])
    fixed = platform.run(DMF_JOB)
    assert fixed.success
    tick(cursor)
    assert len(webhook.received) == 2
    resolve = webhook.received[1]["sony_de_alert"]
    assert (resolve["action"], resolve["check_name"], resolve["run_id"]) == (
        "resolve",
        "valid_imdb_score",
        fixed.run_id,
    )

    with build_warehouse(platform.settings).session(read_only=True) as session:
        logged = session.fetchall(
            "SELECT action, check_key, delivery_status, run_id FROM GOVERNANCE.ALERTS "
            "ORDER BY recorded_at"
        )
        assert latest_dmf_outcome(session) == (total, total)
    assert logged == [
        ("trigger", "DIMS/dim_titles:valid_imdb_score", "delivered", result.run_id),
        ("resolve", "DIMS/dim_titles:valid_imdb_score", "delivered", fixed.run_id),
    ]


def test_malformed_email_percent_past_2_percent_warns_and_gold_still_builds(
    platform: Platform,
) -> None:
    """Malformed e-mails on just over 2% of Silver's interactions: the Silver check fails
    with WARN, and Gold is built in the same run all the same."""
    interactions = platform.manifest["feeds"]["fan_interactions"]
    injected = interactions["defects"]["malformed_email"]
    rows = interactions["silver_records"]
    malformed = rows * 2 // 100 + 1  # the fewest rows past 2%
    flipped = (
        "interaction_id IN (SELECT interaction_id FROM STG.stg_fan_interactions "
        "WHERE has_valid_email ORDER BY interaction_id LIMIT ?)"
    )
    platform.execute(
        f"UPDATE STG.stg_fan_interactions SET has_valid_email = false WHERE {flipped}",
        [malformed - injected],
    )
    check = AssetCheckKey(INTERACTIONS, "malformed_email_percent")
    rebuild_gold = define_asset_job(
        "warn_then_gold",
        selection=AssetSelection.assets(*GOLD) | AssetSelection.checks(check),
    )
    try:
        result = platform.run(
            "warn_then_gold", Definitions.merge(platform.defs, Definitions(jobs=[rebuild_gold]))
        )
    finally:
        platform.execute(
            "UPDATE STG.stg_fan_interactions SET has_valid_email = true "
            "WHERE NOT has_valid_email AND email_hash IS NOT NULL"
        )
    evaluation = _malformed_email_percent(result)
    assert (evaluation.passed, evaluation.severity.value, evaluation.blocking) == (
        False,
        "WARN",
        False,
    )
    value = evaluation.metadata["value"].value
    assert value == pytest.approx(100 * malformed / rows, rel=1e-12)
    assert 2 < value < 2 + 100 / rows * 1.5  # one row past the tolerance is enough
    assert len(evaluation.metadata["violating_rows"].value) == 10  # keys only
    assert result.success
    materialized = {e.asset_key for e in result.all_events if e.is_step_materialization}
    assert set(GOLD) <= materialized
