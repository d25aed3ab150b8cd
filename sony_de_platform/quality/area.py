"""The quality area as the code location sees it: checks, schedule, sensor, resource."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetChecksDefinition,
    AssetsDefinition,
    EnvVar,
    ScheduleDefinition,
    SensorDefinition,
)

from sony_de_platform.quality.alerts import OnCallAlerts
from sony_de_platform.quality.checks import build_data_metric_checks
from sony_de_platform.quality.registry import load_registry
from sony_de_platform.quality.schedules import build_dmf_schedule
from sony_de_platform.quality.sensors import data_quality_alerts
from sony_de_platform.quality.volume import build_volume_checks
from sony_de_platform.settings import Engine, Settings


@dataclass(frozen=True)
class QualityArea:
    asset_checks: list[AssetChecksDefinition]
    schedules: list[ScheduleDefinition]
    sensors: list[SensorDefinition]
    resources: dict[str, Any] = field(default_factory=dict)


def on_call_alerts(settings: Settings) -> OnCallAlerts:
    """Alert delivery from the settings; secrets stay EnvVars, resolved by Dagster."""
    return OnCallAlerts(
        webhook_url=EnvVar(settings.alert_webhook_url_var)
        if settings.alert_webhook_url_var
        else None,
        alert_format=settings.alert_format.value,
        pagerduty_routing_key=(
            EnvVar(settings.pagerduty_routing_key_var)
            if settings.pagerduty_routing_key_var
            else None
        ),
        dagster_url=settings.dagster_url,
        suppression_seconds=settings.alert_suppression_seconds,
    )


def build_quality_area(settings: Settings, assets: Sequence[AssetsDefinition]) -> QualityArea:
    registry = load_registry()
    if settings.engine is Engine.SNOWFLAKE:
        # The DMFs live in the database the deploy created them in (SNOWFLAKE_DATABASE),
        # beside the tables they are attached to.
        registry = registry.in_database(settings.snowflake_database)
    dmf_checks = build_data_metric_checks(registry, assets, settings.engine)
    return QualityArea(
        asset_checks=[*dmf_checks, build_volume_checks(settings.engine)],
        schedules=[build_dmf_schedule(dmf_checks)],
        sensors=[data_quality_alerts],
        resources={"alerts": on_call_alerts(settings)},
    )
