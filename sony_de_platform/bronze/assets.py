"""Bronze: one Dagster asset per RAW table, loading new landing files append-only."""

from collections import Counter
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    ConfigurableResource,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from sony_de_platform.bronze.feeds import FEEDS, RAW_SCHEMA, Feed
from sony_de_platform.bronze.loader import FileLoad, load_feed
from sony_de_platform.layers import BRONZE_GROUP
from sony_de_platform.settings import Engine
from sony_de_platform.warehouse import Warehouse, retry_when_busy

PLATFORM_OWNER = "team:data-platform"
WAREHOUSE_POOL = "sony_de_warehouse"


class LandingZone(ConfigurableResource):
    """The folder where studio feeds drop their files."""

    path: str = Field(description="Landing folder; one subfolder per feed.")
    settle_seconds: float = Field(
        default=5.0, description="A file changed more recently than this may still be growing."
    )

    @property
    def root(self) -> Path:
        return Path(self.path)


def bronze_asset_key(feed: Feed) -> AssetKey:
    """The key dbt sources point at (meta.dagster.asset_key), so lineage joins."""
    return AssetKey(["raw", feed.asset_name])


def _summary(loads: list[FileLoad]) -> dict[str, int]:
    loaded = [load for load in loads if not load.skipped]
    return {
        "files_loaded": len(loaded),
        "files_skipped": len(loads) - len(loaded),
        "lines_read": sum(load.lines_read for load in loaded),
        "rows_loaded": sum(load.rows_loaded for load in loaded),
        "rows_quarantined": sum(load.rows_quarantined for load in loaded),
    }


def build_bronze_asset(feed: Feed, engine: Engine) -> AssetsDefinition:
    @asset(
        key=bronze_asset_key(feed),
        group_name=BRONZE_GROUP,
        kinds={"python", engine.value},
        owners=[PLATFORM_OWNER],
        description=f"{RAW_SCHEMA}.{feed.table}: {feed.description}",
        pool=WAREHOUSE_POOL if engine is Engine.DUCKDB else None,
        metadata={"dagster/table_name": f"SONY_DE.{RAW_SCHEMA}.{feed.table}"},
    )
    def _load_landing_files(
        context: AssetExecutionContext, warehouse: Warehouse, landing: LandingZone
    ) -> MaterializeResult:
        def report(done: int, total: int, loads: list[FileLoad]) -> None:
            """One line per committed batch (each line is an event the run stores), and one
            per skipped file with its reason."""
            for load in loads:
                if load.skipped:
                    context.log.info(f"{load.source_file}: skipped, {load.skipped_because}")
            loaded = [load for load in loads if not load.skipped]
            if loaded:
                context.log.info(
                    f"[{done}/{total} files] {len(loaded)} committed, from "
                    f"{loaded[0].source_file} to {loaded[-1].source_file}: "
                    f"{sum(load.lines_read for load in loaded):,} lines -> "
                    f"{sum(load.rows_loaded for load in loaded):,} loaded, "
                    f"{sum(load.rows_quarantined for load in loaded):,} quarantined"
                )

        with (
            retry_when_busy(warehouse, context),
            warehouse.session(purpose=f"load {feed.table}", on_wait=context.log.info) as session,
        ):
            loads = load_feed(
                session, feed, landing.root, context.run.run_id, report, landing.settle_seconds
            )
            total_rows = session.row_count(RAW_SCHEMA, feed.table)
        summary = _summary(loads)
        reasons: Counter[str] = Counter()
        for load in loads:
            reasons.update(load.reasons)
        return MaterializeResult(
            metadata={
                **summary,
                "quarantine_reasons": MetadataValue.json(dict(reasons)),
                "dagster/row_count": total_rows,
            }
        )

    return _load_landing_files


def build_bronze_assets(engine: Engine) -> list[AssetsDefinition]:
    return [build_bronze_asset(feed, engine) for feed in FEEDS]
