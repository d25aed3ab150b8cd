"""Every asset materialized for real (Bronze loaders, dbt on DuckDB, the snapshot) on a small
generated landing folder, checked against the generator's ground truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions

from sony_de_platform.bronze.feeds import FEEDS
from sony_de_platform.definitions import build_definitions
from sony_de_platform.governance.key_stats import current_key_stats
from sony_de_platform.jobs import MEDALLION_FULL_BUILD
from sony_de_platform.settings import Settings, load_settings
from sony_de_platform.synthetic import generate_landing_data
from sony_de_platform.warehouse import build_warehouse

pytestmark = pytest.mark.slow

SCALE = 0.03
PII_COLUMNS = {"email", "full_name", "phone", "date_of_birth"}


class Pipeline:
    def __init__(self, root: Path) -> None:
        self.settings: Settings = load_settings(
            {"SONY_DE_DATA_DIR": str(root / "data"), "SONY_DE_LANDING_SETTLE_SECONDS": "0"}
        )
        self.generated = root / "generated"
        self.manifest = generate_landing_data(self.generated, scale=SCALE, seed=7)
        shutil.copytree(self.generated, self.settings.landing_dir)
        self.defs: Definitions = build_definitions(self.settings)
        self.instance = DagsterInstance.ephemeral()

    def run(self):
        job = self.defs.resolve_job_def(MEDALLION_FULL_BUILD)
        return job.execute_in_process(instance=self.instance, raise_on_error=False)

    def query(self, sql: str) -> list[tuple]:
        with build_warehouse(self.settings).session(read_only=True) as session:
            return session.fetchall(sql)

    def count(self, table: str) -> int:
        return self.query(f"SELECT COUNT(*) FROM {table}")[0][0]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    built = Pipeline(tmp_path_factory.mktemp("pipeline"))
    result = built.run()
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    built.first_result = result  # type: ignore[attr-defined]
    return built


def test_bronze_rows_and_quarantine_match_the_ground_truth(pipeline: Pipeline) -> None:
    feeds = pipeline.manifest["feeds"]
    for feed in FEEDS:
        truth = feeds[feed.name]
        assert pipeline.count(f"RAW.{feed.table}") == truth["loadable_records"], feed.name
        quarantined = dict(
            pipeline.query(
                "SELECT split_part(reason, ':', 1), COUNT(*) FROM RAW.LOAD_QUARANTINE "
                f"WHERE feed = '{feed.name}' GROUP BY 1"
            )
        )
        assert sum(quarantined.values()) == truth["quarantined"], feed.name
        assert quarantined.get("missing required key", 0) == truth["defects"].get(
            "missing_required_key", 0
        ), feed.name
        malformed = sum(n for reason, n in quarantined.items() if reason.startswith("malformed"))
        assert malformed == truth["defects"].get("malformed_line", 0), feed.name


def test_every_file_is_in_the_ledger_and_reconciles(pipeline: Pipeline) -> None:
    ledger = {
        path: (lines, loaded, quarantined, sha)
        for path, lines, loaded, quarantined, sha in pipeline.query(
            "SELECT source_file, lines_read, rows_loaded, rows_quarantined, file_sha256 "
            "FROM RAW.LOAD_LEDGER"
        )
    }
    manifest_files = {entry["path"]: entry for entry in pipeline.manifest["files"]}
    # Identical bytes (e.g. two empty files) are one file to the ledger.
    assert len(ledger) == len({entry["sha256"] for entry in manifest_files.values()})
    for path, (lines, loaded, quarantined, sha) in ledger.items():
        assert lines == manifest_files[path]["lines"], path
        assert lines == loaded + quarantined, path
        assert sha == manifest_files[path]["sha256"], path


def test_silver_cleanses_each_defect_as_documented(pipeline: Pipeline) -> None:
    feeds = pipeline.manifest["feeds"]
    entities = pipeline.manifest["entities"]
    interactions = feeds["fan_interactions"]
    assert pipeline.count("STG.stg_fan_interactions") == interactions["silver_records"]
    assert pipeline.count("STG.stg_title_metadata") == feeds["title_metadata"]["silver_records"]
    assert pipeline.count("STG.stg_box_office") == feeds["box_office"]["silver_records"]
    assert pipeline.query(
        "SELECT COUNT(*) FILTER (WHERE email_hash IS NULL), COUNT(*) FILTER (WHERE NOT "
        "has_valid_email) FROM STG.stg_fan_interactions"
    ) == [(interactions["silver_invalid_emails"], interactions["silver_invalid_emails"])]
    assert (
        pipeline.count("DIMS.dim_titles WHERE imdb_score IS NOT NULL")
        == (feeds["title_metadata"]["valid_imdb_scores"])
    )
    assert pipeline.count("DIMS.dim_fans") == entities["fans"]
    assert pipeline.count("DIMS.dim_titles") == entities["titles"]
    assert pipeline.count("FACTS.fact_daily_performance") == entities["daily_performance_rows"]
    assert pipeline.count("STUDIO_OPS.agg_franchise_performance") == entities["franchise_regions"]
    assert (
        pipeline.count("MARKETING.agg_fan_lifetime_value")
        == (entities["verified_fans_with_purchase"])
    )
    # Revenue is attributed, not lost or double counted.
    ((fan_revenue, box_office),) = pipeline.query(
        "SELECT round(SUM(fan_revenue_usd), 2), round(SUM(box_office_gross_usd), 2) "
        "FROM FACTS.fact_daily_performance"
    )
    assert float(fan_revenue) == pytest.approx(interactions["silver_amount_usd"], abs=0.01)
    assert float(box_office) == pytest.approx(
        feeds["box_office"]["silver_gross_revenue_usd"], abs=0.05
    )


def test_no_clear_pii_outside_raw(pipeline: Pipeline) -> None:
    columns = pipeline.query(
        "SELECT upper(table_schema), table_name, lower(column_name) "
        "FROM information_schema.columns "
        "WHERE upper(table_schema) NOT IN ('RAW', 'SECURE') AND table_catalog = 'SONY_DE'"
    )
    assert columns, "expected Silver and Gold columns"
    leaks = [c for c in columns if c[2] in PII_COLUMNS]
    assert leaks == []
    hashes = pipeline.query(
        "SELECT COUNT(*) FROM DIMS.dim_fans WHERE email_hash IS NOT NULL "
        "AND NOT regexp_full_match(email_hash, '[0-9a-f]{64}')"
    )
    assert hashes == [(0,)]


def test_every_dbt_test_passed_as_an_asset_check(pipeline: Pipeline) -> None:
    result = pipeline.first_result  # type: ignore[attr-defined]
    evaluations = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    expected_checks = len(list(pipeline.defs.resolve_asset_graph().asset_check_keys))
    assert len(evaluations) == expected_checks
    failed = [e.check_name for e in evaluations if not e.passed]
    assert failed == []


def test_key_stats_come_from_the_warehouse(pipeline: Pipeline) -> None:
    stats = current_key_stats(pipeline.settings)
    feeds = pipeline.manifest["feeds"]
    assert stats.bronze_rows == sum(f["loadable_records"] for f in feeds.values())
    assert stats.snapshot_rows == pipeline.manifest["entities"]["fans"]
    assert stats.dbt_tests_configured >= 37
    assert stats.dbt_tests_passing == stats.dbt_tests_configured
    assert stats.silver_rows == sum(
        pipeline.count(t)
        for t in (
            "DIMS.dim_fans",
            "DIMS.dim_titles",
            "FACTS.fact_box_office",
            "FACTS.fact_daily_performance",
        )  # the conformed tables; STG (views and the routed GUEST_FANS) is staging
    )
    table = stats.as_markdown()
    assert "| dbt Tests | " in table and "| SCD2 Snapshot Records | " in table


def test_rerun_adds_nothing_and_a_new_file_adds_exactly_its_rows(pipeline: Pipeline) -> None:
    before = {feed.table: pipeline.count(f"RAW.{feed.table}") for feed in FEEDS}
    snapshot_before = pipeline.count("DIMS.snp_fan_profiles")
    assert pipeline.run().success
    assert {feed.table: pipeline.count(f"RAW.{feed.table}") for feed in FEEDS} == before
    assert pipeline.count("DIMS.snp_fan_profiles") == snapshot_before

    new_file = pipeline.settings.landing_dir / "fan_interactions" / "fan_interactions_late.jsonl"
    source = sorted((pipeline.generated / "fan_interactions").glob("*.jsonl"))[-1]
    records = [json.loads(line) for line in source.read_text().splitlines()[:40] if _ok(line)]
    for number, record in enumerate(records):
        record["interaction_id"] = f"INT-LATE{number:06d}"
    new_file.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert pipeline.run().success
    after = pipeline.count("RAW.RAW_FAN_INTERACTIONS")
    assert after == before["RAW_FAN_INTERACTIONS"] + len(records)


def _ok(line: str) -> bool:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return bool(record.get("interaction_id")) and bool(record.get("fan_id"))


def test_routing_fills_the_vault_and_the_guest_table_that_dim_fans_reads(
    pipeline: Pipeline,
) -> None:
    entities = pipeline.manifest["entities"]
    assert pipeline.count("SECURE.FAN_PII_VAULT") == entities["verified_fans"]
    assert pipeline.count("STG.GUEST_FANS") == entities["guest_fans"]
    routed = (
        "(SELECT fan_id, email_hash FROM SECURE.FAN_PII_VAULT "
        "UNION ALL SELECT fan_id, email_hash FROM STG.GUEST_FANS)"
    )
    # dim_fans takes each fan's hash from the routed tables...
    assert pipeline.query(
        f"SELECT COUNT(*) FROM DIMS.dim_fans JOIN {routed} AS routed USING (fan_id) "
        "WHERE dim_fans.email_hash IS DISTINCT FROM routed.email_hash"
    ) == [(0,)]
    # ...and the routing's hash is the very value dbt's email_hash macro gives.
    ((hashed, unmatched),) = pipeline.query(
        f"SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM "
        "STG.stg_fan_interactions AS s WHERE s.fan_id = routed.fan_id "
        f"AND s.email_hash = routed.email_hash)) FROM {routed} AS routed "
        "WHERE routed.email_hash IS NOT NULL"
    )
    assert hashed >= 0.95 * entities["fans"] and unmatched == 0
    # The PII isolation check ran on every Silver and Gold asset outside SECURE, and passed.
    evaluations = [
        e.asset_check_evaluation_data
        for e in pipeline.first_result.all_events  # type: ignore[attr-defined]
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "no_clear_pii"
    ]
    graph = pipeline.defs.resolve_asset_graph()
    checked = {
        key
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name in ("silver", "gold") and key.path[0] != "SECURE"
    }
    assert {e.asset_key for e in evaluations} == checked
    assert all(e.passed for e in evaluations)
