"""Jobs and schedules that span every area of the medallion."""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    ScheduleDefinition,
    define_asset_job,
)

from sony_de_platform.layers import GOLD_GROUP, SILVER_GROUP

MEDALLION_FULL_BUILD = "medallion_full_build"
FAN_PROFILE_SNAPSHOT = "fan_profile_snapshot"
FAN_PROFILE_SNAPSHOT_ASSET = AssetKey(["DIMS", "snp_fan_profiles"])
# Runs that write the warehouse: make dev's instance queues them one at a time (DuckDB).
WAREHOUSE_WRITER_TAGS = {"sony_de/warehouse": "writer"}

medallion_full_build_job = define_asset_job(
    name=MEDALLION_FULL_BUILD,
    selection=AssetSelection.all(),
    description="Bronze loads, dbt Silver and Gold with their tests, then the SCD2 snapshot.",
    tags=WAREHOUSE_WRITER_TAGS,
)

daily_medallion_build_schedule = ScheduleDefinition(
    name="daily_medallion_build",
    job=medallion_full_build_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Materializes the whole graph every day at 06:00 UTC.",
)

fan_profile_snapshot_job = define_asset_job(
    name=FAN_PROFILE_SNAPSHOT,
    selection=AssetSelection.assets(FAN_PROFILE_SNAPSHOT_ASSET),
    description="dbt snapshot of dim_fans: a new SCD2 version for each changed region or genre.",
    tags=WAREHOUSE_WRITER_TAGS,
)

fan_profile_snapshot_schedule = ScheduleDefinition(
    name="fan_profile_snapshot_every_6_hours",
    job=fan_profile_snapshot_job,
    cron_schedule="30 */6 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description=(
        "Snapshots fan profiles every six hours (at :30, clear of the daily build), so "
        "profile changes that reach dim_fans between daily builds keep their history."
    ),
)


def _layer_automation_sensor(
    name: str, group: str, description: str
) -> AutomationConditionSensorDefinition:
    """Evaluates the automation conditions of one layer's assets, running by default; its
    runs are queued with the other warehouse writers."""
    return AutomationConditionSensorDefinition(
        name=name,
        target=AssetSelection.groups(group),
        default_status=DefaultSensorStatus.RUNNING,
        run_tags=WAREHOUSE_WRITER_TAGS,
        description=description,
    )


# Each Silver model is built when an input changed (transform/silver_automation.py), so a
# landing file reaches Silver with no human action.
build_silver_when_inputs_change_sensor = _layer_automation_sensor(
    "build_silver_when_inputs_change",
    SILVER_GROUP,
    "Builds the Silver models that read a table that changed (a Bronze load, the fan "
    "routing or another Silver model), and only those.",
)

# On DuckDB the Gold dynamic tables are refreshed within their target lag
# (transform/dynamic_tables.py); on Snowflake no Gold asset has a condition.
refresh_within_target_lag_sensor = _layer_automation_sensor(
    "refresh_dynamic_tables_within_target_lag",
    GOLD_GROUP,
    "Refreshes each dynamic table when its inputs changed and half its target lag has "
    "passed, or when a whole lag passed (a NO_DATA refresh, as Snowflake's scheduler does).",
)
