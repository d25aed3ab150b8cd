"""Who may do what on Snowflake, written once as data.

The access model is a matrix of role x schema -> access level, plus the role hierarchy
and each role's part in data quality (the Data Metric Function privileges, which Snowflake
grants outside the schemas). The GRANT statements of `sony-de snowflake deploy` and the
access table in the README are both derived from it (`grant_statements`,
`access_table_markdown`); a test parses the generated grants back and compares them with
this model.

Roles are named after the database (`SONY_DE_LOADER` in SONY_DE), so a second database,
such as a per-run test database, gets its own roles and tears them down with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from sony_de_platform.warehouse import identifier


class Schema(StrEnum):
    """The schemas of the SONY_DE database, on both engines."""

    RAW = "RAW"
    STG = "STG"
    SECURE = "SECURE"
    DIMS = "DIMS"
    FACTS = "FACTS"
    STUDIO_OPS = "STUDIO_OPS"
    MARKETING = "MARKETING"
    GOVERNANCE = "GOVERNANCE"


# SECURE holds clear PII: in a managed-access schema only the schema owner (or a role with
# MANAGE GRANTS) grants on its objects, so a table owner cannot share the vault by mistake.
MANAGED_ACCESS_SCHEMAS = frozenset({Schema.SECURE})


class ObjectKind(StrEnum):
    """Schema objects that grants cover, as Snowflake spells them in ALL / FUTURE grants."""

    TABLES = "TABLES"
    VIEWS = "VIEWS"
    DYNAMIC_TABLES = "DYNAMIC TABLES"
    STREAMS = "STREAMS"


class Privilege(StrEnum):
    USAGE = "USAGE"
    SELECT = "SELECT"
    INSERT = "INSERT"
    UPDATE = "UPDATE"
    CREATE_TABLE = "CREATE TABLE"
    CREATE_VIEW = "CREATE VIEW"
    CREATE_DYNAMIC_TABLE = "CREATE DYNAMIC TABLE"
    CREATE_STREAM = "CREATE STREAM"


# Privileges on the schema itself, in the order they are written in a GRANT.
SCHEMA_PRIVILEGES = (
    Privilege.USAGE,
    Privilege.CREATE_TABLE,
    Privilege.CREATE_VIEW,
    Privilege.CREATE_DYNAMIC_TABLE,
    Privilege.CREATE_STREAM,
)
# Privileges on the schema's objects: the kinds each is granted on, now (ALL) and later
# (FUTURE). SELECT covers every kind dbt may materialize a model as, so that changing a
# model's materialization never silently drops a reader's access, and the streams (querying
# a stream needs SELECT on the stream as well as on its table).
OBJECT_PRIVILEGES: Mapping[Privilege, tuple[ObjectKind, ...]] = {
    Privilege.SELECT: (
        ObjectKind.TABLES,
        ObjectKind.VIEWS,
        ObjectKind.DYNAMIC_TABLES,
        ObjectKind.STREAMS,
    ),
    Privilege.INSERT: (ObjectKind.TABLES,),
    Privilege.UPDATE: (ObjectKind.TABLES,),
}


class AccessLevel(StrEnum):
    """Named bundles of privileges, so the matrix and the README table read in words."""

    READ = "read"
    CONSUME = "consume"
    APPEND = "append"
    BUILD = "build"
    ROUTE = "route"

    @property
    def privileges(self) -> frozenset[Privilege]:
        return LEVEL_PRIVILEGES[self]

    @property
    def meaning(self) -> str:
        return LEVEL_MEANINGS[self]


LEVEL_PRIVILEGES: Mapping[AccessLevel, frozenset[Privilege]] = {
    AccessLevel.READ: frozenset({Privilege.USAGE, Privilege.SELECT}),
    AccessLevel.CONSUME: frozenset({Privilege.USAGE, Privilege.SELECT, Privilege.CREATE_STREAM}),
    AccessLevel.APPEND: frozenset(
        {Privilege.USAGE, Privilege.SELECT, Privilege.INSERT, Privilege.CREATE_TABLE}
    ),
    AccessLevel.BUILD: frozenset(
        {
            Privilege.USAGE,
            Privilege.SELECT,
            Privilege.CREATE_TABLE,
            Privilege.CREATE_VIEW,
            Privilege.CREATE_DYNAMIC_TABLE,
        }
    ),
    # The PII routing (cdc/routing.py) upserts verified fans into SECURE.FAN_PII_VAULT. On
    # Snowflake each table privilege enables one command: SELECT, INSERT, UPDATE, DELETE
    # (docs.snowflake.com/en/user-guide/security-access-control-privileges, table
    # privileges); there is no MERGE privilege, so a MERGE needs those of what it does.
    # The routing's MERGE inserts (WHEN NOT MATCHED) and updates (WHEN MATCHED), and its
    # ON and WHEN MATCHED AND conditions read the vault's rows, as do its subqueries that
    # keep verified fans out of STG.GUEST_FANS (`fan_id IN (SELECT fan_id FROM vault)`):
    # SELECT on the vault is required, so a write-only vault cannot be upserted. The
    # routing's role reads the vault only to match fan keys; CREATE TABLE lets the first
    # routing create it (in a managed-access schema its owner still cannot grant on it).
    AccessLevel.ROUTE: frozenset(
        {
            Privilege.USAGE,
            Privilege.SELECT,
            Privilege.INSERT,
            Privilege.UPDATE,
            Privilege.CREATE_TABLE,
        }
    ),
}
LEVEL_MEANINGS: Mapping[AccessLevel, str] = {
    AccessLevel.READ: "query every table, view, dynamic table and stream, present and future",
    AccessLevel.CONSUME: "read, and create the streams it consumes (the PII routing)",
    AccessLevel.APPEND: "read, insert rows, create tables (Bronze loads, run records)",
    AccessLevel.BUILD: "read, create tables, views and dynamic tables (dbt owns what it builds)",
    AccessLevel.ROUTE: (
        "the PII routing's write path: create the vault and MERGE into it; SELECT only "
        "because the MERGE and the guest clean-up read the vault to match fan keys"
    ),
}


@dataclass(frozen=True)
class Role:
    """A functional role. `name` is the suffix after the database name."""

    name: str
    duty: str
    inherits: tuple[str, ...] = ()
    sees_clear_pii: bool = False
    monitors_warehouse: bool = False


ROLES: tuple[Role, ...] = (
    Role("LOADER", "Loading: Bronze appends landing files to RAW."),
    Role(
        "TRANSFORMER",
        "Transforming: dbt builds Silver and Gold from RAW, the pipeline records test "
        "outcomes and the PII routing upserts verified fans' PII into the SECURE vault. "
        "The Dagster service user's role.",
        inherits=("LOADER",),
        sees_clear_pii=True,  # Silver validates and hashes e-mails, so it reads them in clear
    ),
    Role("ANALYST", "Analysis: dimensions, facts and the Gold marts; no RAW, STG or SECURE."),
    Role(
        "PII_STEWARD",
        "PII stewardship: the only reader of SECURE besides the routing that writes the "
        "vault, and of RAW's PII in clear.",
        inherits=("ANALYST",),
        sees_clear_pii=True,
    ),
    Role(
        "MONITOR",
        "Monitoring: test outcomes and quality results in GOVERNANCE, warehouse load.",
        monitors_warehouse=True,
    ),
)
ROLES_BY_NAME: Mapping[str, Role] = {role.name: role for role in ROLES}

# The roles that own objects roll up to SYSADMIN, as Snowflake recommends, so that
# administrators can manage what dbt creates. The steward's tree deliberately does not.
SYSTEM_PARENT_ROLE = "SYSADMIN"
ROLES_UNDER_SYSADMIN = ("TRANSFORMER",)

# The matrix: each role's own (not inherited) access level per schema; absent = none.
ACCESS: Mapping[str, Mapping[Schema, AccessLevel]] = {
    "LOADER": {Schema.RAW: AccessLevel.APPEND},
    "TRANSFORMER": {
        Schema.RAW: AccessLevel.CONSUME,
        Schema.STG: AccessLevel.BUILD,
        Schema.SECURE: AccessLevel.ROUTE,
        Schema.DIMS: AccessLevel.BUILD,
        Schema.FACTS: AccessLevel.BUILD,
        Schema.STUDIO_OPS: AccessLevel.BUILD,
        Schema.MARKETING: AccessLevel.BUILD,
        Schema.GOVERNANCE: AccessLevel.APPEND,
    },
    "ANALYST": {
        Schema.DIMS: AccessLevel.READ,
        Schema.FACTS: AccessLevel.READ,
        Schema.STUDIO_OPS: AccessLevel.READ,
        Schema.MARKETING: AccessLevel.READ,
    },
    "PII_STEWARD": {Schema.RAW: AccessLevel.READ, Schema.SECURE: AccessLevel.READ},
    "MONITOR": {Schema.GOVERNANCE: AccessLevel.READ},
}


# --- Data quality -------------------------------------------------------------------------
# Data Metric Functions need privileges beyond the schema matrix: an account privilege, a
# database role and an application role of the SNOWFLAKE database, and privileges on the
# DMFs themselves (docs.snowflake.com/en/user-guide/data-quality-access-control):
# attaching a DMF needs EXECUTE DATA METRIC FUNCTION on the account, USAGE on the DMF and
# ownership of the table; creating one, CREATE DATA METRIC FUNCTION on its schema; calling
# one ad hoc, USAGE on it; system DMFs (SNOWFLAKE.CORE), the SNOWFLAKE.DATA_METRIC_USER
# database role; reading SNOWFLAKE.LOCAL.DATA_QUALITY_MONITORING_RESULTS, the
# SNOWFLAKE.DATA_QUALITY_MONITORING_VIEWER application role.

# Where the custom DMFs live (quality/dmfs.yml `schema`; a test keeps the two equal).
DATA_METRIC_SCHEMA = Schema.GOVERNANCE


class QualityPrivilege(StrEnum):
    """One data quality grant, named as Snowflake names what it grants."""

    EXECUTE_DATA_METRIC_FUNCTION = "EXECUTE DATA METRIC FUNCTION"
    DATA_METRIC_USER = "SNOWFLAKE.DATA_METRIC_USER"
    CREATE_DATA_METRIC_FUNCTION = "CREATE DATA METRIC FUNCTION"
    USE_DATA_METRIC_FUNCTIONS = "USAGE on DATA METRIC FUNCTIONS"
    DATA_QUALITY_MONITORING_VIEWER = "SNOWFLAKE.DATA_QUALITY_MONITORING_VIEWER"


# Each privilege's GRANT statements ({role} the grantee, {schema} DATABASE.DATA_METRIC_SCHEMA),
# in Snowflake's documented forms: GRANT <global privilege> ON ACCOUNT, GRANT <schema
# privilege> ON SCHEMA and GRANT USAGE ON { ALL | FUTURE } DATA METRIC FUNCTIONS IN SCHEMA
# (/sql-reference/sql/grant-privilege), GRANT DATABASE ROLE
# (/sql-reference/sql/grant-database-role), GRANT APPLICATION ROLE
# (/sql-reference/sql/grant-application-role).
QUALITY_GRANTS: Mapping[QualityPrivilege, tuple[str, ...]] = {
    QualityPrivilege.EXECUTE_DATA_METRIC_FUNCTION: (
        "GRANT EXECUTE DATA METRIC FUNCTION ON ACCOUNT TO ROLE {role}",
    ),
    QualityPrivilege.DATA_METRIC_USER: (
        "GRANT DATABASE ROLE SNOWFLAKE.DATA_METRIC_USER TO ROLE {role}",
    ),
    QualityPrivilege.CREATE_DATA_METRIC_FUNCTION: (
        "GRANT CREATE DATA METRIC FUNCTION ON SCHEMA {schema} TO ROLE {role}",
    ),
    QualityPrivilege.USE_DATA_METRIC_FUNCTIONS: (
        "GRANT USAGE ON ALL DATA METRIC FUNCTIONS IN SCHEMA {schema} TO ROLE {role}",
        "GRANT USAGE ON FUTURE DATA METRIC FUNCTIONS IN SCHEMA {schema} TO ROLE {role}",
    ),
    QualityPrivilege.DATA_QUALITY_MONITORING_VIEWER: (
        "GRANT APPLICATION ROLE SNOWFLAKE.DATA_QUALITY_MONITORING_VIEWER TO ROLE {role}",
    ),
}


class QualityLevel(StrEnum):
    """A role's part in data quality, as a named bundle of QualityPrivilege."""

    MEASURE = "measure"
    REVIEW = "review"

    @property
    def privileges(self) -> tuple[QualityPrivilege, ...]:
        return QUALITY_LEVEL_PRIVILEGES[self]

    @property
    def meaning(self) -> str:
        return QUALITY_LEVEL_MEANINGS[self]


