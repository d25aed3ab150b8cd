"""The alert sensor's own rules, on a real Dagster instance and a real DuckDB warehouse with a
small check whose outcome the test sets: an undelivered alert is retried on the next tick,
a busy warehouse or a broken cursor never crashes a tick, a WARN check pages too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterInstance,
    Definitions,
    asset,
    asset_check,
    build_sensor_context,
    define_asset_job,
)

from sony_de_platform.quality.alerts import OnCallAlerts
from sony_de_platform.quality.sensors import AlertState, data_quality_alerts
from sony_de_platform.warehouse import DuckDBWarehouse

OUTCOME = {"passed": True}


@asset(key=["DIMS", "dim_toy"])
def dim_toy() -> None:
    """A stand-in table."""


@asset_check(asset=dim_toy, name="toy_rule", metadata={"runbook": "Restart the toy."})
def toy_rule() -> AssetCheckResult:
    return AssetCheckResult(
        passed=OUTCOME["passed"],
        severity=AssetCheckSeverity.WARN,
        metadata={"value": 0.0 if OUTCOME["passed"] else 7.0, "expectation": "VALUE = 0"},
    )


DEFS = Definitions(
    assets=[dim_toy],
    asset_checks=[toy_rule],
    jobs=[define_asset_job("toy", selection="*")],
)


class Harness:
    def __init__(self, root: Path, warehouse: DuckDBWarehouse, url: str) -> None:
        (root / "home").mkdir()
        self.instance = DagsterInstance.local_temp(str(root / "home"))
        self.warehouse = warehouse
        self.alerts = OnCallAlerts(webhook_url=url, backoff_seconds=0.01, attempts=2)
        self.cursor: str | None = None

    def evaluate(self, passed: bool) -> str:
        OUTCOME["passed"] = passed
        return DEFS.resolve_job_def("toy").execute_in_process(instance=self.instance).run_id

    def tick(self, warehouse: DuckDBWarehouse | None = None):
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=DEFS,
            resources={"alerts": self.alerts, "warehouse": warehouse or self.warehouse},
        )
        result = data_quality_alerts(context)
        self.cursor = result.cursor
        return result

    def logged(self) -> list[tuple]:
        with self.warehouse.session(read_only=True) as session:
            return session.fetchall(
                "SELECT action, severity, value, delivery_status, runbook FROM GOVERNANCE.ALERTS "
                "ORDER BY recorded_at, delivery_status DESC"
            )


@pytest.fixture
def harness(tmp_path: Path, warehouse: DuckDBWarehouse, webhook):
    built = Harness(tmp_path, warehouse, webhook.url)
    yield built
    built.instance.dispose()


def test_an_undelivered_alert_is_retried_on_the_next_tick(harness: Harness, webhook) -> None:
    harness.evaluate(passed=True)
    harness.tick()
    harness.evaluate(passed=False)
    webhook.fail_next = 2  # both attempts of this tick fail
    harness.tick()
    assert webhook.received == []
    assert len(AlertState.from_cursor(harness.cursor).undelivered) == 1
    assert harness.logged() == [("trigger", "WARN", "7", "failed", "Restart the toy.")]

    harness.tick()  # the webhook is back
    (alert,) = webhook.received
    assert alert["sony_de_alert"]["severity"] == "WARN"
    assert AlertState.from_cursor(harness.cursor).undelivered == []
    assert [row[3] for row in harness.logged()] == ["failed", "delivered"]

    harness.tick()
    assert len(webhook.received) == 1, "delivered once, not again"


def test_an_unwritable_warehouse_delays_the_log_but_not_the_page(
    harness: Harness, webhook, tmp_path: Path
) -> None:
    harness.evaluate(passed=False)
    result = harness.tick(DuckDBWarehouse(path=str(tmp_path), lock_timeout_seconds=1))  # a folder
    assert result.cursor and len(webhook.received) == 1
    assert len(AlertState.from_cursor(harness.cursor).unrecorded) == 1
    harness.tick()
    assert AlertState.from_cursor(harness.cursor).unrecorded == []
    assert [row[:4] for row in harness.logged()] == [("trigger", "WARN", "7", "delivered")]


def test_a_broken_cursor_starts_afresh(harness: Harness, webhook) -> None:
    harness.evaluate(passed=False)
    harness.cursor = json.dumps({"unexpected": 1})
    harness.tick()
    assert len(webhook.received) == 1
    harness.evaluate(passed=True)
    harness.tick()
    assert [p["sony_de_alert"]["action"] for p in webhook.received] == ["trigger", "resolve"]
