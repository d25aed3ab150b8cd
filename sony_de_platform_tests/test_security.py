"""Local files readable by their owner only; identifiers validated; values always bound."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sony_de_platform.bronze.feeds import FAN_INTERACTIONS
from sony_de_platform.bronze.loader import load_feed
from sony_de_platform.warehouse import DuckDBWarehouse, identifier, qualified
from sony_de_platform_tests.bad_input_corpus import interaction


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_warehouse_folder_and_file_are_owner_only(warehouse: DuckDBWarehouse) -> None:
    with warehouse.session() as session:
        session.execute("CREATE SCHEMA IF NOT EXISTS SECURE")
        session.execute("CREATE TABLE SECURE.vault_probe AS SELECT 1 AS x")
    path = Path(warehouse.path)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    lock = path.with_name(path.name + ".writer.lock")
    assert _mode(lock) == 0o600


@pytest.mark.parametrize(
    "name", ["RAW; DROP TABLE RAW.LOAD_LEDGER", "a b", "x--", '"quoted"', "1starts_with_digit", ""]
)
def test_identifiers_from_config_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid SQL identifier"):
        identifier(name)
    with pytest.raises(ValueError):
        qualified("RAW", name)


def test_hostile_values_are_stored_as_data(warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    hostile = "x'); DROP TABLE RAW.LOAD_LEDGER; --"
    landing = tmp_path / "landing"
    folder = landing / "fan_interactions"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text(json.dumps(interaction(1, region=hostile)) + "\n")
    with warehouse.session() as session:
        load_feed(session, FAN_INTERACTIONS, landing)
        assert session.fetchall("SELECT region FROM RAW.RAW_FAN_INTERACTIONS") == [(hostile,)]
        assert session.scalar("SELECT COUNT(*) FROM RAW.LOAD_LEDGER") == 1
