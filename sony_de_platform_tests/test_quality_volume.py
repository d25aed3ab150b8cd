"""The Bronze volume check on a real RAW.LOAD_LEDGER: a load whose rows per file depart from
the files loaded before it is flagged, and the load never serves as its own baseline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sony_de_platform.bronze.feeds import FAN_INTERACTIONS, LEDGER_TABLE, RAW_SCHEMA
from sony_de_platform.bronze.loader import LEDGER_COLUMNS, ensure_bronze_tables
from sony_de_platform.quality.volume import VolumeRule, judge_latest_load
from sony_de_platform.warehouse import DuckDBWarehouse, qualified

START = datetime(2026, 6, 1, 6, 0)


@pytest.fixture
def ledger(warehouse: DuckDBWarehouse):
    with warehouse.session() as session:
        ensure_bronze_tables(session)

        def load(run_id: str, rows_per_file: list[int]) -> None:
            offset = session.scalar(f"SELECT COUNT(*) FROM {qualified(RAW_SCHEMA, LEDGER_TABLE)}")
            for number, rows in enumerate(rows_per_file):
                index = offset + number
                values = {
                    "load_id": f"load-{index}",
                    "feed": FAN_INTERACTIONS.name,
                    "target_table": FAN_INTERACTIONS.table,
                    "source_file": f"fan_interactions/day-{index:03d}.jsonl",
                    "rows_loaded": rows,
                    "lines_read": rows,
                    "rows_quarantined": 0,
                    "loaded_at": START + timedelta(days=index),
                    "run_id": run_id,
                }
                session.append_columns(
                    qualified(RAW_SCHEMA, LEDGER_TABLE),
                    {name: [values.get(name)] for name, _ in LEDGER_COLUMNS},
                )

        yield session, load


def test_a_normal_load_passes(ledger) -> None:
    session, load = ledger
    load("run-1", [1000, 1040, 980, 1010, 990, 1020, 1005])
    load("run-2", [1015])
    verdict = judge_latest_load(session, FAN_INTERACTIONS)
    assert verdict.passed, verdict
    assert verdict.baseline_files == 7 and verdict.baseline_median == 1005
    assert verdict.load_files == (("fan_interactions/day-007.jsonl", 1015),)


@pytest.mark.parametrize("rows", [120, 4000])
def test_a_short_or_swollen_load_is_flagged(ledger, rows: int) -> None:
    session, load = ledger
    load("run-1", [1000, 1040, 980, 1010, 990, 1020, 1005])
    load("run-2", [rows])
    verdict = judge_latest_load(session, FAN_INTERACTIONS)
    assert not verdict.passed
    assert verdict.rows_per_file == rows
    assert verdict.expectation == "502 <= rows per file <= 1,508"


def test_the_judged_load_is_not_part_of_its_baseline(ledger) -> None:
    session, load = ledger
    load("run-1", [1000, 1040, 980, 1010, 990])
    load("run-2", [5000] * 8)  # were these in the baseline, its median would be 5000: pass
    verdict = judge_latest_load(session, FAN_INTERACTIONS)
    assert verdict.baseline_files == 5 and verdict.baseline_median == 1000
    assert not verdict.passed


def test_too_little_history_is_not_judged(ledger) -> None:
    session, load = ledger
    assert judge_latest_load(session, FAN_INTERACTIONS).reason == "nothing loaded yet"
    load("run-1", [1000, 1040, 980])
    load("run-2", [10])
    verdict = judge_latest_load(session, FAN_INTERACTIONS, VolumeRule(min_baseline_files=5))
    assert verdict.passed and verdict.reason == "3 earlier file(s); 5 needed to judge"
