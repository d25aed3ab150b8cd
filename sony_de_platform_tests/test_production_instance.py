"""The production Dagster instance (deploy/dagster.prod.yaml) on a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from dagster import DagsterInstance, materialize

from sony_de_platform.bronze.assets import LandingZone, build_bronze_assets
from sony_de_platform.settings import REPO_ROOT, Engine, load_settings
from sony_de_platform.synthetic import generate_landing_data
from sony_de_platform.warehouse import build_warehouse

PG_USER, PG_DB = "dagster", "dagster"


def _postgres_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if versions and (versions[-1] / name).exists():
        return str(versions[-1] / name)
    raise AssertionError(f"PostgreSQL's {name} is not installed: .ci/run installs `postgresql`")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL server on 127.0.0.1 (as user postgres when we are root)."""
    data = Path(tempfile.mkdtemp(prefix="sony_de_pg_"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, _postgres_bin("initdb"), "-D", str(data / "db"), "-U", PG_USER,
         "--auth=trust", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = _free_port()
    server = subprocess.Popen(
        [*run_as, _postgres_bin("postgres"), "-D", str(data / "db"), "-p", str(port),
         "-c", "listen_addresses=127.0.0.1", "-k", str(data), "-c", "fsync=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg2.connect(
                    host="127.0.0.1", port=port, user=PG_USER, dbname="postgres"
                ).close()
                break
            except psycopg2.OperationalError:
                assert server.poll() is None, "postgres exited"
                assert time.monotonic() < deadline, "postgres did not start"
                time.sleep(0.2)
        admin = psycopg2.connect(host="127.0.0.1", port=port, user=PG_USER, dbname="postgres")
        admin.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        admin.cursor().execute(f"CREATE DATABASE {PG_DB}")
        admin.close()
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_USERNAME": PG_USER,
            "DAGSTER_PG_PASSWORD": "not-used-with-trust-auth",
            "DAGSTER_PG_DB": PG_DB,
        }
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data, ignore_errors=True)


def test_a_materialization_is_recorded_in_postgres(
    postgres: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.prod.yaml", home / "dagster.yaml")
    for name, value in postgres.items():
        monkeypatch.setenv(name, value)  # read by Dagster when the instance loads

    settings = load_settings({"SONY_DE_DATA_DIR": str(tmp_path / "data")})
    generate_landing_data(settings.landing_dir, scale=0.01, seed=3)
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = materialize(
            build_bronze_assets(Engine.DUCKDB),
            instance=instance,
            resources={
                "warehouse": build_warehouse(settings),
                "landing": LandingZone(path=str(settings.landing_dir), settle_seconds=0),
            },
        )
        assert result.success
        run_id = result.run_id

    with psycopg2.connect(
        host="127.0.0.1", port=int(postgres["DAGSTER_PG_PORT"]), user=PG_USER, dbname=PG_DB
    ) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
        assert cursor.fetchall() == [("SUCCESS",)]
        cursor.execute(
            "SELECT COUNT(*) FROM event_logs WHERE run_id = %s "
            "AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (run_id,),
        )
        assert cursor.fetchone()[0] == 3
