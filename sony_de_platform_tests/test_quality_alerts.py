"""Alert delivery on its own: payloads (Slack-compatible, PagerDuty Events v2), retries with
backoff against a real loopback server, failures that never raise and never log secrets,
GOVERNANCE.ALERTS rows, and the settings that configure it all."""

from __future__ import annotations

import logging
import socket
from datetime import datetime

import pytest

from sony_de_platform.quality.alerts import (
    Alert,
    AlertAction,
    DeliveryStatus,
    OnCallAlerts,
    alert_row,
    record_alerts,
)
from sony_de_platform.quality.area import on_call_alerts
from sony_de_platform.settings import SettingsError, load_settings
from sony_de_platform.warehouse import DuckDBWarehouse

EVALUATED_AT = datetime(2026, 11, 28, 10, 30)


def _alert(action: AlertAction = AlertAction.TRIGGER) -> Alert:
    return Alert(
        action=action,
        check_key="DIMS/dim_titles:valid_imdb_score",
        asset_key="DIMS/dim_titles",
        check_name="valid_imdb_score",
        severity="ERROR",
        value="1",
        expectation="VALUE = 0",
        run_id="4f1c2d3e-0000-4000-8000-000000000001",
        run_url="http://dagster.test/runs/4f1c2d3e-0000-4000-8000-000000000001",
        runbook="Check stg_title_metadata's range rule.",
        evaluated_at=EVALUATED_AT,
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_slack_payload_carries_what_on_call_needs(webhook) -> None:
    channel = OnCallAlerts(webhook_url=webhook.url)
    delivery = channel.deliver(_alert())
    assert (delivery.status, delivery.attempts, delivery.http_status) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
    )
    (payload,) = webhook.received
    assert payload["text"].startswith(
        ":rotating_light: ERROR valid_imdb_score failed on DIMS/dim_titles"
    )
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in payload["blocks"][1]["fields"]
    }
    assert fields == {
        "*Asset*": "DIMS/dim_titles",
        "*Check*": "valid_imdb_score",
        "*Severity*": "ERROR",
        "*Value*": "1",
        "*Expectation*": "VALUE = 0",
        "*Run*": "<http://dagster.test/runs/4f1c2d3e-0000-4000-8000-000000000001|4f1c2d3e>",
    }
    assert "Runbook: Check stg_title_metadata's range rule." in str(payload["blocks"][2])


def test_pagerduty_events_v2_trigger_and_resolve_share_a_dedup_key(webhook) -> None:
    channel = OnCallAlerts(
        webhook_url=webhook.url, alert_format="pagerduty", pagerduty_routing_key="R0UTINGKEY"
    )
    channel.deliver(_alert())
    channel.deliver(_alert(AlertAction.RESOLVE))
    trigger, resolve = webhook.received
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert (
        trigger["dedup_key"] == resolve["dedup_key"] == "sony_de:DIMS/dim_titles:valid_imdb_score"
    )
    assert trigger["routing_key"] == "R0UTINGKEY"
    assert trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["custom_details"] == {
        "value": "1",
        "expectation": "VALUE = 0",
        "runbook": "Check stg_title_metadata's range rule.",
        "run_id": "4f1c2d3e-0000-4000-8000-000000000001",
    }
    assert trigger["links"] == [{"href": _alert().run_url, "text": "Dagster run"}]
    assert "payload" not in resolve


def test_delivery_retries_with_backoff(webhook) -> None:
    webhook.fail_next = 2  # 503, 503, then 200
    delivery = OnCallAlerts(webhook_url=webhook.url, backoff_seconds=0.01).deliver(_alert())
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert len(webhook.received) == 1


def test_a_dead_webhook_fails_quietly_without_leaking_the_url(caplog) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/hooks/T000/SECRET-TOKEN"
    channel = OnCallAlerts(webhook_url=url, attempts=3, backoff_seconds=0.01, timeout_seconds=1)
    with caplog.at_level(logging.WARNING):
        delivery = channel.deliver(_alert())
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 3)
    assert "refused" in delivery.error.lower()
    assert len(caplog.records) == 3
    assert "SECRET-TOKEN" not in caplog.text and "SECRET-TOKEN" not in delivery.error


def test_without_a_webhook_alerts_are_still_recorded(warehouse: DuckDBWarehouse) -> None:
    delivery = OnCallAlerts().deliver(_alert())
    assert (delivery.channel, delivery.status) == ("none", DeliveryStatus.NOT_CONFIGURED)
    with warehouse.session() as session:
        record_alerts(session, [alert_row(_alert(), delivery)], recorded_at=EVALUATED_AT)
        rows = session.fetchall(
            "SELECT action, check_key, severity, value, expectation, run_url, runbook, "
            "channel, delivery_status, evaluated_at FROM GOVERNANCE.ALERTS"
        )
    assert rows == [
        (
            "trigger",
            "DIMS/dim_titles:valid_imdb_score",
            "ERROR",
            "1",
            "VALUE = 0",
            _alert().run_url,
            "Check stg_title_metadata's range rule.",
            "none",
            "not_configured",
            EVALUATED_AT,
        )
    ]


def test_alert_settings_are_read_in_settings_and_stay_env_vars() -> None:
    settings = load_settings(
        {
            "SONY_DE_ALERT_WEBHOOK_URL": "https://hooks.example.com/services/SECRET",
            "SONY_DE_ALERT_FORMAT": "PagerDuty",
            "SONY_DE_PAGERDUTY_ROUTING_KEY": "SECRETKEY",
            "SONY_DE_ALERT_SUPPRESSION_SECONDS": "900",
            "SONY_DE_DAGSTER_URL": "https://dagster.example.com/",
        }
    )
    assert settings.alert_webhook_url_var == "SONY_DE_ALERT_WEBHOOK_URL"
    assert settings.pagerduty_routing_key_var == "SONY_DE_PAGERDUTY_ROUTING_KEY"
    assert "SECRET" not in repr(settings)
    resource = on_call_alerts(settings)
    assert (resource.alert_format, resource.suppression_seconds, resource.dagster_url) == (
        "pagerduty",
        900.0,
        "https://dagster.example.com",
    )
    with pytest.raises(SettingsError, match="SONY_DE_PAGERDUTY_ROUTING_KEY"):
        load_settings({"SONY_DE_ALERT_FORMAT": "pagerduty"})
    with pytest.raises(SettingsError, match="SONY_DE_ALERT_FORMAT='email' is not an alert format"):
        load_settings({"SONY_DE_ALERT_FORMAT": "email"})