QUALITY_LEVEL_PRIVILEGES: Mapping[QualityLevel, tuple[QualityPrivilege, ...]] = {
    # The DMF check steps: attach the DMFs to the tables dbt (this role) owns, create a custom
    # DMF the deploy has not (the deploy's role owns those it created: USAGE on ALL and
    # FUTURE covers both), call DMFs ad hoc, system ones included, and read the results.
    QualityLevel.MEASURE: tuple(QualityPrivilege),
    QualityLevel.REVIEW: (QualityPrivilege.DATA_QUALITY_MONITORING_VIEWER,),
}
QUALITY_LEVEL_MEANINGS: Mapping[QualityLevel, str] = {
    QualityLevel.MEASURE: (
        "the DMF checks: attach DMFs to the tables it owns, create missing custom ones, call "
        "them (system DMFs too) and read their results"
    ),
    QualityLevel.REVIEW: "read the DMF results (SNOWFLAKE.LOCAL.DATA_QUALITY_MONITORING_RESULTS)",
}

# Each role's own part in data quality; absent = none.
DATA_QUALITY: Mapping[str, QualityLevel] = {
    "TRANSFORMER": QualityLevel.MEASURE,
    "MONITOR": QualityLevel.REVIEW,
}


def role_name(database: str, role: str) -> str:
    """The account-level name of a platform role in one database: SONY_DE_LOADER."""
    return identifier(f"{database}_{role}")


