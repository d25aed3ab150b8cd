"""How dbt nodes become Dagster assets: layer groups, owners, descriptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetSpec
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from sony_de_platform.bronze.assets import PLATFORM_OWNER

LAYER_GROUPS = ("silver", "gold")


def layer_of(props: Mapping[str, Any]) -> str:
    """models/<layer>/... -> layer; snapshots keep Silver's SCD2 history."""
    if props["resource_type"] == "snapshot":
        return "silver"
    fqn = props.get("fqn", [])
    return fqn[1] if len(fqn) > 2 and fqn[1] in LAYER_GROUPS else "silver"


class MedallionTranslator(DagsterDbtTranslator):
    """Groups dbt assets by medallion layer; dbt tests become asset checks."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec  # keyed to the Bronze asset through meta.dagster.asset_key
        owners = props.get("meta", {}).get("owners") or [PLATFORM_OWNER]
        return spec.replace_attributes(group_name=layer_of(props), owners=owners)
