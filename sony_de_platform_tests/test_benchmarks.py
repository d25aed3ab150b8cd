"""`make bench` in its smoke mode, in a subprocess (what CI runs): every section keeps
working, prints its table, and its JSON figures are consistent with the measurements they
are computed from and with the warehouse they measured."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import incremental, ingest
from benchmarks.__main__ import SECTIONS
from benchmarks.pipeline import PipelineRun, PipelineRuns, too_large_for
from benchmarks.processes import ChildRun
from benchmarks.sections import DEFAULT_SCALE, MODES, Figure, Target
from sony_de_platform.settings import REPO_ROOT

pytestmark = pytest.mark.slow

SMOKE = MODES["smoke"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    tmp_path = tmp_path_factory.mktemp("bench")
    out = tmp_path / "results.json"
    env = {**os.environ, "SONY_DE_DATA_DIR": str(tmp_path / "data")}
    for name in ("SONY_DE_DUCKDB_PATH", "SONY_DE_LANDING_DIR", "DAGSTER_HOME"):
        env.pop(name, None)
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(out.read_text()), completed.stdout, tmp_path / "data"


def test_every_section_prints_its_table_and_every_figure_its_target(smoke) -> None:
    report, printed, _ = smoke
    assert report["mode"] == "smoke" and report["judged"] is False
    assert list(report["sections"]) == list(SECTIONS)
    for name in SECTIONS:
        assert f"## {name}\n" in printed
    assert "## figures" in printed
    names = [figure["name"] for figure in report["figures"]]
    assert len(names) == len(set(names)) >= len(SECTIONS)
    for figure in report["figures"]:
        assert figure["met"] is None  # smoke figures are never judged
        assert figure["runs"] >= 1 and figure["inputs"]
        assert f"| {figure['name']} |" in printed
    for section in report["sections"].values():
        assert set(section["versions"]) >= {"duckdb", "dbt-core", "dagster"}
    assert "not judged (smoke)" in printed and "no target" in printed


def test_a_judged_figure_is_met_or_missed_by_its_target() -> None:
    at_most = Target("<=", 1.5)
    assert Figure("f", 1.5, "", {"scale": 1}, 3, at_most, judged=True).met is True
    assert Figure("f", 1.51, "", {"scale": 1}, 3, at_most, judged=True).met is False
    assert Figure("f", 0.69, "", {"scale": 1}, 3, Target(">=", 0.7), judged=True).met is False
    assert Figure("f", 9.0, "", {"scale": 1}, 1, at_most, judged=False).met is None
    assert "**missed**" in Figure("f", 2, "", {}, 3, at_most, judged=True).as_row()


def test_ingest_ratio_is_the_ratio_of_the_two_rates(smoke) -> None:
    section = smoke[0]["sections"]["ingest"]
    inputs = section["inputs"]
    assert inputs["scale"] == SMOKE.scale and inputs["rows"] == section["platform_rows"]
    assert inputs["files"] > 3 and 0 < section["duckdb_rows"] <= section["platform_rows"]
    platform_rate = section["platform_rows"] / section["platform_seconds"]
    duckdb_rate = section["duckdb_rows"] / section["duckdb_seconds"]
    assert section["platform_rows_per_second"] == pytest.approx(platform_rate, rel=0.01)
    assert section["duckdb_rows_per_second"] == pytest.approx(duckdb_rate, rel=0.01)
    assert section["ratio"] == pytest.approx(platform_rate / duckdb_rate, rel=0.01)
    assert section["figures"][0]["value"] == section["ratio"]
    assert sum(feed["platform_rows"] for feed in section["feeds"]) == section["platform_rows"]
    # beside it, not judged: DuckDB's load of the same files with every field as text
    assert 0 < section["duckdb_text_rows"] <= section["platform_rows"]
    text_rate = section["duckdb_text_rows"] / section["duckdb_text_seconds"]
    assert section["duckdb_text_rows_per_second"] == pytest.approx(text_rate, rel=0.01)
    assert section["ratio_to_text_load"] == pytest.approx(platform_rate / text_rate, rel=0.01)


def test_orchestration_and_scaling_share_runs_that_built_the_same_warehouse(smoke) -> None:
    sections = smoke[0]["sections"]
    orchestration, scaling = sections["orchestration"], sections["scaling"]
    assert [entry["inputs"]["scale"] for entry in orchestration["scales"]] == list(SMOKE.scales)
    for entry, scaled in zip(orchestration["scales"], scaling["scales"], strict=True):
        assert entry["ratio"] == pytest.approx(
            entry["platform_seconds"] / entry["bare_seconds"], abs=0.002
        )
        assert scaled["seconds"] == entry["platform_seconds"]
        # both ways loaded the same Bronze rows and built the same Silver and Gold rows
        assert entry["bronze_rows"]["platform"] == entry["bronze_rows"]["bare"] > 0
        assert entry["silver_gold_rows"]["platform"] == entry["silver_gold_rows"]["bare"] > 0
        assert entry["bronze_rows"]["platform"] <= entry["inputs"]["rows"]
        assert "dbt build" in entry["bare_steps"] and "silver_dbt_models" in entry["platform_steps"]
        assert 100 < scaled["peak_mib"] < 8192 and 100 < scaled["bare_peak_mib"] < 8192
    assert orchestration["scales_left_out"] == scaling["scales_left_out"] == []
    # each scale's pipeline roots (a copy of the landing files, the warehouse) are removed
    pipelines = smoke[2] / "bench" / "pipelines"
    assert pipelines.is_dir() and not [path for path in pipelines.iterdir() if path.is_dir()]
    first, last = orchestration["scales"][0], orchestration["scales"][-1]
    assert orchestration["trend"] == pytest.approx(last["ratio"] / first["ratio"], abs=0.01)
    for step, (smaller, larger) in zip(
        scaling["steps"], zip(scaling["scales"], scaling["scales"][1:], strict=False), strict=True
    ):
        assert step["rows_ratio"] == pytest.approx(
            larger["inputs"]["rows"] / smaller["inputs"]["rows"], abs=0.002
        )
        assert step["time_ratio"] == pytest.approx(
            larger["seconds"] / smaller["seconds"], abs=0.002
        )


def _runs_peaking_at(scale: float, peak_gib: float) -> PipelineRuns:
    child = ChildRun(("python",), 1.0, int(peak_gib * 2**30), 0, "")
    return PipelineRuns(
        scale,
        {"scale": scale},
        {kind: [PipelineRun(kind, scale, child, {})] for kind in ("platform", "bare")},
    )


@pytest.mark.parametrize("mode", [mode for mode in MODES.values() if mode.judged])
def test_a_judged_mode_measures_ingest_and_incremental_at_their_targets_scale(mode) -> None:
    """`make bench` judges each figure at the scale its target is stated for, so that its
    verdict is the target's, not one at a scale the target says nothing of."""
    for target in (ingest.TARGET, incremental.TARGET):
        assert target.stated_for == f"scale {mode.scale:g}"