def ancestors_first(role: str) -> list[str]:
    """`role` and every role it inherits, nearest first (each once)."""
    seen: list[str] = []
    pending = [role]
    while pending:
        current = pending.pop(0)
        if current not in seen:
            seen.append(current)
            pending.extend(ROLES_BY_NAME[current].inherits)
    return seen


def clear_pii_roles() -> list[str]:
    """Roles a masking policy shows PII in clear to (their descendants see it too)."""
    return [role.name for role in ROLES if role.sees_clear_pii]


# The roles of the people who read what the platform built: analysts and the monitor. On
# DuckDB, where no grant can be enforced inside one file, their published copy holds what
# these roles may read on Snowflake, no more.
READER_ROLES = ("ANALYST", "MONITOR")


def readable_schemas(roles: Iterable[str]) -> tuple[Schema, ...]:
    """The schemas any of `roles` may read (own or inherited grants), in Schema order."""
    granted = {
        schema
        for role in roles
        for holder in ancestors_first(role)
        for schema in ACCESS.get(holder, {})
    }
    return tuple(schema for schema in Schema if schema in granted)


# --- GRANT statements -------------------------------------------------------------------


def _ordered(privileges: Iterable[Privilege], order: Iterable[Privilege]) -> list[str]:
    wanted = set(privileges)
    return [p.value for p in order if p in wanted]


