"""`sony-de snowflake deploy`: the account objects the platform needs, as ordered DDL sections.

Each section is a function of the deploy target (database and warehouse names, from
settings) returning SQL statements. Every statement is idempotent, so a deploy is re-run
rather than repaired: CREATE ... IF NOT EXISTS for objects, ALTER ... to converge the
properties an existing object may lack (managed access, the masking body), FORCE to
re-attach a masking policy, and GRANT, which is a no-op when the privilege is held.

Besides the account objects, the deploy creates what other areas declare: the streams of
the stream registry (cdc/streams.py) and the custom Data Metric Functions of the DMF
registry (quality/dmfs.yml), with the same statements the routing and the DMF check steps
issue at run time. DMF attachments (ALTER TABLE ... ADD DATA METRIC FUNCTION) are not
deployed: they need the dbt tables, and dbt's CREATE OR REPLACE drops them with every
rebuild, so the DMF check steps attach them after each build, only where missing.

The script only adds: a privilege removed from the access model is not revoked here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sony_de_platform.bronze.feeds import RAW_SCHEMA
from sony_de_platform.bronze.loader import bronze_pii_columns, bronze_tables
from sony_de_platform.cdc.streams import stream_deploy_statements
from sony_de_platform.governance.access import (
    MANAGED_ACCESS_SCHEMAS,
    Schema,
    clear_pii_roles,
    grant_statements,
    role_name,
    role_statements,
    sql_string,
)
from sony_de_platform.quality.deploy import dmf_deploy_statements
from sony_de_platform.settings import Settings
from sony_de_platform.warehouse import Session, identifier, qualified

PII_MASKING_POLICY = "PII_TEXT_MASK"


@dataclass(frozen=True)
class DeployTarget:
    """Where the deploy goes: one database and the virtual warehouse its roles use."""

    database: str
    warehouse: str

    @classmethod
    def from_settings(cls, settings: Settings) -> DeployTarget:
        return cls(settings.snowflake_database, settings.snowflake_warehouse)

    def schema(self, schema: Schema | str) -> str:
        return qualified(self.database, str(schema))


@dataclass(frozen=True)
class DeploySection:
    name: str
    statements: Callable[[DeployTarget], list[str]]


def warehouse_statements(target: DeployTarget) -> list[str]:
    """The virtual warehouse: the smallest size, suspended when idle, resumed on demand."""
    return [
        f"CREATE WAREHOUSE IF NOT EXISTS {identifier(target.warehouse)} WITH "
        "WAREHOUSE_SIZE = XSMALL AUTO_SUSPEND = 60 AUTO_RESUME = TRUE "
        "INITIALLY_SUSPENDED = TRUE COMMENT = 'SONY_DE platform: loads, dbt and queries'"
    ]


def database_statements(target: DeployTarget) -> list[str]:
    """The database and its schemas; SECURE as a managed-access schema."""
    statements = [f"CREATE DATABASE IF NOT EXISTS {identifier(target.database)}"]
    for schema in Schema:
        managed = " WITH MANAGED ACCESS" if schema in MANAGED_ACCESS_SCHEMAS else ""
        statements.append(f"CREATE SCHEMA IF NOT EXISTS {target.schema(schema)}{managed}")
    # CREATE ... IF NOT EXISTS leaves a schema created earlier without managed access as it
    # was; this converges it.
    statements += [
        f"ALTER SCHEMA {target.schema(schema)} ENABLE MANAGED ACCESS"
        for schema in Schema
        if schema in MANAGED_ACCESS_SCHEMAS
    ]
    return statements


def raw_table_statements(target: DeployTarget) -> list[str]:
    """The RAW tables, ledger and quarantine, as the Bronze loader declares them: the masking
    policy needs the table, and the deploy role (not the loader) should own it."""
    # Imported here: dagster-snowflake takes seconds to import, which every code location
    # load paid on DuckDB too (benchmarks: section startup).
    from sony_de_platform.warehouse.snowflake import SnowflakeSession

    return [
        SnowflakeSession.create_table_sql(qualified(target.database, RAW_SCHEMA, table), columns)
        for table, columns in bronze_tables()
    ]


def pii_masking_body(target: DeployTarget) -> str:
    """Clear text for roles that need it (and their parents); otherwise the same SHA-256 of
    the normalised value that Silver's email_hash computes, so masked values still join."""
    allowed = " OR ".join(
        f"IS_ROLE_IN_SESSION('{role_name(target.database, role)}')" for role in clear_pii_roles()
    )
    return f"CASE WHEN {allowed} THEN val ELSE SHA2(LOWER(TRIM(val)), 256) END"


