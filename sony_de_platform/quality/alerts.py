"""On-call alerts: what an alert says, how it is delivered, and the GOVERNANCE.ALERTS log.

A failing check raises one alert carrying the asset, the check, its severity, the measured
value against the expectation, a link to the run and the runbook line. It goes to a webhook
(Slack-compatible JSON, or PagerDuty Events API v2 when so configured) and always to
GOVERNANCE.ALERTS. Delivery is retried with exponential backoff and never raises; the
webhook URL and the routing key are secrets and never appear in logs or in the table.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from dagster import ConfigurableResource
from pydantic import Field

from sony_de_platform.settings import PAGERDUTY_EVENTS_URL, AlertFormat
from sony_de_platform.warehouse import Session, qualified

log = logging.getLogger(__name__)

GOVERNANCE_SCHEMA = "GOVERNANCE"
ALERTS_TABLE = "ALERTS"
ALERTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("alert_id", "VARCHAR"),
    ("action", "VARCHAR"),
    ("check_key", "VARCHAR"),
    ("asset_key", "VARCHAR"),
    ("check_name", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("value", "VARCHAR"),
    ("expectation", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("run_url", "VARCHAR"),
    ("runbook", "VARCHAR"),
    ("summary", "VARCHAR"),
    ("evaluated_at", "TIMESTAMP"),
    ("channel", "VARCHAR"),
    ("delivery_status", "VARCHAR"),
    ("attempts", "BIGINT"),
    ("http_status", "BIGINT"),
    ("error", "VARCHAR"),
    ("recorded_at", "TIMESTAMP"),
)
_RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}


class AlertAction(StrEnum):
    TRIGGER = "trigger"
    RESOLVE = "resolve"


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True)
class Alert:
    """One notice about one check: it started failing (trigger) or recovered (resolve)."""

    action: AlertAction
    check_key: str  # "DIMS/dim_titles:valid_imdb_score", the dedup key of the incident
    asset_key: str
    check_name: str
    severity: str
    value: str
    expectation: str
    run_id: str
    run_url: str
    runbook: str
    evaluated_at: datetime
    alert_id: str = ""

    def __post_init__(self) -> None:
        if not self.alert_id:
            object.__setattr__(self, "alert_id", uuid.uuid4().hex)

    @property
    def summary(self) -> str:
        if self.action is AlertAction.RESOLVE:
            return (
                f"RESOLVED {self.check_name} on {self.asset_key}: "
                f"value {self.value} meets {self.expectation}"
            )
        return (
            f"{self.severity} {self.check_name} failed on {self.asset_key}: "
            f"value {self.value}, expected {self.expectation}"
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["action"] = self.action.value
        data["evaluated_at"] = self.evaluated_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        return cls(
            **{
                **data,
                "action": AlertAction(data["action"]),
                "evaluated_at": datetime.fromisoformat(data["evaluated_at"]),
            }
        )


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack-compatible incoming-webhook JSON: `text` for any client, blocks for Slack."""
    icon = ":white_check_mark:" if alert.action is AlertAction.RESOLVE else ":rotating_light:"
    fields = [
        ("Asset", alert.asset_key),
        ("Check", alert.check_name),
        ("Severity", alert.severity),
        ("Value", alert.value),
        ("Expectation", alert.expectation),
        ("Run", f"<{alert.run_url}|{alert.run_id[:8]}>"),
    ]
    return {
        "text": f"{icon} {alert.summary} | run {alert.run_url} | runbook: {alert.runbook}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{alert.summary}*"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields
                ],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"Runbook: {alert.runbook}"}],
            },
        ],
        "sony_de_alert": alert.as_dict(),
    }


