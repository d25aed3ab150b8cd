"""The Snowflake deploy as a Dagster job, for operators who deploy from the UI."""

from dagster import (
    Config,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    Output,
    job,
    op,
)
from pydantic import Field

from sony_de_platform.governance.snowflake_deploy import (
    DeployTarget,
    deploy_plan,
    render_script,
    run_deploy,
)
from sony_de_platform.settings import Engine, Settings
from sony_de_platform.warehouse import Warehouse

SNOWFLAKE_DEPLOY = "snowflake_deploy"


class SnowflakeDeployConfig(Config):
    dry_run: bool = Field(default=False, description="Log the SQL script without running it.")


def build_snowflake_deploy_job(target: DeployTarget) -> JobDefinition:
    @op(
        name="deploy_snowflake_account_objects",
        description=(
            f"Warehouse {target.warehouse}, database {target.database} and its schemas, "
            "roles, RAW tables, masking policy and grants (sony-de snowflake deploy)."
        ),
    )
    def deploy_account_objects(
        context: OpExecutionContext, warehouse: Warehouse, config: SnowflakeDeployConfig
    ) -> Output[int]:
        plan = deploy_plan(target)
        script = render_script(target, plan)
        executed = 0
        if not config.dry_run:
            with warehouse.session() as session:
                executed = run_deploy(session, plan, context.log.info)
        return Output(
            executed,
            metadata={
                "statements": len(plan),
                "executed": executed,
                "dry_run": config.dry_run,
                "script": MetadataValue.md(f"```sql\n{script}```"),
            },
        )

    @job(
        name=SNOWFLAKE_DEPLOY,
        description="Create or converge the platform's Snowflake objects; safe to re-run.",
    )
    def snowflake_deploy() -> None:
        deploy_account_objects()

    return snowflake_deploy


def build_governance_jobs(settings: Settings) -> list[JobDefinition]:
    """The deploy job exists where it can run: on the Snowflake target."""
    if settings.engine is not Engine.SNOWFLAKE:
        return []
    return [build_snowflake_deploy_job(DeployTarget.from_settings(settings))]
