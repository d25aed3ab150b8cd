"""Silver and Gold: the dbt models (with their tests as checks) and the SCD2 snapshot."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition
from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject, dbt_assets

from sony_de_platform.bronze.assets import WAREHOUSE_POOL
from sony_de_platform.settings import Engine
from sony_de_platform.transform.cli_args import DbtRunConfig, dbt_build_args
from sony_de_platform.transform.project import (
    PARSE_STATE,
    replace_atomically,
    scoped_environment,
)
from sony_de_platform.transform.test_results import record_test_results, test_result_rows
from sony_de_platform.transform.translator import MedallionTranslator
from sony_de_platform.warehouse import Warehouse, retry_when_busy

# A test runs in the step that builds one of its parents and can reach all of them (dbt
# "buildable"): a Gold test that also reads a Silver model runs with Gold, not before it.
TEST_SELECTION_ENV = {"DBT_INDIRECT_SELECTION": "buildable"}
SILVER_SELECTION = "path:models/silver"
GOLD_SELECTION = "path:models/gold"
SNAPSHOT_SELECTION = "resource_type:snapshot"
KEPT_INVOCATIONS = 10  # per dbt step: the artifacts of its newest invocations


def partial_parse_env(project: DbtProject) -> dict[str, str]:
    """Each dbt invocation gets its own target folder below DBT_TARGET_PATH, and the
    partial-parse state is copied into it from there (default `target`;
    PlatformDbtCliResource.cli, as dagster-dbt does). The project's
    artifacts live in target/<engine target> (where `ensure_manifest` parses), so without
    this every dbt step parsed the whole project again (benchmarks: section orchestration)."""
    return {"DBT_TARGET_PATH": str(project.project_dir / project.target_path)}


def keep_partial_parse(project: DbtProject, invocation_target: Path) -> None:
    """Keep the state an invocation parsed with for the next one. dbt parses the whole
    project again when its profile changed (on DuckDB the profile holds the warehouse's
    path); the invocation then writes the new state in its own folder, and the next step
    starts from it instead of parsing again. Replaced atomically: a concurrent copy reads
    one state or the other, and dbt checks whichever it gets before using it."""
    replace_atomically(
        invocation_target / PARSE_STATE, project.project_dir / project.target_path / PARSE_STATE
    )


def prune_invocation_artifacts(invocation_target: Path, keep: int = KEPT_INVOCATIONS) -> None:
    """Remove this step's older invocation folders beyond the newest `keep`. dagster-dbt
    writes a new folder (manifest, partial-parse state, compiled SQL, logs: a few MB) for
    every dbt invocation and never removes one; a platform refreshing every hour would
    fill its disk. The newest are kept for inspecting recent runs."""
    step = invocation_target.name.rsplit("-", 2)[0]
    siblings = [
        folder
        for folder in invocation_target.parent.glob(f"{step}-*-*")
        if folder.is_dir() and folder.name.rsplit("-", 2)[0] == step
    ]
    siblings.sort(key=lambda folder: folder.stat().st_mtime, reverse=True)
    for folder in siblings[keep:]:
        if folder != invocation_target:
            shutil.rmtree(folder, ignore_errors=True)  # a concurrent run may prune it too


def _run_dbt(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    project: DbtProject,
    args: list[str],
) -> Iterator[Any]:
    """Run one dbt command as the warehouse's writer, then keep its test outcomes."""
    # profiles.yml reads env_var only; dagster-dbt hands dbt this process's environment
    environment = {
        **warehouse.dbt_profile_env(),
        **TEST_SELECTION_ENV,
        **partial_parse_env(project),
    }
    with (
        scoped_environment(environment),
        retry_when_busy(warehouse, context),
        warehouse.exclusive_writer(f"dbt {args[0]}", on_wait=context.log.info),
    ):
        invocation: DbtCliInvocation = dbt.cli(args, context=context, raise_on_error=False)
        yield from invocation.stream()
        keep_partial_parse(project, invocation.target_path)
        run_results = invocation.get_artifact("run_results.json")
        rows = test_result_rows(run_results, invocation.manifest, context.run.run_id)
        prune_invocation_artifacts(invocation.target_path)
        if rows["unique_id"]:
            with warehouse.session() as session:
                record_test_results(session, rows)
        if not invocation.is_successful():
            raise invocation.get_error() or RuntimeError(f"dbt {' '.join(args)} failed")


def _dbt_asset(
    project: DbtProject,
    engine: Engine,
    translator: MedallionTranslator,
    name: str,
    description: str,
    **selection: str,
) -> AssetsDefinition:
    def build(
        context: AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: Warehouse,
        config: DbtRunConfig,
    ) -> Iterator[Any]:
        yield from _run_dbt(context, dbt, warehouse, project, dbt_build_args(config))

    build.__doc__ = description  # the op's description in the UI
    return dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=translator,
        name=name,
        pool=WAREHOUSE_POOL if engine is Engine.DUCKDB else None,
        **selection,
    )(build)


def build_dbt_assets(project: DbtProject, engine: Engine) -> list[AssetsDefinition]:
    """Silver models, Gold models and the SCD2 snapshot, as three dbt steps.

    Silver and Gold are separate steps so that Silver's blocking checks (data metric
    functions, ERROR dbt tests) run between them: Gold is never built on bad Silver data.
    """
    translator = MedallionTranslator()  # one, so each node's spec is resolved once
    return [
        _dbt_asset(
            project,
            engine,
            translator,
            "silver_dbt_models",
            "Staging views, dimensions and facts (Silver), with their tests.",
            select=SILVER_SELECTION,
        ),
        _dbt_asset(
            project,
            engine,
            translator,
            "gold_dbt_models",
            "Aggregates (Gold), with their tests; built once Silver's blocking checks pass.",
            select=GOLD_SELECTION,
        ),
        _dbt_asset(
            project,
            engine,
            translator,
            "fan_profile_snapshots",
            "SCD2 history of fans' region and preferred genre (dbt snapshot), with tests.",
            select=SNAPSHOT_SELECTION,
        ),
    ]
