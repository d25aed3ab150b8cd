"""The on-call sensor: one alert per failing asset check, a resolve when it recovers.

Open-source Dagster does not fail a run for a failed asset check, so run-failure sensors
never see one (dagster-io/dagster#29896). This sensor reads check evaluations from the
instance's event log instead. Its cursor remembers the last evaluation seen per check, the
open incidents (so a check that keeps failing is re-alerted only after the suppression
window) and anything not delivered or not yet written to GOVERNANCE.ALERTS, which the next
tick retries. Nothing it does raises: a broken webhook or a busy warehouse waits a tick.
"""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckKey,
    DagsterInstance,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from sony_de_platform.quality.alerts import (
    Alert,
    AlertAction,
    DeliveryStatus,
    OnCallAlerts,
    alert_row,
    record_alerts,
)
from sony_de_platform.quality.measurement import utc_now
from sony_de_platform.warehouse import DuckDBWarehouse, Warehouse

if TYPE_CHECKING:
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecord

ALERT_SENSOR = "data_quality_alerts"
HISTORY_PER_TICK = 50  # evaluations read per check and tick
LEDGER_LOCK_SECONDS = 5.0  # a tick never waits long behind a dbt run holding the writer lock
RETRY_FOR = timedelta(hours=24)  # undelivered alerts are retried this long, then dropped
MAX_UNRECORDED = 1000  # alert rows kept in the cursor while the warehouse is unreachable
PLANNED, FAILED = "PLANNED", "FAILED"  # statuses of the instance's check execution records