@pytest.mark.parametrize("mode", [mode for mode in MODES.values() if mode.judged])
def test_a_judged_mode_judges_the_trend_from_the_default_scale_upward(mode) -> None:
    """The orchestration target is stated for make demo's scale and the trend for larger
    ones: a judged mode's pipeline scales start at the default and grow."""
    assert mode.scales[0] == DEFAULT_SCALE
    assert list(mode.scales) == sorted(set(mode.scales)) and len(mode.scales) > 1


def test_the_full_mode_runs_scale_100_only_if_it_fits_in_memory() -> None:
    assert MODES["full"].scales == (1.0, 10.0, 30.0, 100.0)
    measured = [_runs_peaking_at(10, 1.2), _runs_peaking_at(30, 2.6)]
    # projected along the line through 10 and 30: 2.6 + 70 * (1.4 / 20) = 7.5 GiB
    assert too_large_for(24 * 2**30, measured, 100) is None
    reason = too_large_for(7 * 2**30, measured, 100)
    assert reason == (
        "scale 100 not run: its peak memory, projected from scales 10 and 30, is 7.5 GiB, "
        "over the budget of 7.0 GiB"
    )
    assert too_large_for(1, measured[:1], 100) is None  # one scale: nothing to project from


def test_startup_and_stream_latency_figures_add_up(smoke) -> None:
    startup = smoke[0]["sections"]["startup"]
    assert startup["beyond_import_dagster_seconds"] == pytest.approx(
        startup["code_location_seconds"] - startup["import_dagster_seconds"], abs=0.002
    )
    assert startup["import_dagster_seconds"] > 0 and startup["assets"] > 10

    stream = smoke[0]["sections"]["stream_latency"]
    assert len(stream["drops"]) == SMOKE.stream_drops + 1  # the first waits for the daemon
    for drop in stream["drops"]:
        parts = drop["until_run_created"] + drop["run_launch"] + drop["run"]
        assert drop["latency_seconds"] == pytest.approx(parts, abs=0.01)
        assert drop["latency_seconds"] > 0
    assert stream["latency_seconds"] == stream["drops"][1]["latency_seconds"]