def schema_grants(database: str, role: str, schema: Schema, level: AccessLevel) -> list[str]:
    """The grants that give `role` one access level on one schema."""
    grantee = role_name(database, role)
    target = f"{identifier(database)}.{schema.value}"
    on_schema = _ordered(level.privileges, SCHEMA_PRIVILEGES)
    statements = [f"GRANT {', '.join(on_schema)} ON SCHEMA {target} TO ROLE {grantee}"]
    for kind in ObjectKind:
        on_objects = [
            privilege.value
            for privilege, kinds in OBJECT_PRIVILEGES.items()
            if privilege in level.privileges and kind in kinds
        ]
        for scope in ("ALL", "FUTURE") if on_objects else ():
            statements.append(
                f"GRANT {', '.join(on_objects)} ON {scope} {kind.value} IN SCHEMA {target} "
                f"TO ROLE {grantee}"
            )
    return statements


def quality_grants(database: str, role: str) -> list[str]:
    """The grants of a role's own data quality level (none without one)."""
    level = DATA_QUALITY.get(role)
    if level is None:
        return []
    values = {
        "role": role_name(database, role),
        "schema": f"{identifier(database)}.{DATA_METRIC_SCHEMA.value}",
    }
    return [
        template.format(**values)
        for privilege in level.privileges
        for template in QUALITY_GRANTS[privilege]
    ]


