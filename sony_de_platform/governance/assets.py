"""Governance assets, run at the end of every medallion build.

`governance/monitor_summaries` (both engines) writes counts readers may see into
GOVERNANCE. `governance/published_reader_copy` (DuckDB only) then writes what the analyst
and monitor roles may read (Silver's dimensions and facts, Gold, GOVERNANCE) to a separate
read-only file for the dashboard and analysts: they never contend with the writer's lock
and never see RAW, STG or SECURE. On Snowflake no copy is needed: readers connect with
those roles, whose grants leave the other schemas out.
"""

from collections.abc import Sequence

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from sony_de_platform.bronze.assets import PLATFORM_OWNER, WAREHOUSE_POOL
from sony_de_platform.governance.access import READER_ROLES, readable_schemas
from sony_de_platform.governance.key_stats import compute_key_stats, project_data_tests
from sony_de_platform.governance.summaries import write_monitor_summaries
from sony_de_platform.settings import Engine, Settings
from sony_de_platform.transform.test_results import GOVERNANCE_SCHEMA
from sony_de_platform.warehouse import Warehouse
from sony_de_platform.warehouse.dynamic_tables import TWIN_KEY_STATE_PREFIX

GOVERNANCE_GROUP = "governance"
MONITOR_SUMMARIES_KEY = AssetKey(["governance", "monitor_summaries"])
READER_COPY_KEY = AssetKey(["governance", "published_reader_copy"])
# What the analyst and monitor roles may read on Snowflake: Silver's dimensions and facts,
# Gold and the counts in GOVERNANCE. Not STG: staging is dbt's building block (and holds the
# routed GUEST_FANS), which those roles are not granted either.
READER_SCHEMAS: tuple[str, ...] = tuple(schema.value for schema in readable_schemas(READER_ROLES))
# Columns that hold clear PII in RAW (and SECURE): publishing refuses a relation carrying one.
PII_COLUMN_NAMES = frozenset({"email", "full_name", "phone", "date_of_birth"})


def build_governance_assets(
    upstream: Sequence[AssetsDefinition], settings: Settings
) -> list[AssetsDefinition]:
    """The governance assets, downstream of every asset in `upstream` so they run last."""
    engine = settings.engine
    upstream_keys = [key for assets_def in upstream for key in assets_def.keys]
    common = {
        "group_name": GOVERNANCE_GROUP,
        "kinds": {"python", engine.value},
        "owners": [PLATFORM_OWNER],
        "pool": WAREHOUSE_POOL if engine is Engine.DUCKDB else None,
    }

    @asset(
        key=MONITOR_SUMMARIES_KEY,
        deps=upstream_keys,
        description=(
            f"{GOVERNANCE_SCHEMA}.KEY_STATS, TABLE_ROW_COUNTS and LOAD_QUARANTINE_SUMMARY: "
            "row counts per layer and table, the Key Stats, quarantined records by feed and "
            "reason. Counts only, so readers without access to RAW may see them."
        ),
        **common,
    )
    def monitor_summaries(
        context: AssetExecutionContext, warehouse: Warehouse
    ) -> MaterializeResult:
        configured = project_data_tests(settings)
        with warehouse.session() as session:
            stats = compute_key_stats(session, configured, warehouse.database)
            written = write_monitor_summaries(session, stats)
        context.log.info(f"monitor summaries written: {written}")
        return MaterializeResult(
            metadata={
                "key_stats": MetadataValue.md(stats.as_markdown()),
                **{f"rows_{table.lower()}": rows for table, rows in written.items()},
            }
        )

    if engine is not Engine.DUCKDB:
        return [monitor_summaries]

    @asset(
        key=READER_COPY_KEY,
        deps=[MONITOR_SUMMARIES_KEY, *upstream_keys],
        description=(
            f"Read-only copy for readers at {settings.published_path.name}: the "
            f"{', '.join(READER_SCHEMAS)} schemas, what the analyst and monitor roles may "
            "read: no RAW, STG or SECURE. Replaced atomically after each build; the "
            "dashboard reads it."
        ),
        **common,
    )
    def published_reader_copy(
        context: AssetExecutionContext, warehouse: Warehouse
    ) -> MaterializeResult:
        target = settings.published_path
        copied = warehouse.publish_copy(
            target, READER_SCHEMAS, PII_COLUMN_NAMES, internal_prefixes=[TWIN_KEY_STATE_PREFIX]
        )
        context.log.info(f"published {len(copied)} tables to {target}")
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(target)),
                "tables": len(copied),
                "rows": sum(copied.values()),
                "rows_per_table": MetadataValue.json(copied),
            }
        )

    return [monitor_summaries, published_reader_copy]
