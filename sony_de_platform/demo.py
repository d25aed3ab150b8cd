"""`make demo`: generate a studio's landing data, replay it day by day through the
whole medallion on embedded DuckDB, and print the Key Stats.

The landing files are delivered in waves (ranges of days), each followed by a full
materialization, the way the daily schedule would see them. Fans who change region or
preferred genre between waves give the SCD2 snapshot its history.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from dagster import DagsterInstance

from sony_de_platform.governance.key_stats import KeyStats, current_key_stats
from sony_de_platform.jobs import MEDALLION_FULL_BUILD
from sony_de_platform.settings import REPO_ROOT, Settings
from sony_de_platform.synthetic import MANIFEST_FILE, generate_landing_data

DEV_INSTANCE_CONFIG = REPO_ROOT / "deploy" / "dagster.dev.yaml"
# Step-level progress goes to the Dagster event log (make dev); the console gets a summary.
_QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
_DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}(?:-\d{2})?)")


def file_date(path: Path) -> date:
    """The date a landing file covers, from its name (a month file counts from its 1st)."""
    match = _DATE_IN_NAME.search(path.name)
    if not match:
        raise ValueError(f"{path}: landing file names carry their date (YYYY-MM[-DD])")
    text = match.group(1)
    return date.fromisoformat(text if len(text) == 10 else f"{text}-01")


def split_into_waves(generated: Path, manifest: dict, waves: int) -> list[list[Path]]:
    """Group the generated files by the range of days they cover."""
    start = date.fromisoformat(manifest["window"]["start"])
    days = int(manifest["window"]["days"])
    bounds = [start + timedelta(days=round(days * (k + 1) / waves)) for k in range(waves)]
    grouped: list[list[Path]] = [[] for _ in range(waves)]
    for entry in manifest["files"]:
        path = generated / entry["path"]
        day = file_date(path)
        wave = next((k for k, bound in enumerate(bounds) if day < bound), waves - 1)
        grouped[wave].append(path)
    return grouped


def generated_landing_data(settings: Settings, scale: float, seed: int) -> tuple[Path, dict]:
    """The generated landing files for a scale and seed, generated once and kept."""
    folder = settings.data_dir / "generated" / f"scale-{scale:g}-seed-{seed}"
    manifest_path = folder / MANIFEST_FILE
    if manifest_path.exists():
        return folder, json.loads(manifest_path.read_text())
    if folder.exists():
        shutil.rmtree(folder)
    return folder, generate_landing_data(folder, scale=scale, seed=seed)


def run_demo(
    settings: Settings,
    scale: float,
    seed: int,
    waves: int,
    say: Callable[[str], None] = print,
) -> KeyStats:
    """Reset the local warehouse, replay the generated landing data, return Key Stats."""
    from sony_de_platform.definitions import build_definitions

    # The demo delivers whole files it generated itself: nothing is still being written.
    settings = dataclasses.replace(settings, landing_settle_seconds=0.0)
    started = time.monotonic()
    say(f"generating landing data (scale {scale:g}, seed {seed}) ...")
    generated, manifest = generated_landing_data(settings, scale, seed)
    say(f"  {len(manifest['files'])} files in {generated}")

    for stale in (settings.landing_dir, settings.warehouse_path.parent):
        if stale.exists():
            say(f"resetting {stale}")
            shutil.rmtree(stale)
    settings.landing_dir.mkdir(parents=True)
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    instance_config = settings.dagster_home / "dagster.yaml"
    if not instance_config.exists():  # the same instance settings `make dev` uses
        shutil.copy(DEV_INSTANCE_CONFIG, instance_config)

    defs = build_definitions(settings)
    job = defs.resolve_job_def(MEDALLION_FULL_BUILD)
    with DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        for number, files in enumerate(split_into_waves(generated, manifest, waves), start=1):
            for path in files:
                target = settings.landing_dir / path.relative_to(generated)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
            say(f"wave {number}/{waves}: {len(files)} new landing files -> {MEDALLION_FULL_BUILD}")
            wave_started = time.monotonic()
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, run_config=_QUIET_CONSOLE
            )
            outcome = "succeeded" if result.success else "FAILED"
            say(f"  run {result.run_id} {outcome} in {time.monotonic() - wave_started:.0f}s")
            if not result.success:
                raise SystemExit(
                    f"wave {number} failed: see run {result.run_id} in the Dagster UI (make dev)"
                )

    stats = current_key_stats(settings)
    say(f"done in {time.monotonic() - started:.0f}s\n")
    return stats