def pagerduty_payload(alert: Alert, routing_key: str) -> dict[str, Any]:
    """PagerDuty Events API v2: trigger and resolve share the dedup key of the check."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": alert.action.value,
        "dedup_key": f"sony_de:{alert.check_key}",
    }
    if alert.action is AlertAction.TRIGGER:
        event["payload"] = {
            "summary": alert.summary[:1024],
            "source": alert.asset_key,
            "severity": "error" if alert.severity == "ERROR" else "warning",
            "component": alert.asset_key,
            "class": alert.check_name,
            "custom_details": {
                "value": alert.value,
                "expectation": alert.expectation,
                "runbook": alert.runbook,
                "run_id": alert.run_id,
            },
        }
        event["links"] = [{"href": alert.run_url, "text": "Dagster run"}]
    return event


@dataclass(frozen=True)
class Delivery:
    channel: str
    status: DeliveryStatus
    attempts: int = 0
    http_status: int | None = None
    error: str = ""


class OnCallAlerts(ConfigurableResource):
    """Where alerts go and how hard delivery tries. Secrets arrive as Dagster EnvVars."""

    webhook_url: str | None = Field(default=None, description="Alert webhook (secret).")
    alert_format: str = Field(default=AlertFormat.SLACK.value, description="slack or pagerduty.")
    pagerduty_routing_key: str | None = Field(default=None, description="Routing key (secret).")
    dagster_url: str = Field(
        default="http://127.0.0.1:3000", description="Dagster UI, for run links."
    )
    suppression_seconds: float = Field(
        default=3600.0, description="A failing check is not re-alerted within this window."
    )
    attempts: int = Field(default=4, description="Delivery attempts per alert and sensor tick.")
    backoff_seconds: float = Field(default=0.5, description="First retry delay; doubles each time.")
    timeout_seconds: float = Field(default=5.0, description="HTTP timeout per attempt.")

    @property
    def channel(self) -> str:
        return AlertFormat(self.alert_format).value if self._url() else "none"

    def run_url(self, run_id: str) -> str:
        return f"{self.dagster_url.rstrip('/')}/runs/{run_id}"

    def _url(self) -> str | None:
        if self.webhook_url:
            return self.webhook_url
        return PAGERDUTY_EVENTS_URL if self.alert_format == AlertFormat.PAGERDUTY else None

    def payload(self, alert: Alert) -> dict[str, Any]:
        if self.alert_format == AlertFormat.PAGERDUTY:
            return pagerduty_payload(alert, self.pagerduty_routing_key or "")
        return slack_payload(alert)

    def deliver(self, alert: Alert) -> Delivery:
        """POST the alert; retry network errors and 408/429/5xx with backoff. Never raises."""
        url = self._url()
        if not url:
            return Delivery("none", DeliveryStatus.NOT_CONFIGURED)
        host = urlsplit(url).netloc or "webhook"  # the path and query may hold a token
        body = json.dumps(self.payload(alert), default=str).encode()
        error, http_status = "", None
        for attempt in range(1, max(1, self.attempts) + 1):
            try:
                request = urllib.request.Request(
                    url, data=body, method="POST", headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                    return Delivery(
                        self.channel, DeliveryStatus.DELIVERED, attempt, response.status
                    )
            except urllib.error.HTTPError as failure:
                http_status, error = failure.code, f"HTTP {failure.code}"
                if failure.code not in _RETRYABLE_HTTP:
                    break
            except Exception as failure:  # network, TLS, timeout: never crash the caller
                error = f"{type(failure).__name__}: {getattr(failure, 'reason', failure)}"
            log.warning(
                "alert %s to %s: attempt %d failed (%s)", alert.alert_id, host, attempt, error
            )
            if attempt < self.attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        return Delivery(self.channel, DeliveryStatus.FAILED, attempt, http_status, error)


def alert_row(alert: Alert, delivery: Delivery) -> dict[str, Any]:
    """The GOVERNANCE.ALERTS row of one delivery outcome, JSON-safe (no URL, no key)."""
    return {
        **alert.as_dict(),
        "summary": alert.summary,
        "channel": delivery.channel,
        "delivery_status": delivery.status.value,
        "attempts": delivery.attempts,
        "http_status": delivery.http_status,
        "error": delivery.error,
    }


def record_alerts(
    session: Session, rows: Sequence[Mapping[str, Any]], recorded_at: datetime
) -> int:
    """Append alert rows (from `alert_row`) to GOVERNANCE.ALERTS, created on first use."""
    table = qualified(GOVERNANCE_SCHEMA, ALERTS_TABLE)
    session.ensure_table(GOVERNANCE_SCHEMA, ALERTS_TABLE, ALERTS_COLUMNS)
    typed = [
        {
            **row,
            "evaluated_at": datetime.fromisoformat(row["evaluated_at"]),
            "recorded_at": recorded_at,
        }
        for row in rows
    ]
    return session.append_columns(
        table, {name: [row.get(name) for row in typed] for name, _ in ALERTS_COLUMNS}
    )
