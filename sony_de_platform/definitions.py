"""Assembles the platform's Dagster definitions from its areas; nothing else."""

from __future__ import annotations

from dagster import Definitions, in_process_executor, multiprocess_executor
from dagster_dbt import DbtCliResource

from sony_de_platform.bronze.assets import LandingZone, build_bronze_assets
from sony_de_platform.governance.assets import build_governance_assets
from sony_de_platform.jobs import daily_medallion_build_schedule, medallion_full_build_job
from sony_de_platform.settings import Engine, Settings, get_settings
from sony_de_platform.transform.assets import build_dbt_assets
from sony_de_platform.transform.project import (
    build_dbt_project,
    dbt_executable,
    ensure_manifest,
)
from sony_de_platform.warehouse import build_warehouse


def build_definitions(settings: Settings) -> Definitions:
    project = build_dbt_project(settings)
    ensure_manifest(project, settings)
    # DuckDB has one writer per file: steps run one after another in the run's process.
    executor = in_process_executor if settings.engine is Engine.DUCKDB else multiprocess_executor
    medallion = [*build_bronze_assets(settings.engine), *build_dbt_assets(project, settings.engine)]
    return Definitions(
        assets=[*medallion, *build_governance_assets(medallion, settings)],
        jobs=[medallion_full_build_job],
        schedules=[daily_medallion_build_schedule],
        resources={
            "warehouse": build_warehouse(settings),
            "landing": LandingZone(path=str(settings.landing_dir)),
            "dbt": DbtCliResource(
                project_dir=project, target=settings.dbt_target, dbt_executable=dbt_executable()
            ),
        },
        executor=executor,
    )


defs = build_definitions(get_settings())
