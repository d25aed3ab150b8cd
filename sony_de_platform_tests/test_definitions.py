"""The code location: asset keys, groups, checks, schedule and lineage, as operators see them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetKey, Definitions

from sony_de_platform.definitions import build_definitions
from sony_de_platform.quality.registry import load_registry
from sony_de_platform.settings import REPO_ROOT, Settings
from sony_de_platform.transform.cli_args import DbtRunConfig, dbt_build_args

BRONZE = {
    AssetKey(["raw", "raw_fan_interactions"]),
    AssetKey(["raw", "raw_title_metadata"]),
    AssetKey(["raw", "raw_box_office"]),
}
SILVER = {
    AssetKey(["STG", "stg_fan_interactions"]),
    AssetKey(["STG", "stg_title_metadata"]),
    AssetKey(["STG", "stg_box_office"]),
    AssetKey(["DIMS", "dim_fans"]),
    AssetKey(["DIMS", "dim_titles"]),
    AssetKey(["DIMS", "snp_fan_profiles"]),
    AssetKey(["FACTS", "fact_box_office"]),
    AssetKey(["FACTS", "fact_daily_performance"]),
}
GOLD = {
    AssetKey(["STUDIO_OPS", "agg_franchise_performance"]),
    AssetKey(["MARKETING", "agg_fan_lifetime_value"]),
}
ROUTED = {AssetKey(["SECURE", "fan_pii_vault"]), AssetKey(["STG", "guest_fans"])}  # CDC, Silver
GOVERNANCE = {
    AssetKey(["governance", "monitor_summaries"]),
    AssetKey(["governance", "published_reader_copy"]),
}


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> Definitions:
    from sony_de_platform.settings import load_settings

    settings: Settings = load_settings(
        {"SONY_DE_DATA_DIR": str(tmp_path_factory.mktemp("defs") / "data")}
    )
    return build_definitions(settings)


def test_assets_are_grouped_by_layer(defs: Definitions) -> None:
    graph = defs.resolve_asset_graph()
    groups: dict[str, set[AssetKey]] = {}
    for key in graph.get_all_asset_keys():
        groups.setdefault(graph.get(key).group_name, set()).add(key)
    assert groups == {
        "bronze": BRONZE,
        "silver": SILVER | ROUTED,
        "gold": GOLD,
        "governance": GOVERNANCE,
    }


def test_every_asset_has_kinds_owner_and_description(defs: Definitions) -> None:
    graph = defs.resolve_asset_graph()
    for key in BRONZE | SILVER | GOLD | ROUTED:
        node = graph.get(key)
        assert node.owners == ["team:data-platform"], key
        assert node.description, key
        expected = {"python", "duckdb"} if key in BRONZE | ROUTED else {"dbt", "duckdb"}
        assert expected <= set(node.kinds), key


def test_lineage_joins_raw_assets_to_dbt_models(defs: Definitions) -> None:
    graph = defs.resolve_asset_graph()

    def parents(key: AssetKey) -> set[AssetKey]:
        return set(graph.get(key).parent_keys)

    assert AssetKey(["raw", "raw_fan_interactions"]) in parents(
        AssetKey(["STG", "stg_fan_interactions"])
    )
    assert AssetKey(["raw", "raw_title_metadata"]) in parents(
        AssetKey(["STG", "stg_title_metadata"])
    )
    assert AssetKey(["raw", "raw_box_office"]) in parents(AssetKey(["STG", "stg_box_office"]))
    assert AssetKey(["DIMS", "dim_fans"]) in parents(AssetKey(["DIMS", "snp_fan_profiles"]))
    # RAW -> stream routing -> Silver
    for routed in ROUTED:
        assert parents(routed) == {AssetKey(["raw", "raw_fan_interactions"])}, routed
    assert parents(AssetKey(["DIMS", "dim_fans"])) >= ROUTED
    for gold in GOLD:
        assert parents(gold) & SILVER, gold


def test_dbt_tests_are_asset_checks_on_their_models(defs: Definitions) -> None:
    graph = defs.resolve_asset_graph()
    check_keys = list(graph.asset_check_keys)
    assert len(check_keys) >= 37
    checked_assets = {key.asset_key for key in check_keys}
    assert {AssetKey(["STG", "stg_fan_interactions"]), AssetKey(["DIMS", "dim_fans"])} <= (
        checked_assets
    )
    assert checked_assets <= BRONZE | SILVER | GOLD | ROUTED


def test_dmf_checks_are_named_after_the_dmf_and_block_gold_on_silver_errors(
    defs: Definitions,
) -> None:
    graph = defs.resolve_asset_graph()
    registry = load_registry()
    for attachment in registry.attachments:
        key = AssetCheckKey(AssetKey([attachment.schema, attachment.table]), attachment.check_name)
        assert key in graph.asset_check_keys, attachment.label
        silver_error = attachment.schema in {"STG", "DIMS", "FACTS"} and (
            attachment.severity.value == "ERROR"
        )
        assert graph.get(key).blocking is silver_error, attachment.label
    volume = {k.asset_key for k in graph.asset_check_keys if k.name == "load_volume_within_history"}
    assert volume == BRONZE


def test_hourly_schedule_evaluates_every_dmf_and_the_alert_sensor_runs(defs: Definitions) -> None:
    schedule = defs.resolve_schedule_def("hourly_data_metric_functions")
    assert schedule.cron_schedule == "0 * * * *"
    job = defs.resolve_job_def(schedule.job_name)
    checks = job.asset_layer.asset_graph.asset_check_keys
    assert {(c.asset_key.path[0], c.asset_key.path[1], c.name) for c in checks} == {
        (a.schema, a.table, a.check_name) for a in load_registry().attachments
    }
    assert defs.resolve_sensor_def("data_quality_alerts").default_status.value == "RUNNING"


def test_daily_schedule_materializes_the_whole_graph(defs: Definitions) -> None:
    schedule = defs.resolve_schedule_def("daily_medallion_build")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.job_name == "medallion_full_build"
    job = defs.resolve_job_def(schedule.job_name)
    assert set(job.asset_layer.selected_asset_keys) == BRONZE | SILVER | GOLD | ROUTED | GOVERNANCE


def test_the_full_build_runs_each_dbt_step_once(defs: Definitions) -> None:
    """Every dbt step of the daily build is one dbt invocation: Dagster splits an op into
    `<op>_2` when its checks or assets must run at two points of the graph (as dbt source
    tests on Bronze assets, owned by the Silver op, made it do)."""
    from dagster._core.execution.api import create_execution_plan

    plan = create_execution_plan(defs.resolve_job_def("medallion_full_build"))
    dbt_steps = sorted(key for key in plan.step_keys_to_execute if "dbt" in key or "snap" in key)
    assert dbt_steps == ["fan_profile_snapshots", "gold_dbt_models", "silver_dbt_models"]


def test_governance_runs_after_every_layer(defs: Definitions) -> None:
    """The published copy is downstream of everything, so it is written at the end of a build."""
    graph = defs.resolve_asset_graph()
    summaries, copy = (
        AssetKey(["governance", "monitor_summaries"]),
        AssetKey(["governance", "published_reader_copy"]),
    )
    assert set(graph.get(summaries).parent_keys) == BRONZE | SILVER | GOLD | ROUTED
    assert set(graph.get(copy).parent_keys) == BRONZE | SILVER | GOLD | ROUTED | {summaries}


def test_dbt_command_lines() -> None:
    assert dbt_build_args(DbtRunConfig()) == ["build"]
    assert dbt_build_args(DbtRunConfig(full_refresh=True, fail_fast=True)) == [
        "build",
        "--full-refresh",
        "--fail-fast",
    ]


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env={"PATH": str(dagster.parent), "HOME": str(tmp_path), "SONY_DE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_loading_the_code_location_leaves_the_bulk_data_libraries_unimported(tmp_path) -> None:
    """pyarrow (and numpy with it) cost the code location load about a second; only a Bronze
    load needs them (benchmarks: section startup)."""
    probe = (
        "import sys; from sony_de_platform.definitions import defs; "
        "defs.get_repository_def(); "
        "print(sorted(m for m in ('pyarrow', 'numpy', 'pandas') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "SONY_DE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == "[]"
