"""`sony-de demo` end to end in a subprocess: waves of landing files, Key Stats printed,
and SCD2 history equal to what the landing data implies (derived here independently)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from sony_de_platform.demo import split_into_waves

pytestmark = pytest.mark.slow

SCALE, SEED, WAVES = 0.02, 11, 2


def fan_profiles(files: list[Path], seen: set[str]) -> dict[str, tuple]:
    """Each fan's (region, genre) from the latest Silver-valid event in these files.

    Restates the contract: unparseable or key-less lines are quarantined, the first copy of
    an interaction_id wins, events after their load are dropped; latest = event_ts, then
    interaction_id.
    """
    latest: dict[str, tuple] = {}
    now = datetime.now()
    for path in sorted(files):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or not record.get("interaction_id"):
                continue
            if not record.get("fan_id") or record["interaction_id"] in seen:
                continue
            seen.add(record["interaction_id"])
            event = datetime.fromisoformat(record["event_ts"].rstrip("Z"))
            if event > now:
                continue
            key = (event, record["interaction_id"])
            fan = record["fan_id"]
            if fan not in latest or key > latest[fan][0]:
                latest[fan] = (key, (record["region"], record["preferred_genre"]))
    return {fan: profile for fan, (_, profile) in latest.items()}


def expected_snapshot_rows(generated: Path, waves: list[list[Path]]) -> int:
    seen: set[str] = set()
    current: dict[str, tuple] = {}
    versions = 0
    for wave in waves:
        interactions = [p for p in wave if p.parent.name == "fan_interactions"]
        wave_profiles = fan_profiles(interactions, seen)
        # dim_fans is rebuilt over all data so far; later events overwrite earlier profiles.
        merged = dict(current)
        merged.update(wave_profiles)
        versions += sum(1 for fan, p in merged.items() if current.get(fan) != p)
        current = merged
    return versions


def test_demo_prints_key_stats_and_keeps_scd2_history(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    command = [
        str(Path(sys.executable).with_name("sony-de")),
        "demo",
        "--scale",
        str(SCALE),
        "--seed",
        str(SEED),
        "--waves",
        str(WAVES),
    ]
    env = {**os.environ, "SONY_DE_DATA_DIR": str(data_dir)}
    env.pop("DAGSTER_HOME", None)
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    out = completed.stdout

    table = dict(re.findall(r"^\| ([A-Za-z0-9 ]+?) \| (.+?) \|$", out, flags=re.MULTILINE))
    assert list(table)[1:] == [
        "Bronze Layer Rows",
        "Silver Layer Rows",
        "Gold Layer Rows",
        "DMF Checks",
        "dbt Tests",
        "SCD2 Snapshot Records",
    ]
    configured, passing = map(int, re.findall(r"\d+", table["dbt Tests"]))
    assert configured == passing >= 37
    dmf_passing, dmf_total = map(int, re.findall(r"\d+", table["DMF Checks"]))
    assert table["DMF Checks"].endswith("Passing") and dmf_passing == dmf_total >= 6

    generated = data_dir / "generated" / f"scale-{SCALE:g}-seed-{SEED}"
    manifest = json.loads((generated / "_manifest.json").read_text())
    waves = split_into_waves(generated, manifest, WAVES)
    assert all(waves), "every wave delivers files"
    expected = expected_snapshot_rows(generated, waves)
    assert expected > manifest["entities"]["fans"], "the data must carry profile changes"

    warehouse = data_dir / "warehouse" / "SONY_DE.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        snapshot_rows = con.execute("SELECT COUNT(*) FROM DIMS.snp_fan_profiles").fetchone()[0]
        current = con.execute(
            "SELECT COUNT(*) FROM DIMS.snp_fan_profiles WHERE dbt_valid_to IS NULL"
        ).fetchone()[0]
        bronze = sum(
            con.execute(f"SELECT COUNT(*) FROM RAW.{t}").fetchone()[0]
            for t in ("RAW_FAN_INTERACTIONS", "RAW_TITLE_METADATA", "RAW_BOX_OFFICE")
        )
    assert snapshot_rows == expected
    assert current == manifest["entities"]["fans"]
    assert int(table["SCD2 Snapshot Records"].replace(",", "")) == snapshot_rows
    assert (
        int(table["Bronze Layer Rows"].replace(",", ""))
        == bronze
        == sum(feed["loadable_records"] for feed in manifest["feeds"].values())
    )
    # Both waves ran as persistent Dagster runs, visible to `make dev` afterwards.
    assert (data_dir / "dagster_home" / "dagster.yaml").exists()
    assert out.count("succeeded in") == WAVES