def sql_string(text: str) -> str:
    """A Snowflake string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def role_statements(database: str) -> list[str]:
    """Create the platform's roles, then the hierarchy (GRANT ROLE child TO ROLE parent)."""
    statements = [
        f"CREATE ROLE IF NOT EXISTS {role_name(database, role.name)} "
        f"COMMENT = {sql_string(role.duty)}"
        for role in ROLES
    ]
    for role in ROLES:
        for inherited in role.inherits:
            statements.append(
                f"GRANT ROLE {role_name(database, inherited)} "
                f"TO ROLE {role_name(database, role.name)}"
            )
    for role_under in ROLES_UNDER_SYSADMIN:
        statements.append(
            f"GRANT ROLE {role_name(database, role_under)} TO ROLE {SYSTEM_PARENT_ROLE}"
        )
    return statements


def grant_statements(database: str, warehouse: str) -> list[str]:
    """Every privilege of the matrix, as idempotent GRANT statements (re-granting is a no-op)."""
    statements: list[str] = []
    for role in ROLES:
        grantee = role_name(database, role.name)
        warehouse_privileges = "USAGE, MONITOR" if role.monitors_warehouse else "USAGE"
        statements.append(
            f"GRANT {warehouse_privileges} ON WAREHOUSE {identifier(warehouse)} TO ROLE {grantee}"
        )
        levels = ACCESS.get(role.name, {})
        if levels:
            statements.append(f"GRANT USAGE ON DATABASE {identifier(database)} TO ROLE {grantee}")
        for schema in Schema:
            if schema in levels:
                statements += schema_grants(database, role.name, schema, levels[schema])
        statements += quality_grants(database, role.name)
    return statements


# --- The README's access table -----------------------------------------------------------


def _cell(role: str, schema: Schema) -> str:
    """The levels a role holds on a schema (own or inherited), narrower ones left out."""
    holders = [
        (granted_by, ACCESS[granted_by][schema])
        for granted_by in ancestors_first(role)
        if schema in ACCESS.get(granted_by, {})
    ]
    shown = [
        level.value if granted_by == role else f"{level.value} (via {granted_by})"
        for granted_by, level in holders
        if not any(level.privileges < other.privileges for _, other in holders)
    ]
    return " + ".join(shown) or "-"


def _quality_cell(role: str) -> str:
    """The data quality levels a role holds, own or inherited."""
    shown = [
        DATA_QUALITY[granted_by].value + ("" if granted_by == role else f" (via {granted_by})")
        for granted_by in ancestors_first(role)
        if granted_by in DATA_QUALITY
    ]
    return " + ".join(shown) or "-"


def access_table_markdown() -> str:
    """The README's access table: effective access per role and schema and in data quality,
    then the levels."""
    header = [
        "Role (`<DATABASE>_…`)",
        "Inherits",
        "Clear PII",
        *(s.value for s in Schema),
        "Data quality",
    ]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for role in ROLES:
        cells = [
            role.name,
            ", ".join(role.inherits) or "-",
            "yes" if role.sees_clear_pii else "no",
            *(_cell(role.name, schema) for schema in Schema),
            _quality_cell(role.name),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| Level | Privileges | Meaning |", "|---|---|---|"]
    for level in AccessLevel:
        privileges = ", ".join(p.value for p in Privilege if p in level.privileges)
        lines.append(f"| {level.value} | {privileges} | {level.meaning} |")
    lines += ["", "| Data quality | Grants | Meaning |", "|---|---|---|"]
    for quality in QualityLevel:
        grants = ", ".join(privilege.value for privilege in quality.privileges)
        lines.append(f"| {quality.value} | {grants} | {quality.meaning} |")
    return "\n".join(lines)
