"""Crashes and overlapping runs on one DuckDB file: nothing lost, nothing doubled.

One landing folder and one uninterrupted reference run are shared by the module. Each
scenario works on its own copy of the landing folder and compares its final tables with
the reference, row by row.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, materialize

from sony_de_platform.bronze.assets import LandingZone, build_bronze_asset
from sony_de_platform.bronze.feeds import FAN_INTERACTIONS, FEEDS
from sony_de_platform.bronze.loader import load_feed
from sony_de_platform.settings import REPO_ROOT, Engine, Settings, load_settings
from sony_de_platform.synthetic import generate_landing_data
from sony_de_platform.warehouse import DuckDBWarehouse, build_warehouse
from sony_de_platform_tests.run_medallion import main as run_medallion_here

pytestmark = pytest.mark.slow

SCALE, SEED = 0.02, 5
# Columns that record *when* or *by which load* a row arrived: they differ between runs.
RUN_SPECIFIC = ("_loaded_at", "_load_id", "dbt_valid_from", "dbt_valid_to", "dbt_updated_at",
                "dbt_scd_id")  # fmt: skip
COMPARED_TABLES = (
    *(f"RAW.{feed.table}" for feed in FEEDS),
    "RAW.LOAD_QUARANTINE",
    "STG.stg_fan_interactions",
    "STG.stg_title_metadata",
    "STG.stg_box_office",
    "DIMS.dim_fans",
    "DIMS.dim_titles",
    "DIMS.snp_fan_profiles",
    "FACTS.fact_box_office",
    "FACTS.fact_daily_performance",
    "STUDIO_OPS.agg_franchise_performance",
    "MARKETING.agg_fan_lifetime_value",
)


def settings_for(root: Path) -> Settings:
    return load_settings(
        {
            "SONY_DE_DATA_DIR": str(root / "data"),
            "SONY_DE_LANDING_SETTLE_SECONDS": "0",
        }
    )


def child_env(settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "SONY_DE_DATA_DIR": str(settings.data_dir),
        "SONY_DE_LANDING_SETTLE_SECONDS": "0",
        "DAGSTER_HOME": str(settings.dagster_home),
        "PYTHONPATH": str(REPO_ROOT),
    }
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    return env


def snapshot_of(warehouse_path: Path) -> dict[str, list[tuple]]:
    """Every compared table's rows, sorted, without the run-specific columns."""
    tables: dict[str, list[tuple]] = {}
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        for table in COMPARED_TABLES:
            schema, name = table.split(".")
            columns = [
                row[0]
                for row in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE "
                    "upper(table_schema) = upper(?) AND upper(table_name) = upper(?) "
                    "ORDER BY ordinal_position",
                    [schema, name],
                ).fetchall()
                if row[0].lower() not in RUN_SPECIFIC
                and not (name == "LOAD_QUARANTINE" and row[0] in ("load_id", "quarantined_at"))
            ]
            assert columns, table
            listed = ", ".join(columns)
            tables[table] = con.execute(f"SELECT {listed} FROM {table} ORDER BY ALL").fetchall()
    return tables


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("landing") / "landing"
    generate_landing_data(folder, scale=SCALE, seed=SEED)
    return folder


def prepared(root: Path, landing: Path) -> Settings:
    settings = settings_for(root)
    shutil.copytree(landing, settings.landing_dir)
    return settings


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, landing: Path) -> dict:
    settings = prepared(tmp_path_factory.mktemp("reference"), landing)
    assert _run_in_process(settings) == 0
    return snapshot_of(settings.warehouse_path)


def _run_in_process(settings: Settings) -> int:
    saved = dict(os.environ)
    os.environ.update(child_env(settings))
    try:
        return run_medallion_here()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _slow_loader(warehouse_path: str, landing: str, marker: str) -> None:
    """Load interactions a file per transaction (batches of one file), stalling inside the
    third file's transaction, once its rows are appended, until killed."""
    from sony_de_platform.bronze import loader
    from sony_de_platform.warehouse.duckdb import DuckDBSession

    loader.STAGE_BATCH_BYTES = 1
    real = DuckDBSession.append_landed
    calls = {"files": 0}

    def stalling(session, *args, **kwargs):
        appended = real(session, *args, **kwargs)
        calls["files"] += 1
        if calls["files"] == 3:
            Path(marker).touch()
            time.sleep(600)
        return appended

    DuckDBSession.append_landed = stalling
    with DuckDBWarehouse(path=warehouse_path).session() as session:
        load_feed(session, FAN_INTERACTIONS, Path(landing))


def test_sigkill_during_a_bronze_load_then_rerun_equals_an_uninterrupted_run(
    tmp_path: Path, landing: Path, reference: dict
) -> None:
    settings = prepared(tmp_path, landing)
    marker = tmp_path / "stalled"
    child = multiprocessing.get_context("spawn").Process(
        target=_slow_loader,
        args=(str(settings.warehouse_path), str(settings.landing_dir), str(marker)),
    )
    child.start()
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < deadline and child.is_alive(), "loader never stalled"
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        files = con.execute("SELECT COUNT(*) FROM RAW.LOAD_LEDGER").fetchone()[0]
    assert files == 2, "the two files before the kill committed, the third did not"

    assert _run_in_process(settings) == 0
    assert snapshot_of(settings.warehouse_path) == reference


