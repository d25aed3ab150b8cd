"""dbt's artifacts on disk: what the code location load reads to decide the manifest is
current, and how many invocation folders the dbt steps leave behind."""

from __future__ import annotations

import os
from pathlib import Path

from sony_de_platform.transform.assets import prune_invocation_artifacts
from sony_de_platform.transform.project import _newest_source_mtime


def _write(path: Path, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("select 1\n")
    os.utime(path, (mtime, mtime))


def test_newest_source_mtime_reads_project_files_and_skips_artifact_folders(tmp_path):
    _write(tmp_path / "dbt_project.yml", 1_000)
    _write(tmp_path / "models" / "silver" / "dim_fans.sql", 2_000)
    _write(tmp_path / "target" / "local" / "manifest.json", 9_000)
    _write(tmp_path / "target" / "silver_dbt_models-abc1234-def5678" / "run.json", 9_500)
    _write(tmp_path / "logs" / "dbt.log", 9_900)
    _write(tmp_path / "dbt_packages" / "pkg" / "macro.sql", 9_950)

    assert _newest_source_mtime(tmp_path) == 2_000

    _write(tmp_path / "macros" / "email.sql", 3_000)  # an edited macro makes the manifest stale
    assert _newest_source_mtime(tmp_path) == 3_000


def test_prune_keeps_the_newest_invocations_of_the_same_step_only(tmp_path):
    def invocation(name: str, mtime: float) -> Path:
        folder = tmp_path / name
        _write(folder / "manifest.json", mtime)
        os.utime(folder, (mtime, mtime))
        return folder

    silver = [invocation(f"silver_dbt_models-run{i:04d}-uuid{i:03d}", 100 + i) for i in range(6)]
    gold = [invocation(f"gold_dbt_models-run{i:04d}-uuid{i:03d}", 100 + i) for i in range(6)]
    current = silver[-1]

    prune_invocation_artifacts(current, keep=3)

    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("silver")) == [
        folder.name for folder in silver[3:]
    ]
    assert all(folder.exists() for folder in gold)  # another step's folders are its own

    # the current invocation is never removed, even when it is not among the newest
    old_current = silver[3]
    os.utime(old_current, (1, 1))
    prune_invocation_artifacts(old_current, keep=1)
    assert old_current.exists() and silver[5].exists() and not silver[4].exists()
