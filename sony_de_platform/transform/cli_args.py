"""dbt command lines, built by pure functions so they are tested without a warehouse."""

from __future__ import annotations

from dagster import Config
from pydantic import Field


class DbtRunConfig(Config):
    """Launchpad options for the dbt steps."""

    full_refresh: bool = Field(
        default=False, description="Rebuild incremental models and snapshots from scratch."
    )
    fail_fast: bool = Field(default=False, description="Stop at the first failing node.")


def dbt_build_args(config: DbtRunConfig) -> list[str]:
    """`dbt build`: nodes and their tests; the asset's own selection is added by dagster-dbt,
    so the models asset builds models and the snapshot asset builds the snapshot."""
    args = ["build"]
    if config.full_refresh:
        args.append("--full-refresh")
    if config.fail_fast:
        args.append("--fail-fast")
    return args
