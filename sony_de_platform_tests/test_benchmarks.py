"""`make bench` in its quick mode, in a subprocess: the benchmark code keeps working and its
figures are consistent with the warehouse it measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sony_de_platform.settings import REPO_ROOT

pytestmark = pytest.mark.slow


def test_quick_incremental_benchmark_reports_both_runs(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {**os.environ, "SONY_DE_DATA_DIR": str(tmp_path / "data")}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    section = json.loads(out.read_text())["sections"]["incremental"]
    models = {entry["model"]: entry for entry in section["models"]}

    assert section["scale"] == 0.02
    assert 0 < section["new_file_share_of_interactions"] < 0.05
    assert section["ratio"] == pytest.approx(
        section["incremental_run_seconds"] / section["full_rebuild_seconds"], abs=0.002
    )
    staging = models["stg_fan_interactions"]
    assert staging["incremental_how"] == "incremental"
    assert 0 < staging["incremental_rows"] <= section["new_file_rows"]
    assert staging["full_rebuild_rows"] > 10 * staging["incremental_rows"]
    daily = models["fact_daily_performance"]
    assert 0 < daily["incremental_rows"] < daily["full_rebuild_rows"]
    for gold in ("agg_franchise_performance", "agg_fan_lifetime_value"):
        assert models[gold]["materialized"] == "dynamic_table"
        assert models[gold]["incremental_how"] == "INCREMENTAL"
        assert models[gold]["full_rebuild_rows"] > 0
    assert models["dim_fans"]["incremental_how"] == "rebuilt"

    printed = completed.stdout
    assert "| stg_fan_interactions | incremental |" in printed
    assert f"= **{section['ratio']:.3f}**" in printed