def check_key_text(key: AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"


@dataclass
class AlertState:
    """The sensor's cursor: last evaluation seen per check, open incidents, retries."""

    seen: dict[str, int] = field(default_factory=dict)
    open: dict[str, str] = field(default_factory=dict)  # check -> ISO time last alerted
    undelivered: list[dict[str, Any]] = field(default_factory=list)  # Alert.as_dict()
    unrecorded: list[dict[str, Any]] = field(default_factory=list)  # GOVERNANCE.ALERTS rows

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "AlertState":
        """The state in `cursor`; an unreadable cursor starts afresh rather than crashing."""
        try:
            return cls(**json.loads(cursor)) if cursor else cls()
        except (ValueError, TypeError):
            return cls()

    def to_cursor(self) -> str:
        return json.dumps(self.__dict__, default=str, sort_keys=True)


def _value_text(metadata: Mapping[str, Any]) -> str:
    for name in ("value", "dagster_dbt/failed_row_count"):
        if name in metadata:
            value = getattr(metadata[name], "value", metadata[name])
            return f"{value:g}" if isinstance(value, float) else str(value)
    return "n/a"


def _text(metadata: Mapping[str, Any], name: str, default: str) -> str:
    value = metadata.get(name)
    return str(getattr(value, "value", value)) if value is not None else default


def alert_for(
    record: "AssetCheckExecutionRecord",
    action: AlertAction,
    alerts: OnCallAlerts,
    spec_metadata: Mapping[str, Any],
) -> Alert:
    """The alert an evaluation record raises; runbook and expectation fall back to the
    check's definition (dbt tests carry neither in their results)."""
    assert record.event is not None and record.event.dagster_event is not None
    evaluation = record.event.dagster_event.asset_check_evaluation_data
    metadata = {**spec_metadata, **evaluation.metadata}
    default_runbook = (
        f"Inspect the failing rows of {record.key.name} (dbt test --select {record.key.name}) "
        "and the run's logs; fix the model or the feed, then re-run the asset."
    )
    return Alert(
        action=action,
        check_key=check_key_text(record.key),
        asset_key=record.key.asset_key.to_user_string(),
        check_name=record.key.name,
        severity=evaluation.severity.value,
        value=_value_text(evaluation.metadata),
        expectation=_text(metadata, "expectation", "the check passes"),
        run_id=record.run_id,
        run_url=alerts.run_url(record.run_id),
        runbook=_text(metadata, "runbook", default_runbook),
        evaluated_at=datetime.fromtimestamp(record.event.timestamp, UTC).replace(tzinfo=None),
    )


def new_evaluations(
    instance: DagsterInstance, check_keys: Iterable[AssetCheckKey], state: AlertState
) -> list["AssetCheckExecutionRecord"]:
    """Completed evaluations not seen yet, oldest first; the first tick sees the latest only.

    An evaluation still running stops the reading of its check until it completes (its
    record is updated in place); one whose run ended without it is passed over.
    """
    storage = instance.event_log_storage
    found: list[AssetCheckExecutionRecord] = []
    for key, latest in storage.get_latest_asset_check_execution_by_key(list(check_keys)).items():
        name = check_key_text(key)
        last_seen = state.seen.get(name)
        if last_seen is None:
            records = [latest]
        elif latest.id <= last_seen:
            continue
        else:
            history = storage.get_asset_check_execution_history(key, limit=HISTORY_PER_TICK)
            records = sorted((r for r in history if r.id > last_seen), key=lambda r: r.id)
        for record in records:
            if record.status.value == PLANNED:
                run = instance.get_run_by_id(record.run_id)
                if run is not None and not run.is_finished:
                    break  # still running: come back next tick
            else:
                found.append(record)
            state.seen[name] = record.id
    return sorted(found, key=lambda r: r.id)


def decide(
    records: Iterable["AssetCheckExecutionRecord"],
    state: AlertState,
    alerts: OnCallAlerts,
    spec_metadata: Mapping[AssetCheckKey, Mapping[str, Any]],
    now: datetime,
) -> tuple[list[Alert], list[str]]:
    """Alerts to send: a trigger per failing check unless alerted within the suppression
    window, a resolve when an alerted check passes. Also returns the suppressed checks."""
    window = timedelta(seconds=alerts.suppression_seconds)
    to_send: list[Alert] = []
    suppressed: list[str] = []
    for record in records:
        name = check_key_text(record.key)
        metadata = spec_metadata.get(record.key, {})
        if record.status.value == FAILED:
            last = state.open.get(name)
            if last is not None and now - datetime.fromisoformat(last) < window:
                suppressed.append(name)
                continue
            to_send.append(alert_for(record, AlertAction.TRIGGER, alerts, metadata))
            state.open[name] = now.isoformat()
        elif name in state.open:
            to_send.append(alert_for(record, AlertAction.RESOLVE, alerts, metadata))
            del state.open[name]
    return to_send, suppressed


def _quick_writer(warehouse: Warehouse) -> Warehouse:
    """The warehouse with a short writer-lock wait (DuckDB): a tick must not block."""
    if isinstance(warehouse, DuckDBWarehouse):
        return DuckDBWarehouse(path=warehouse.path, lock_timeout_seconds=LEDGER_LOCK_SECONDS)
    return warehouse


@sensor(
    name=ALERT_SENSOR,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Alerts on-call for failing asset checks (DMFs, volume, dbt tests): one alert per "
        "failing check, re-alerted only after the suppression window, resolved on recovery."
    ),
)
def data_quality_alerts(
    context: SensorEvaluationContext, alerts: OnCallAlerts, warehouse: Warehouse
) -> SensorResult:
    state = AlertState.from_cursor(context.cursor)
    graph = context.repository_def.asset_graph
    check_keys = list(graph.asset_check_keys)
    spec_metadata = {key: graph.get(key).metadata for key in check_keys}
    now = utc_now()

    records = new_evaluations(context.instance, check_keys, state)
    to_send, suppressed = decide(records, state, alerts, spec_metadata, now)
    for name in suppressed:
        context.log.info(f"{name}: still failing, alerted less than the suppression window ago")
    retries = [
        Alert.from_dict(data)
        for data in state.undelivered
        if now - datetime.fromisoformat(data["evaluated_at"]) < RETRY_FOR
    ]
    state.undelivered = []
    for alert in retries + to_send:
        delivery = alerts.deliver(alert)
        context.log.info(f"{alert.action.value} {alert.check_key}: {delivery.status.value}")
        if delivery.status is DeliveryStatus.FAILED:
            state.undelivered.append(alert.as_dict())
        if alert in to_send or delivery.status is DeliveryStatus.DELIVERED:
            state.unrecorded.append(alert_row(alert, delivery))  # a retry logs its success only

    if len(state.unrecorded) > MAX_UNRECORDED:
        context.log.warning(
            f"GOVERNANCE.ALERTS unreachable for long: dropping the oldest "
            f"{len(state.unrecorded) - MAX_UNRECORDED} unrecorded alert rows"
        )
        state.unrecorded = state.unrecorded[-MAX_UNRECORDED:]
    if state.unrecorded:
        try:
            with _quick_writer(warehouse).session() as session:
                record_alerts(session, state.unrecorded, recorded_at=now)
            state.unrecorded = []
        except Exception as error:  # a busy or unreachable warehouse: retry next tick
            context.log.warning(
                f"GOVERNANCE.ALERTS not written yet ({type(error).__name__}); next tick retries"
            )
    sent = len(retries) + len(to_send)
    return SensorResult(
        cursor=state.to_cursor(),
        skip_reason=None if sent else f"{len(records)} new evaluations, nothing to alert",
    )
