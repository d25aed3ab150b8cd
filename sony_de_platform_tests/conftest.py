"""Shared fixtures: settings pointing at a temporary data folder, a real DuckDB warehouse,
a Snowflake wire-compatible server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
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
