"""End to end with the real Dagster daemon: a file dropped in the landing folder reaches the
vault and the guest table, then Silver, with no manual step (the landing sensor launches the
Bronze loads and the routing, the Silver automation the models reading them; the queued run
coordinator of deploy/dagster.dev.yaml runs them)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from benchmarks.processes import start_daemon, stop_process_group
from sony_de_platform.cdc.sensors import LANDING_ARRIVALS
from sony_de_platform.settings import REPO_ROOT, load_settings
from sony_de_platform_tests.test_bronze_loader import interaction

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 300  # daemon start, code location load, a sensor tick, one run
SILVER_SENSOR = "build_silver_when_inputs_change"


def fan_records() -> list[dict]:
    verified = {
        "fan_type": "verified",
        "email": "grace.hopper@navy.example.mil",
        "full_name": "Grace Hopper",
        "phone": "+1-555-1234567",
        "date_of_birth": "1986-12-09",
    }
    return [
        interaction(1, fan_id="FAN-0000001", **verified),
        interaction(2, fan_id="FAN-0000002", email="guest42@example.com"),
    ]


def routed(warehouse: Path) -> tuple[list[tuple], list[tuple]] | None:
    """Vault and guest rows, or None while the tables are missing or the file is locked."""
    if not warehouse.exists():
        return None
    try:
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            vault = connection.execute(
                "SELECT fan_id, email, full_name, phone, CAST(date_of_birth AS VARCHAR) "
                "FROM SECURE.FAN_PII_VAULT ORDER BY fan_id"
            ).fetchall()
            guests = connection.execute(
                "SELECT fan_id, email_hash FROM STG.GUEST_FANS ORDER BY fan_id"
            ).fetchall()
    except (duckdb.IOException, duckdb.CatalogException):
        return None
    return vault, guests


def test_a_dropped_file_reaches_the_vault_and_silver_with_the_daemon_running(
    tmp_path: Path,
) -> None:
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.dev.yaml", dagster_home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "SONY_DE_DATA_DIR": str(tmp_path / "data"),
        "SONY_DE_STREAM_POLL_SECONDS": "2",
        "SONY_DE_LANDING_POLL_SECONDS": "2",
        "SONY_DE_LANDING_SETTLE_SECONDS": "1",
    }
    settings = load_settings(env)
    log = (tmp_path / "daemon.log").open("w")
    daemon = start_daemon(env, log)
    try:
        landed = settings.landing_dir / "fan_interactions" / "fan_interactions_2026-06-01.jsonl"
        landed.parent.mkdir(parents=True)
        landed.write_text("".join(json.dumps(r) + "\n" for r in fan_records()))

        deadline = time.monotonic() + DEADLINE_SECONDS
        result = None
        while time.monotonic() < deadline and daemon.poll() is None:
            result = routed(settings.warehouse_path)
            if result and result[0] and result[1]:
                break
            time.sleep(2)
        assert daemon.poll() is None, "the daemon stopped:\n" + _tail(tmp_path / "daemon.log")
        assert result and result[0] and result[1], (
            f"nothing routed within {DEADLINE_SECONDS}s\n" + _tail(tmp_path / "daemon.log")
        )
        vault, guests = result
        assert vault == [
            ("FAN-0000001", "grace.hopper@navy.example.mil", "Grace Hopper", "+1-555-1234567",
             "1986-12-09")
        ]  # fmt: skip
        assert [fan for fan, _ in guests] == ["FAN-0000002"] and len(guests[0][1]) == 64

        with DagsterInstance.from_config(str(dagster_home)) as instance:
            runs = instance.get_runs(RunsFilter(job_name=LANDING_ARRIVALS))
            assert runs and {run.tags.get("dagster/sensor_name") for run in runs} == {
                "landing_folder_sensor"
            }
            assert DagsterRunStatus.FAILURE not in {run.status for run in runs}

        # The Silver automation builds the models that read what the landing run wrote: in
        # one run, or two when its sensor ticks between the load and the routing (staging
        # first, then dim_fans once the routed tables are written).
        wanted = {"STG/stg_fan_interactions", "DIMS/dim_fans"}  # no box office yet
        built: set[str] = set()
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            while time.monotonic() < deadline and daemon.poll() is None and built != wanted:
                runs = instance.get_runs(RunsFilter(tags={"dagster/sensor_name": SILVER_SENSOR}))
                assert DagsterRunStatus.FAILURE not in {run.status for run in runs}
                built = {
                    key.to_user_string()
                    for run in runs
                    if run.status == DagsterRunStatus.SUCCESS
                    for key in run.asset_selection or ()
                }
                time.sleep(2)
        assert built == wanted, (
            f"Silver runs built {sorted(built)} within {DEADLINE_SECONDS}s\n"
            + _tail(tmp_path / "daemon.log")
        )
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
            assert connection.execute(
                "SELECT fan_id, is_verified FROM DIMS.dim_fans ORDER BY fan_id"
            ).fetchall() == [("FAN-0000001", True), ("FAN-0000002", False)]
    finally:
        stop_process_group(daemon)
        log.close()


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
