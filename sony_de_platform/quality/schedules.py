"""The hourly DMF evaluation: Snowflake's default DMF schedule, mirrored in Dagster."""

from collections.abc import Sequence

from dagster import (
    AssetChecksDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
)

DMF_JOB = "data_metric_functions"


def build_dmf_schedule(checks: Sequence[AssetChecksDefinition]) -> ScheduleDefinition:
    """Every hour on the hour, evaluate every attached DMF (no asset is rebuilt)."""
    job = define_asset_job(
        name=DMF_JOB,
        selection=AssetSelection.checks(*checks),
        description="Evaluates every Data Metric Function and appends to the results history.",
        tags={"sony_de/warehouse": "writer"},
    )
    return ScheduleDefinition(
        name="hourly_data_metric_functions",
        job=job,
        cron_schedule="0 * * * *",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
        description="Snowflake's default DMF schedule (60 MINUTE), for every attachment.",
    )
