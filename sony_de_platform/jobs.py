"""Jobs and schedules that span every area of the medallion."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
)

MEDALLION_FULL_BUILD = "medallion_full_build"

medallion_full_build_job = define_asset_job(
    name=MEDALLION_FULL_BUILD,
    selection=AssetSelection.all(),
    description="Bronze loads, dbt Silver and Gold with their tests, then the SCD2 snapshot.",
    tags={"sony_de/warehouse": "writer"},
)

daily_medallion_build_schedule = ScheduleDefinition(
    name="daily_medallion_build",
    job=medallion_full_build_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Materializes the whole graph every day at 06:00 UTC.",
)
