"""Snowflake refreshes its dynamic tables itself: this sensor reports those refreshes.

It reads INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY and records each completed
refresh on the table's asset, so operators see Snowflake's refreshes in the Dagster UI next
to Dagster's own runs, and Dagster never rebuilds what Snowflake keeps current.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    DefaultSensorStatus,
    MetadataValue,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from dagster_dbt import DbtProject

from sony_de_platform.settings import Engine
from sony_de_platform.transform.dynamic_tables import DYNAMIC_TABLE
from sony_de_platform.transform.translator import MedallionTranslator
from sony_de_platform.warehouse import Warehouse
from sony_de_platform.warehouse.dynamic_tables import DynamicTableRefresh, dynamic_table_refreshes

REFRESH_SUCCEEDED = "SUCCEEDED"
FIRST_LOOK_BACK = timedelta(days=1)  # how far back the sensor's first tick reads


def dynamic_table_asset_keys(manifest: Mapping) -> dict[str, AssetKey]:
    """DATABASE.SCHEMA.NAME (upper case, as Snowflake reports it) -> the table's asset key."""
    translator = MedallionTranslator()
    keys = {}
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        if node["config"].get("materialized") != DYNAMIC_TABLE:
            continue
        name = f"{node['database']}.{node['schema']}.{node['alias']}".upper()
        keys[name] = translator.get_asset_spec(manifest, unique_id, None).key
    return keys


def refresh_event(
    asset_key: AssetKey, refresh: DynamicTableRefresh
) -> AssetMaterialization | AssetObservation:
    """A succeeded refresh is a materialization made by Snowflake (it counts for the asset's
    freshness policy, whatever the REFRESH_ACTION); any other state is an observation."""
    metadata = {
        "refresh_state": refresh.state,
        "refresh_action": refresh.refresh_action or "",
        "refresh_trigger": refresh.refresh_trigger or "",
        "target_lag_sec": refresh.target_lag_sec,
        "query_id": refresh.query_id or "",
        "statistics": MetadataValue.json(json.loads(refresh.statistics or "{}")),
    }
    if refresh.data_timestamp:
        metadata["data_timestamp"] = MetadataValue.timestamp(refresh.data_timestamp)
    if refresh.refresh_start_time and refresh.refresh_end_time:
        elapsed = refresh.refresh_end_time - refresh.refresh_start_time
        metadata["refresh_seconds"] = round(elapsed.total_seconds(), 3)
    if refresh.state == REFRESH_SUCCEEDED:
        return AssetMaterialization(
            asset_key=asset_key,
            description=f"Snowflake {refresh.refresh_action} refresh, {refresh.refresh_trigger}",
            metadata=metadata,
        )
    metadata["state_message"] = refresh.state_message or ""
    return AssetObservation(
        asset_key=asset_key,
        description=f"Snowflake refresh {refresh.state}: {refresh.state_message or ''}",
        metadata=metadata,
    )


def build_dynamic_table_refresh_sensor(project: DbtProject) -> SensorDefinition:
    asset_keys = dynamic_table_asset_keys(json.loads(project.manifest_path.read_text()))

    @sensor(
        name="report_snowflake_dynamic_table_refreshes",
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            "Reports the refreshes Snowflake made of the Gold dynamic tables "
            "(INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY) on their assets."
        ),
    )
    def report_snowflake_dynamic_table_refreshes(
        context: SensorEvaluationContext, warehouse: Warehouse
    ) -> SensorResult:
        ended_after = (
            datetime.fromisoformat(context.cursor)
            if context.cursor
            else datetime.now(UTC) - FIRST_LOOK_BACK
        )
        with warehouse.session(read_only=True) as session:
            refreshes = dynamic_table_refreshes(session, warehouse.database, ended_after)
        events = [
            refresh_event(asset_keys[refresh.qualified_name], refresh)
            for refresh in refreshes
            if refresh.qualified_name in asset_keys
        ]
        ended = [r.refresh_end_time for r in refreshes if r.refresh_end_time]
        cursor = max(ended).isoformat() if ended else ended_after.isoformat()
        return SensorResult(asset_events=events, cursor=cursor)

    return report_snowflake_dynamic_table_refreshes


def build_transform_sensors(project: DbtProject, engine: Engine) -> list[SensorDefinition]:
    """On Snowflake, the refresh reporter; on DuckDB Dagster refreshes the tables itself."""
    return [build_dynamic_table_refresh_sensor(project)] if engine is Engine.SNOWFLAKE else []
