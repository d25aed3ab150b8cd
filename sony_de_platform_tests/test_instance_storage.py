"""The local instance's event log storage (deploy/dagster.dev.yaml): Dagster's SQLite files,
each database's connection kept open in the process instead of one per read or write."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import (
    AssetCheckResult,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    asset,
    asset_check,
    define_asset_job,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine

from sony_de_platform.demo import DEV_INSTANCE_CONFIG
from sony_de_platform.instance_storage import KEPT_RUN_ENGINES, PooledSqliteEventLogStorage

ASSETS = 5


def _graph() -> Definitions:
    """Five assets, each with a check: about sixty events per run."""
    assets, checks = [], []
    for number in range(ASSETS):

        @asset(name=f"reel_{number}")
        def reel() -> int:
            return 1

        @asset_check(asset=reel, name=f"reel_{number}_is_counted")
        def counted() -> AssetCheckResult:
            return AssetCheckResult(passed=True)

        assets.append(reel)
        checks.append(counted)
    return Definitions(assets=assets, asset_checks=checks, jobs=[define_asset_job("reels")])


@pytest.fixture
def dev_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME configured as make dev configures its own."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEV_INSTANCE_CONFIG, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def sqlite_connects() -> Iterator[list[str]]:
    """The database of every SQLite connection any engine opens while the test runs."""
    opened: list[str] = []

    def record(connection: object, _record: object) -> None:
        if isinstance(connection, sqlite3.Connection):
            opened.append(connection.execute("PRAGMA database_list").fetchone()[2])

    event.listen(Engine, "connect", record)
    try:
        yield opened
    finally:
        event.remove(Engine, "connect", record)


def _run(instance: DagsterInstance) -> str:
    result = _graph().resolve_job_def("reels").execute_in_process(instance=instance)
    assert result.success
    return result.run_id


def test_dev_instance_keeps_dagsters_files_and_history(dev_home: Path) -> None:
    with DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        run_id = _run(instance)
        stored = instance.all_logs(run_id)
    assert (dev_home / "history" / "runs" / f"{run_id}.db").is_file()
    assert {DagsterEventType.ASSET_CHECK_EVALUATION, DagsterEventType.RUN_SUCCESS} <= {
        entry.dagster_event_type for entry in stored
    }

    # the same home with Dagster's default event log storage reads the same history
    (dev_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert len(instance.all_logs(run_id)) == len(stored)
        latest = instance.get_latest_materialization_event(AssetKey("reel_0"))
        assert latest is not None and latest.run_id == run_id


def test_a_run_opens_a_few_connections_not_one_per_event(
    dev_home: Path, sqlite_connects: list[str]
) -> None:
    with DagsterInstance.get() as instance:
        instance.event_log_storage.get_event_records  # noqa: B018 (storage built before counting)
        sqlite_connects.clear()
        run_id = _run(instance)
        events = len(instance.all_logs(run_id))
    event_dbs = [path for path in sqlite_connects if "/history/runs/" in path]
    assert events > 50
    # the run's database and the index only, a few connections in all (Dagster's default:
    # one per read or write, over a hundred for this run)
    assert sorted(set(event_dbs)) == sorted(
        str(dev_home / "history" / "runs" / f"{name}.db") for name in (run_id, "index")
    )
    assert len(event_dbs) <= 4, event_dbs


def test_connections_to_old_runs_are_closed(dev_home: Path) -> None:
    with DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, PooledSqliteEventLogStorage)
        run_ids = [_run(instance) for _ in range(KEPT_RUN_ENGINES + 2)]
        kept = [shard for shard in storage._engines if shard != "index"]
        assert kept == run_ids[-KEPT_RUN_ENGINES:]
        # an old run is still read, on a new connection
        assert instance.all_logs(run_ids[0])


def test_wipe_closes_run_databases_before_deleting_them(dev_home: Path) -> None:
    with DagsterInstance.get() as instance:
        first = _run(instance)
        instance.event_log_storage.wipe()
        assert not (dev_home / "history" / "runs" / f"{first}.db").exists()
        assert not instance.all_logs(first)
        second = _run(instance)
        assert instance.all_logs(second)


def _store_in_forked_child(
    instance: DagsterInstance, run_id: str, queue: multiprocessing.Queue
) -> None:
    """Runs in the child, on the parent's storage object (inherited by the fork)."""
    instance.report_engine_event("written by the forked child", job_name="reels", run_id=run_id)
    queue.put((os.getpid(), instance.event_log_storage._engines_pid))


def test_a_forked_child_opens_its_own_connections(dev_home: Path) -> None:
    with DagsterInstance.get() as instance:
        run_id = _run(instance)
        # the parent holds open connections when the child is forked
        assert instance.event_log_storage._engines
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_store_in_forked_child, args=(instance, run_id, queue))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        child_pid, engines_pid = queue.get(timeout=5)
        assert engines_pid == child_pid
        messages = [entry.message for entry in instance.all_logs(run_id)]
        assert "written by the forked child" in messages
        # and the parent's connections still work after the child exited
        instance.report_engine_event("written by the parent", job_name="reels", run_id=run_id)
        assert "written by the parent" in [e.message for e in instance.all_logs(run_id)]


def test_an_instance_loaded_from_its_folder_keeps_its_events_there(
    tmp_path: Path, dev_home: Path
) -> None:
    """make demo loads its instance with DagsterInstance.from_config(folder), whatever
    DAGSTER_HOME says: the events go to that folder, as with Dagster's default storage."""
    folder = tmp_path / "demo_home"
    folder.mkdir()
    shutil.copy(DEV_INSTANCE_CONFIG, folder / "dagster.yaml")
    with DagsterInstance.from_config(str(folder)) as instance:
        run_id = _run(instance)
    assert (folder / "history" / "runs" / f"{run_id}.db").is_file()
    assert not (dev_home / "history").exists()
