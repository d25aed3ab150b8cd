"""DMF asset checks: one per attachment, named after the DMF, on the asset of the table.

Each attached table gets one check step evaluating all its DMFs in one warehouse session.
ERROR checks on Silver tables are blocking, so a Silver table that fails one stops the Gold
(and snapshot) steps that read it in the same run; WARN checks and Gold checks only report.
On Snowflake the step first deploys the table's DMFs (idempotent, and needed after every
dbt rebuild: CREATE OR REPLACE drops attachments).
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetsDefinition,
    MetadataValue,
    multi_asset_check,
)

from sony_de_platform.bronze.assets import WAREHOUSE_POOL
from sony_de_platform.layers import SILVER_GROUP
from sony_de_platform.quality.measurement import Measurement, engine_for, measure
from sony_de_platform.quality.registry import (
    Attachment,
    Measure,
    Registry,
    RegistryError,
    Severity,
)
from sony_de_platform.settings import Engine
from sony_de_platform.warehouse import Warehouse

SCHEDULED_TIME_TAG = "dagster/scheduled_execution_time"


def table_asset_key(schema: str, table: str) -> AssetKey:
    """dbt models are keyed [SCHEMA, model] (see transform/translator.py)."""
    return AssetKey([schema, table])


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


def warehouse_check_step(
    specs: Sequence[AssetCheckSpec], name: str, description: str, engine: Engine
) -> Callable[[Callable[..., Any]], AssetChecksDefinition]:
    """A step of SQL checks on the warehouse: subsettable, in the writer pool on DuckDB."""
    return multi_asset_check(
        specs=specs,
        name=name,
        description=description,
        can_subset=True,
        compute_kind="sql",
        pool=WAREHOUSE_POOL if engine is Engine.DUCKDB else None,
    )


def value_metadata(value: float | None, missing: str = "no value") -> MetadataValue:
    return MetadataValue.float(value) if value is not None else MetadataValue.text(missing)


def result_metadata(measurement: Measurement, database: str) -> dict[str, Any]:
    attachment = measurement.attachment
    measure = attachment.function.measure
    # a percentage over no rows is NULL (and passes); a count is never NULL
    missing = "no rows to measure" if measure is Measure.PERCENT else "no value"
    metadata: dict[str, Any] = {
        "value": value_metadata(measurement.value, missing),
        "measure": measure.value,
        "expectation": attachment.expectation.text,
        "measurement_time": MetadataValue.timestamp(_utc(measurement.measured_at)),
        "dmf": attachment.function.qualified_name,
        "table": f"{database}.{attachment.schema}.{attachment.table}".upper(),
        "columns": ", ".join(attachment.columns) or "()",
        "severity": attachment.severity.value,
        "owner": attachment.owner,
        "runbook": attachment.runbook,
        "violating_rows": MetadataValue.json(measurement.violating_keys),
    }
    recorded = measurement.latest_recorded
    if recorded is not None and recorded.measurement_time is not None:
        metadata["latest_recorded_value"] = value_metadata(recorded.value, missing)
        metadata["latest_recorded_at"] = MetadataValue.timestamp(_utc(recorded.measurement_time))
    return metadata


def _scheduled_time(context: AssetCheckExecutionContext) -> datetime | None:
    """The schedule's tick time when the run came from a schedule (Snowflake: SCHEDULED_TIME)."""
    tag = context.run.tags.get(SCHEDULED_TIME_TAG)
    if not tag:
        return None
    return datetime.fromisoformat(tag).astimezone(UTC).replace(tzinfo=None)


def _last_change(context: AssetCheckExecutionContext, key: AssetKey) -> datetime | None:
    """When the table last changed: its latest materialization (Snowflake: CHANGE_COMMIT_TIME)."""
    event = context.instance.get_latest_materialization_event(key)
    if event is None:
        return None
    return datetime.fromtimestamp(event.timestamp, UTC).replace(tzinfo=None)


def build_table_checks(
    registry: Registry,
    key: AssetKey,
    attachments: Sequence[Attachment],
    blocking_layer: bool,
    engine: Engine,
) -> AssetChecksDefinition:
    """One step evaluating every DMF attached to one table."""
    schema, table = attachments[0].schema, attachments[0].table
    by_name = {attachment.check_name: attachment for attachment in attachments}
    specs = [
        AssetCheckSpec(
            attachment.check_name,
            asset=key,
            blocking=blocking_layer and attachment.severity is Severity.ERROR,
            description=(
                f"{attachment.function.qualified_name} on ({', '.join(attachment.columns)}), "
                f"expects {attachment.expectation.text} ({attachment.function.measure}). "
                f"{attachment.function.description}"
            ).strip(),
            metadata={
                "expectation": attachment.expectation.text,
                "measure": attachment.function.measure.value,
                "severity": attachment.severity.value,
                "owner": attachment.owner,
                "runbook": attachment.runbook,
            },
        )
        for attachment in attachments
    ]

    @warehouse_check_step(
        specs,
        f"data_metrics_{schema.lower()}_{table.lower()}",
        f"Data Metric Functions attached to {schema}.{table}.",
        engine,
    )
    def _evaluate(
        context: AssetCheckExecutionContext, warehouse: Warehouse
    ) -> Iterator[AssetCheckResult]:
        selected = {check.name for check in context.selected_asset_check_keys}
        chosen = [a for a in attachments if a.check_name in selected]
        with warehouse.session() as session:
            engine_for(session).deploy(session, registry, [(schema, table)])
            measurements = measure(
                session,
                registry,
                chosen,
                scheduled_time=_scheduled_time(context),
                change_commit_time=_last_change(context, key),
            )
        for measurement in measurements:
            attachment = by_name[measurement.attachment.check_name]
            if not measurement.passed:
                context.log.warning(
                    f"{attachment.label} = {measurement.value}, expected "
                    f"{attachment.expectation.text}; e.g. {measurement.violating_keys[:3]}. "
                    f"Runbook: {attachment.runbook}"
                )
            yield AssetCheckResult(
                asset_key=key,
                check_name=attachment.check_name,
                passed=measurement.passed,
                severity=AssetCheckSeverity(attachment.severity.value),
                metadata=result_metadata(measurement, registry.database),
            )

    return _evaluate


def build_data_metric_checks(
    registry: Registry, assets: Sequence[AssetsDefinition], engine: Engine
) -> list[AssetChecksDefinition]:
    """Checks for every attached table; the table's layer comes from its asset's group."""
    groups = {spec.key: spec.group_name for assets_def in assets for spec in assets_def.specs}
    checks = []
    for schema, table in registry.tables():
        key = table_asset_key(schema, table)
        if key not in groups:
            raise RegistryError(
                f"{registry.source}: {schema}.{table} is not an asset of the code location "
                f"(no asset {key.to_user_string()}); attach DMFs to dbt models' tables"
            )
        checks.append(
            build_table_checks(
                registry,
                key,
                registry.attachments_on(schema, table),
                blocking_layer=groups[key] == SILVER_GROUP,
                engine=engine,
            )
        )
    return checks
