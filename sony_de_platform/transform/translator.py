"""How dbt nodes become Dagster assets: layer groups, owners, descriptions, the automation
that builds Silver models when their inputs change, and for dynamic tables their target lag
(freshness policy) and refresh automation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from sony_de_platform.bronze.assets import PLATFORM_OWNER
from sony_de_platform.layers import GOLD_GROUP, SILVER_GROUP
from sony_de_platform.settings import Engine
from sony_de_platform.transform.dynamic_tables import (
    dynamic_table_lag,
    lag_freshness_policy,
    refresh_within_target_lag,
)
from sony_de_platform.transform.silver_automation import build_when_inputs_change

LAYER_GROUPS = (SILVER_GROUP, GOLD_GROUP)


def layer_of(props: Mapping[str, Any]) -> str:
    """models/<layer>/... -> layer; snapshots keep Silver's SCD2 history."""
    if props["resource_type"] == "snapshot":
        return SILVER_GROUP
    fqn = props.get("fqn", [])
    return fqn[1] if len(fqn) > 2 and fqn[1] in LAYER_GROUPS else SILVER_GROUP


class MedallionTranslator(DagsterDbtTranslator):
    """Groups dbt assets by medallion layer; dbt tests become asset checks.

    A Silver model is built when one of its inputs changes (silver_automation.py), on both
    engines: Dagster runs Silver on Snowflake too. A dynamic table gets a freshness policy
    from its target_lag. On DuckDB it also gets the automation that refreshes it within
    that lag; on Snowflake, Snowflake refreshes it and a sensor reports the refreshes
    (transform/sensors.py), so Dagster never rebuilds it on its own. The engine is the one
    the manifest was parsed for.
    """

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        # dagster-dbt asks for a node's spec again for every node that depends on it; the
        # layer, owners and lag are applied once per node (benchmarks: section startup)
        self._medallion_specs: dict[tuple[int, str, int], AssetSpec] = {}

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        memo = (id(manifest), unique_id, id(project))
        if memo not in self._medallion_specs:
            self._medallion_specs[memo] = self._medallion_spec(manifest, unique_id, project)
        return self._medallion_specs[memo]

    def _medallion_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec  # keyed to the Bronze asset through meta.dagster.asset_key
        owners = props.get("meta", {}).get("owners") or [PLATFORM_OWNER]
        layer = layer_of(props)
        spec = spec.replace_attributes(group_name=layer, owners=owners)
        if layer == SILVER_GROUP and props["resource_type"] == "model":
            spec = spec.replace_attributes(automation_condition=build_when_inputs_change())
        lag = dynamic_table_lag(props)
        if lag is None:
            return spec
        refreshed_here = manifest["metadata"]["adapter_type"] == Engine.DUCKDB.value
        return spec.replace_attributes(
            freshness_policy=lag_freshness_policy(lag),
            automation_condition=refresh_within_target_lag() if refreshed_here else None,
            metadata={**spec.metadata, "dynamic_table/target_lag": props["config"]["target_lag"]},
        )