def _kill_when(
    child: subprocess.Popen, settings: Settings, step: str, node: str, after_seconds: float
) -> None:
    """SIGKILL the child's whole process group once its dbt step `step` began building
    `node`. dbt runs inside the child (no dbt process to look for): the step's own dbt log,
    in the invocation folder named after the step and the child's run, says when."""
    deadline = time.monotonic() + 300
    began = f"Began running node {node}"
    while time.monotonic() < deadline:
        assert child.poll() is None, "the run ended before it could be killed"
        # the run's event log is a file named after it (the storage is not opened while
        # the child may still be creating it)
        runs = [log.stem for log in (settings.dagster_home / "history" / "runs").glob("*.db")]
        logs = [
            log
            for run_id in runs
            for log in settings.dbt_target_path.glob(f"{step}-{run_id[:7]}-*/dbt.log")
        ]
        if any(began in log.read_text(errors="replace") for log in logs):
            time.sleep(after_seconds)
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(30)
            return
        time.sleep(0.2)
    raise AssertionError(f"the child's {step} step never began {node}")


@pytest.mark.parametrize(
    ("step", "node", "after_seconds"),
    [
        ("silver_dbt_models", "model.sony_de.stg_fan_interactions", 1.0),
        ("fan_profile_snapshots", "snapshot.sony_de.snp_fan_profiles", 0.2),
    ],
)
def test_sigkill_during_dbt_then_rerun_equals_an_uninterrupted_run(
    tmp_path: Path, landing: Path, reference: dict, step: str, node: str, after_seconds: float
) -> None:
    settings = prepared(tmp_path, landing)
    child = subprocess.Popen(
        [sys.executable, "-m", "sony_de_platform_tests.run_medallion"],
        env=child_env(settings),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _kill_when(child, settings, step, node, after_seconds)
    assert child.returncode == -signal.SIGKILL, step

    assert _run_in_process(settings) == 0, step
    assert snapshot_of(settings.warehouse_path) == reference, step


def test_two_runs_at_once_both_succeed_and_one_waits_for_the_other(
    tmp_path: Path, landing: Path, reference: dict
) -> None:
    settings = prepared(tmp_path, landing)
    env = child_env(settings)
    with DagsterInstance.from_config(str(settings.dagster_home)):
        pass  # create the instance's storage once, before two processes race to migrate it
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "sony_de_platform_tests.run_medallion"],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=600)[0] for child in children]
    failed = [out for child, out in zip(children, outputs, strict=True) if child.returncode]
    assert [child.returncode for child in children] == [0, 0], failed[0][-4000:]

    with DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2
        waited = {
            run.run_id
            for run in runs
            for record in instance.get_records_for_run(run.run_id).records
            if "waiting for the warehouse writer" in (record.event_log_entry.user_message or "")
        }
    assert len(waited) >= 1, "one run must have waited for the other's writes"
    # Each file loaded once; the second run found nothing new in the landing folder.
    assert snapshot_of(settings.warehouse_path) == reference


def test_lock_contention_is_retried_with_backoff(tmp_path: Path, landing: Path) -> None:
    settings = prepared(tmp_path, landing)
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(
        target=_hold_writer_for, args=(str(settings.warehouse_path), ready, release, 3.0)
    )
    holder.start()
    try:
        assert ready.wait(60)
        impatient = DuckDBWarehouse(
            path=str(settings.warehouse_path),
            lock_timeout_seconds=1.0,
            busy_retries=4,
            busy_retry_seconds=1.0,
        )
        result = materialize(
            [build_bronze_asset(FAN_INTERACTIONS, Engine.DUCKDB)],
            resources={
                "warehouse": impatient,
                "landing": LandingZone(path=str(settings.landing_dir), settle_seconds=0),
            },
            raise_on_error=False,
        )
    finally:
        release.set()
        holder.join(30)
    assert result.success
    retries = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert 1 <= len(retries) <= 4
    with build_warehouse(settings).session(read_only=True) as session:
        assert session.scalar("SELECT COUNT(*) FROM RAW.LOAD_LEDGER") == len(
            list((settings.landing_dir / FAN_INTERACTIONS.folder).glob("*.jsonl"))
        ) - _identical_files(settings.landing_dir / FAN_INTERACTIONS.folder)


def _identical_files(folder: Path) -> int:
    hashes = [p.read_bytes() for p in folder.glob("*.jsonl")]
    return len(hashes) - len(set(hashes))


def _hold_writer_for(path: str, ready, release, seconds: float) -> None:
    with DuckDBWarehouse(path=path).exclusive_writer("a long run"):
        ready.set()
        release.wait(seconds)
