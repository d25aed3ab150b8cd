"""dbt run inside the step's process: the same events dagster-dbt reads from a `dbt`
subprocess, the CLI's exit codes, the warehouse file released after each invocation, and
an interrupt that stops dbt."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from sony_de_platform.settings import DBT_PROJECT_DIR, Engine, Settings, dbt_profile_env
from sony_de_platform.transform.in_process import InProcessDbt, release_adapter_connections
from sony_de_platform.transform.project import (
    PlatformDbtCliResource,
    dbt_executable,
    scoped_environment,
)
from sony_de_platform.warehouse import build_warehouse
from sony_de_platform_tests.lock_holders import HOLD_DUCKDB_FILE_READ_ONLY, holding


@pytest.fixture
def dbt(settings: Settings):
    with build_warehouse(settings).session():
        pass  # the warehouse file exists
    resource = PlatformDbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        target=settings.dbt_target,
        dbt_executable=dbt_executable(),
    )
    with scoped_environment(dbt_profile_env(Engine.DUCKDB, settings.warehouse_path)):
        yield resource


def _another_process_can_write(path: Path) -> subprocess.CompletedProcess:
    """Open the file for writing from another process (fails while any process holds it)."""
    script = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('SELECT 1')"
    return subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )


def _events(invocation) -> list[dict]:
    return [event.raw_event for event in invocation.stream_raw_events()]


def _event_names(target: Path) -> list[str]:
    """The events dbt logged to the invocation's own dbt.log."""
    return [json.loads(line)["info"]["name"] for line in (target / "dbt.log").open()]


def test_dbt_runs_in_this_process_and_streams_the_cli_json_events(dbt, tmp_path: Path):
    invocation = dbt.cli(
        ["ls", "--select", "dim_fans", "--resource-type", "model"], target_path=tmp_path / "ls"
    )
    events = _events(invocation)

    assert isinstance(invocation.process, InProcessDbt)
    assert invocation.process.returncode == 0 and invocation.is_successful()
    assert {event["info"]["pid"] for event in events} == {os.getpid()}
    names = [event["info"]["name"] for event in events]
    assert names[0] == "MainReportVersion"
    # as a dbt process prints them at the default log level: debug events only in dbt.log
    assert {event["info"]["level"] for event in events} <= {"info", "warn", "error"}
    logged = _event_names(tmp_path / "ls")
    assert "CommandCompleted" in logged and "CommandCompleted" not in names
    listed = [event["info"]["msg"] for event in events if event["info"]["name"] == "PrintEvent"]
    assert listed == ["sony_de.silver.dims.dim_fans"]


def test_a_dbt_error_is_exit_code_2_and_raised_with_dbts_message(dbt, tmp_path: Path):
    invocation = dbt.cli(
        ["compile", "--inline", "select {{ no_such_macro() }}"], target_path=tmp_path / "bad"
    )
    with pytest.raises(DagsterDbtCliRuntimeError, match="no_such_macro"):
        _events(invocation)
    assert invocation.process.returncode == 2
    assert not invocation.is_successful()


def test_a_failing_model_is_exit_code_1(dbt, tmp_path: Path):
    invocation = dbt.cli(
        ["run", "--select", "stg_title_metadata"],  # its RAW source does not exist yet
        target_path=tmp_path / "run",
        raise_on_error=False,
    )
    events = _events(invocation)
    assert invocation.process.returncode == 1
    assert any(e["info"]["level"] == "error" for e in events)


def test_a_node_command_writes_its_run_results_and_not_the_manifest(dbt, tmp_path: Path):
    target = tmp_path / "run"
    invocation = dbt.cli(
        ["run", "--select", "stg_title_metadata"],  # fails: its RAW source does not exist yet
        target_path=target,
        raise_on_error=False,
    )
    _events(invocation)

    results = invocation.get_artifact("run_results.json")["results"]
    assert [(r["unique_id"], r["status"]) for r in results] == [
        ("model.sony_de.stg_title_metadata", "error")
    ]
    assert not (target / "manifest.json").exists()
    assert (target / "partial_parse.msgpack").exists()  # the next step starts from it
    listing = dbt.cli(["ls", "--select", "dim_fans"], target_path=tmp_path / "ls")
    _events(listing)
    assert (tmp_path / "ls" / "manifest.json").exists()  # other commands write as dbt does


