"""Shared fixtures: settings pointing at a temporary data folder, a real DuckDB warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from sony_de_platform.settings import Settings, load_settings
from sony_de_platform.warehouse import DuckDBWarehouse, build_warehouse


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"SONY_DE_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def warehouse(settings: Settings) -> DuckDBWarehouse:
    built = build_warehouse(settings)
    assert isinstance(built, DuckDBWarehouse)
    return built
