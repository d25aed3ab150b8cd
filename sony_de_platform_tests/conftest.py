"""Shared fixtures: settings pointing at a temporary data folder, a real DuckDB warehouse,
a Snowflake wire-compatible server on loopback."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sony_de_platform.settings import Settings, load_settings
from sony_de_platform.warehouse import DuckDBWarehouse, build_warehouse
from sony_de_platform_tests.fakesnow_harness import FakeSnowflake


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"SONY_DE_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def warehouse(settings: Settings) -> DuckDBWarehouse:
    built = build_warehouse(settings)
    assert isinstance(built, DuckDBWarehouse)
    return built


@pytest.fixture(scope="session")
def fakesnow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeSnowflake]:
    """fakesnow on 127.0.0.1 for the session; its databases are shared by every test."""
    server = FakeSnowflake(tmp_path_factory.mktemp("fakesnow"))
    try:
        yield server
    finally:
        server.close()


class Webhook:
    """An HTTP server on 127.0.0.1 that records JSON POSTs; `fail_next` answers 503 first."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.paths: list[str] = []
        self.fail_next = 0
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if webhook.fail_next > 0:
                    webhook.fail_next -= 1
                    self.send_response(503)
                else:
                    webhook.received.append(json.loads(body))
                    webhook.paths.append(self.path)
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000/SECRET-TOKEN"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    try:
        yield server
    finally:
        server.close()


class PublishedPipeline:
    """One real medallion build (Bronze, dbt, governance) on a persistent Dagster instance,
    whose last step published the reader copy. Shared by the dashboard and browser tests."""

    scale = 0.03

    def __init__(self, root: Path) -> None:
        from dagster import DagsterInstance

        from sony_de_platform.definitions import build_definitions
        from sony_de_platform.jobs import MEDALLION_FULL_BUILD
        from sony_de_platform.synthetic import generate_landing_data

        self.env = {"SONY_DE_DATA_DIR": str(root / "data"), "SONY_DE_LANDING_SETTLE_SECONDS": "0"}
        self.settings = load_settings(self.env)
        self.manifest = generate_landing_data(self.settings.landing_dir, scale=self.scale, seed=5)
        self.settings.dagster_home.mkdir(parents=True)
        self.defs = build_definitions(self.settings)
        before = dict(os.environ)
        try:
            with DagsterInstance.from_config(str(self.settings.dagster_home)) as instance:
                job = self.defs.resolve_job_def(MEDALLION_FULL_BUILD)
                self.result = job.execute_in_process(instance=instance, raise_on_error=False)
        finally:
            # The dbt steps export the dbt profile's variables (SONY_DE_DUCKDB_PATH) into
            # this process: keep them from steering later tests and their subprocesses.
            for name in set(os.environ) - set(before):
                del os.environ[name]
            os.environ.update(before)
        self.run_id = self.result.run_id

    def query(self, sql: str) -> list[tuple]:
        with build_warehouse(self.settings).session(read_only=True) as session:
            return session.fetchall(sql)


@pytest.fixture(scope="session")
def published_pipeline(tmp_path_factory: pytest.TempPathFactory) -> PublishedPipeline:
    built = PublishedPipeline(tmp_path_factory.mktemp("published_pipeline"))
    failures = [event.message for event in built.result.all_events if event.is_failure]
    assert built.result.success, failures
    return built