def test_objects_alive_before_dbt_are_frozen_out_of_the_collector_while_it_runs(
    dbt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    frozen_during_run: list[int] = []
    emit = InProcessDbt._emit

    def recording_emit(self: InProcessDbt, message) -> None:
        frozen_during_run.append(gc.get_freeze_count())  # on dbt's thread, mid-run
        emit(self, message)

    monkeypatch.setattr(InProcessDbt, "_emit", recording_emit)
    before = gc.get_freeze_count()
    _events(dbt.cli(["ls", "--select", "dim_fans"], target_path=tmp_path / "ls"))

    assert frozen_during_run and min(frozen_during_run) > before + 10_000
    assert gc.get_freeze_count() == before  # unfrozen when dbt is done


def test_the_warehouse_file_is_free_for_another_process_after_an_invocation(
    dbt, settings: Settings, tmp_path: Path
):
    invocation = dbt.cli(
        ["show", "--inline", "select 41 + 1 as answer"], target_path=tmp_path / "q"
    )
    shown = [
        e["data"].get("preview") for e in _events(invocation) if e["info"]["name"] == "ShowNode"
    ]
    assert shown and "42" in shown[0]  # dbt queried the warehouse
    opened = _another_process_can_write(settings.warehouse_path)
    assert opened.returncode == 0, opened.stderr  # dbt-duckdb's handle was released


def test_the_file_is_released_even_while_something_still_references_dbts_handle(
    dbt, settings: Settings
):
    """A dbt invocation that fails while its database is open leaves dbt-duckdb's handle in
    the exception's traceback, a reference cycle only a full garbage collection frees: the
    file must be closed after the invocation, not dropped for the collector to close."""
    from dbt.adapters.duckdb import environments
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.duckdb.credentials import DuckDBCredentials

    creds = DuckDBCredentials(path=str(settings.warehouse_path), keep_open=True)
    with DuckDBConnectionManager._LOCK:
        DuckDBConnectionManager._ENV = environments.create(creds)
        handle = DuckDBConnectionManager._ENV.handle()  # still referenced below
    handle.cursor().execute("SELECT 1")
    assert _another_process_can_write(settings.warehouse_path).returncode != 0  # held

    release_adapter_connections()

    opened = _another_process_can_write(settings.warehouse_path)
    assert opened.returncode == 0, opened.stderr
    assert handle is not None and DuckDBConnectionManager._ENV is None


@pytest.mark.parametrize("lock_wait_seconds", [0.0, 60.0])
def test_dbt_waits_for_another_process_holding_the_file_as_the_platform_does(
    dbt, settings: Settings, tmp_path: Path, lock_wait_seconds: float
):
    """With the platform's lock wait, dbt retries its connect until the other process lets
    the file go (2 s after dbt reaches its connect); with none (dbt run by hand), it fails
    at once saying so."""
    env = dbt_profile_env(Engine.DUCKDB, settings.warehouse_path, lock_wait_seconds)
    events: list[dict] = []
    with (
        holding(HOLD_DUCKDB_FILE_READ_ONLY, str(settings.warehouse_path)) as holder,
        scoped_environment(env),
    ):
        invocation = dbt.cli(
            ["show", "--inline", "select 41 + 1 as answer"],
            target_path=tmp_path / "q",
            raise_on_error=False,
        )
        for event in invocation.stream_raw_events():
            events.append(event.raw_event)
            if event.raw_event["info"]["name"] == "ConcurrencyLine" and lock_wait_seconds:
                # dbt connects next: the holder lets the file go 2 s into dbt's wait
                threading.Timer(2.0, os.kill, (holder, signal.SIGKILL)).start()
    messages = " ".join(str(e["info"].get("msg", "")) for e in events)
    if lock_wait_seconds:
        assert invocation.is_successful(), messages[-2000:]
        assert any(e["info"]["name"] == "ShowNode" for e in events)
    else:
        assert not invocation.is_successful()
        assert "Could not set lock" in messages


def test_an_interrupt_stops_dbt_as_ctrl_c_does(settings: Settings, tmp_path: Path):
    spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    env = {
        **os.environ,
        **dbt_profile_env(Engine.DUCKDB, settings.warehouse_path),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_TARGET_PATH": str(tmp_path / "spin"),
        "DBT_LOG_PATH": str(tmp_path / "spin"),
        "DBT_QUIET": "true",
    }
    process = InProcessDbt([dbt_executable(), "compile", "--inline", spin], env)
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    time.sleep(5)
    assert process.poll() is None, "the spin ended on its own"
    process.send_signal(2)
    assert process.wait(timeout=60) != 0
    reader.join(timeout=10)
    assert not reader.is_alive() and process.stdout.closed