def test_incremental_benchmark_reports_both_runs(smoke) -> None:
    section = smoke[0]["sections"]["incremental"]
    models = {entry["model"]: entry for entry in section["models"]}

    assert section["scale"] == SMOKE.scale
    assert 0 < section["new_file_share_of_interactions"] < 0.05
    assert len(section["runs"]) == SMOKE.repeats == section["figures"][0]["runs"]
    for run in section["runs"]:
        assert run["ratio"] == pytest.approx(
            run["incremental_run_seconds"] / run["full_rebuild_seconds"], rel=0.002
        )
    assert section["ratio"] == pytest.approx(
        statistics.median(run["ratio"] for run in section["runs"]), abs=0.001
    )
    staging = models["stg_fan_interactions"]
    assert staging["incremental_how"] == "incremental"
    assert 0 < staging["incremental_rows"] <= section["new_file_rows"]
    assert staging["full_rebuild_rows"] > 10 * staging["incremental_rows"]
    daily = models["fact_daily_performance"]
    assert 0 < daily["incremental_rows"] < daily["full_rebuild_rows"]
    # refresh_mode AUTO: the franchise table computes its fan counts from the new interactions
    # (refresh_on_append), the fans' table recomputes the changed fans (refresh_key)
    for gold, how in (
        ("agg_franchise_performance", "INCREMENTAL"),
        ("agg_fan_lifetime_value", "INCREMENTAL"),
    ):
        assert models[gold]["materialized"] == "dynamic_table"
        assert models[gold]["incremental_how"] == how
        assert models[gold]["full_rebuild_rows"] > 0
    fans = models["dim_fans"]
    assert fans["incremental_how"] == "incremental"
    assert 0 < fans["incremental_rows"] < fans["full_rebuild_rows"]
    # the run that picks up a new interactions file leaves the catalog and box office alone
    for untouched in ("stg_title_metadata", "dim_titles", "stg_box_office", "fact_box_office"):
        assert models[untouched]["incremental_how"] == "not run", untouched
        assert models[untouched]["incremental_seconds"] == 0, untouched
    assert models["dim_titles"]["full_rebuild_rows"] > 0
    assert section["incremental_selection"] == [
        "source:raw.RAW_FAN_INTERACTIONS+",
        "source:routed.GUEST_FANS+",
        "source:secure.FAN_PII_VAULT+",
    ]

    printed = smoke[1]
    assert "| stg_fan_interactions | incremental |" in printed
    assert f"median ratio **{section['ratio']:.3f}**" in printed