def masking_statements(target: DeployTarget) -> list[str]:
    """One masking policy on every column of RAW that may hold PII in clear."""
    policy = qualified(target.database, Schema.GOVERNANCE, PII_MASKING_POLICY)
    body = pii_masking_body(target)
    statements = [
        f"CREATE MASKING POLICY IF NOT EXISTS {policy} AS (val STRING) RETURNS STRING -> "
        f"{body} COMMENT = {sql_string('PII of RAW in clear only to roles that need it')}",
        # IF NOT EXISTS keeps an older body; SET BODY converges it (CREATE OR REPLACE would
        # fail while the policy is attached to a column).
        f"ALTER MASKING POLICY {policy} SET BODY -> {body}",
    ]
    statements += [
        f"ALTER TABLE {qualified(target.database, RAW_SCHEMA, table)} "
        f"MODIFY COLUMN {identifier(column)} SET MASKING POLICY {policy} FORCE"
        for table, column in bronze_pii_columns()
    ]
    return statements


def grants(target: DeployTarget) -> list[str]:
    return grant_statements(target.database, target.warehouse)


def roles(target: DeployTarget) -> list[str]:
    return role_statements(target.database)


def streams(target: DeployTarget) -> list[str]:
    return stream_deploy_statements(target.database)


def data_metric_functions(target: DeployTarget) -> list[str]:
    return dmf_deploy_statements(target.database)


# Sections contributed by other areas, whose statements live with them: the streams (cdc/)
# and the custom data metric functions (quality/). They run after the RAW tables exist (a
# stream needs its table) and before the grants, so that the grants on ALL objects cover
# what they create. DMF attachments are not deployed here: see the module docstring.
AREA_SECTIONS: tuple[DeploySection, ...] = (
    DeploySection("streams", streams),
    DeploySection("data metric functions", data_metric_functions),
)

DEPLOY_SECTIONS: tuple[DeploySection, ...] = (
    DeploySection("warehouse", warehouse_statements),
    DeploySection("database and schemas", database_statements),
    DeploySection("roles and hierarchy", roles),
    DeploySection("RAW tables", raw_table_statements),
    DeploySection("masking policies", masking_statements),
    *AREA_SECTIONS,
    DeploySection("grants", grants),
)


@dataclass(frozen=True)
class DeployStatement:
    section: str
    sql: str


def deploy_plan(
    target: DeployTarget, sections: Sequence[DeploySection] = DEPLOY_SECTIONS
) -> list[DeployStatement]:
    return [
        DeployStatement(section.name, sql)
        for section in sections
        for sql in section.statements(target)
    ]


def render_script(target: DeployTarget, plan: Sequence[DeployStatement]) -> str:
    """The plan as a SQL script (what `--dry-run` prints): one statement per line."""
    lines = [
        f"-- sony-de snowflake deploy: database {target.database}, warehouse {target.warehouse}"
    ]
    section = None
    for statement in plan:
        if statement.section != section:
            section = statement.section
            lines.append(f"-- {section}")
        lines.append(f"{statement.sql};")
    return "\n".join(lines) + "\n"


class DeployError(RuntimeError):
    """A statement failed; those before it were applied."""


def run_deploy(
    session: Session, plan: Sequence[DeployStatement], say: Callable[[str], None]
) -> int:
    """Execute the plan in order, one statement at a time; returns the statements run."""
    for number, statement in enumerate(plan, start=1):
        say(f"[{number}/{len(plan)}] {statement.section}: {statement.sql}")
        try:
            session.execute(statement.sql)
        except Exception as error:
            raise DeployError(
                f"deploy stopped at statement {number} of {len(plan)} ({statement.section}): "
                f"{statement.sql}\n{error}\nThe statements before it were applied and every "
                "statement is idempotent: fix the cause (often the role's privileges: the "
                "deploy needs CREATE WAREHOUSE, CREATE DATABASE, CREATE ROLE and MANAGE "
                "GRANTS, e.g. ACCOUNTADMIN) and run the deploy again."
            ) from error
    return len(plan)
