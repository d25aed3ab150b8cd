"""Assembles the platform's Dagster definitions from its areas; nothing else."""

from __future__ import annotations

from dagster import Definitions, in_process_executor, multiprocess_executor

from sony_de_platform.bronze.assets import LandingZone, build_bronze_assets
from sony_de_platform.cdc.assets import build_routing_assets
from sony_de_platform.cdc.pii_isolation import build_pii_isolation_checks
from sony_de_platform.cdc.sensors import CDC_JOBS, build_cdc_sensors
from sony_de_platform.governance.assets import build_governance_assets
from sony_de_platform.governance.deploy_job import build_governance_jobs
from sony_de_platform.jobs import (
    build_silver_when_inputs_change_sensor,
    daily_medallion_build_schedule,
    fan_profile_snapshot_job,
    fan_profile_snapshot_schedule,
    medallion_full_build_job,
    refresh_within_target_lag_sensor,
)
from sony_de_platform.quality.area import build_quality_area
from sony_de_platform.settings import Engine, Settings, get_settings
from sony_de_platform.transform.assets import build_dbt_assets
from sony_de_platform.transform.project import (
    PlatformDbtCliResource,
    build_dbt_project,
    dbt_executable,
    ensure_manifest,
)
from sony_de_platform.transform.sensors import build_transform_sensors
from sony_de_platform.warehouse import build_warehouse


def build_definitions(settings: Settings) -> Definitions:
    project = build_dbt_project(settings)
    ensure_manifest(project, settings)
    # DuckDB has one writer per file: steps run one after another in the run's process.
    executor = in_process_executor if settings.engine is Engine.DUCKDB else multiprocess_executor
    medallion = [
        *build_bronze_assets(settings.engine),
        *build_routing_assets(settings.engine),
        *build_dbt_assets(project, settings.engine),
    ]
    quality = build_quality_area(settings, medallion)
    return Definitions(
        assets=[*medallion, *build_governance_assets(medallion, settings)],
        asset_checks=[build_pii_isolation_checks(medallion), *quality.asset_checks],
        jobs=[
            medallion_full_build_job,
            fan_profile_snapshot_job,
            *CDC_JOBS,
            *build_governance_jobs(settings),
        ],
        schedules=[
            daily_medallion_build_schedule,
            fan_profile_snapshot_schedule,
            *quality.schedules,
        ],
        sensors=[
            *build_cdc_sensors(settings),
            build_silver_when_inputs_change_sensor,
            refresh_within_target_lag_sensor,
            *build_transform_sensors(project, settings.engine),
            *quality.sensors,
        ],
        resources={
            **quality.resources,
            "warehouse": build_warehouse(settings),
            "landing": LandingZone(
                path=str(settings.landing_dir), settle_seconds=settings.landing_settle_seconds
            ),
            "dbt": PlatformDbtCliResource(
                project_dir=project, target=settings.dbt_target, dbt_executable=dbt_executable()
            ),
        },
        executor=executor,
    )


defs = build_definitions(get_settings())
