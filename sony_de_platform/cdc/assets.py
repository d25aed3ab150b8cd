"""The routing step as Dagster sees it: one op, two tables (the vault and the guest table)."""

from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    multi_asset,
)

from sony_de_platform.bronze.assets import PLATFORM_OWNER, WAREHOUSE_POOL, bronze_asset_key
from sony_de_platform.bronze.feeds import FAN_INTERACTIONS
from sony_de_platform.cdc.routing import GUESTS, VAULT, route_fan_pii
from sony_de_platform.cdc.streams import FAN_INTERACTIONS_STREAM
from sony_de_platform.layers import SILVER_GROUP
from sony_de_platform.settings import DATABASE_NAME, Engine
from sony_de_platform.warehouse import Warehouse

# dbt sources name these keys (meta.dagster.asset_key), so lineage runs RAW -> routing -> dbt.
VAULT_ASSET_KEY = AssetKey(["SECURE", "fan_pii_vault"])
GUEST_ASSET_KEY = AssetKey(["STG", "guest_fans"])
ROUTED_ASSET_KEYS = (VAULT_ASSET_KEY, GUEST_ASSET_KEY)


def build_routing_assets(engine: Engine) -> list[AssetsDefinition]:
    common = {
        "group_name": SILVER_GROUP,  # the routed tables are Silver, beside staging
        "kinds": {"python", engine.value},
        "owners": [PLATFORM_OWNER],
        "deps": [bronze_asset_key(FAN_INTERACTIONS)],
    }

    @multi_asset(
        name="route_fan_pii",
        specs=[
            AssetSpec(
                VAULT_ASSET_KEY,
                description=(
                    f"{VAULT}: verified fans' identity (e-mail, name, phone, date of birth) "
                    f"and e-mail hash, one row per fan, routed from "
                    f"{FAN_INTERACTIONS_STREAM.qualified_name}. Restricted: PII."
                ),
                metadata={"dagster/table_name": f"{DATABASE_NAME}.{VAULT}"},
                **common,
            ),
            AssetSpec(
                GUEST_ASSET_KEY,
                description=(
                    f"{GUESTS}: guest fans with their e-mail hash only (no clear PII), one row "
                    f"per fan, routed from {FAN_INTERACTIONS_STREAM.qualified_name}."
                ),
                metadata={"dagster/table_name": f"{DATABASE_NAME}.{GUESTS}"},
                **common,
            ),
        ],
        pool=WAREHOUSE_POOL if engine is Engine.DUCKDB else None,
    )
    def _route(context: AssetExecutionContext, warehouse: Warehouse) -> Iterator[MaterializeResult]:
        """Consume the fan-interactions stream: verified fans' PII to SECURE, guests public."""
        with warehouse.session() as session:
            result = route_fan_pii(session, context.run.run_id)
        context.log.info(
            f"{FAN_INTERACTIONS_STREAM.qualified_name}: {result.change_rows} change rows routed; "
            f"vault {result.vault_fans} fans, guests {result.guest_fans} fans"
        )
        consumed = {"stream_change_rows": result.change_rows}
        yield MaterializeResult(
            asset_key=VAULT_ASSET_KEY,
            metadata={**consumed, "dagster/row_count": result.vault_fans},
        )
        yield MaterializeResult(
            asset_key=GUEST_ASSET_KEY,
            metadata={**consumed, "dagster/row_count": result.guest_fans},
        )

    return [_route]
