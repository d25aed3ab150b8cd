"""The access matrix: the generated GRANTs, parsed back, give each role exactly the
privileges the matrix states, inheritance included, and the Data Metric Function privileges
only to the roles that measure or review data quality; the README's table is the generated
one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from contextlib import redirect_stdout
from io import StringIO

from sony_de_platform import cli
from sony_de_platform.governance.access import (
    ACCESS,
    DATA_METRIC_SCHEMA,
    READER_ROLES,
    ROLES,
    AccessLevel,
    Privilege,
    Schema,
    access_table_markdown,
)
from sony_de_platform.governance.assets import READER_SCHEMAS
from sony_de_platform.governance.snowflake_deploy import DeployTarget, deploy_plan
from sony_de_platform.quality.registry import load_registry
from sony_de_platform.settings import REPO_ROOT

DATABASE, WAREHOUSE = "SONY_DE", "SONY_DE_WH"
PLATFORM_ROLES = [f"{DATABASE}_{role.name}" for role in ROLES]
OBJECT_KINDS_READ = {"TABLES", "VIEWS", "DYNAMIC TABLES", "STREAMS"}

GRANT_ON_SCHEMA = re.compile(
    rf"GRANT (?P<privileges>[A-Z ,]+) ON SCHEMA {DATABASE}\.(?P<schema>\w+) TO ROLE (?P<role>\w+)"
)
GRANT_ON_OBJECTS = re.compile(
    rf"GRANT (?P<privileges>[A-Z ,]+) ON (?P<scope>ALL|FUTURE) "
    rf"(?P<kind>TABLES|VIEWS|DYNAMIC TABLES|STREAMS) IN SCHEMA {DATABASE}\.(?P<schema>\w+) "
    r"TO ROLE (?P<role>\w+)"
)
GRANT_ROLE = re.compile(r"GRANT ROLE (?P<child>\w+) TO ROLE (?P<parent>\w+)")
# Data quality grants, read as one phrase each: account privilege, SNOWFLAKE database or
# application role, CREATE on the DMF schema, USAGE on its ALL or FUTURE DMFs.
GRANT_ON_ACCOUNT = re.compile(r"GRANT (?P<what>[A-Z ]+ ON ACCOUNT) TO ROLE (?P<role>\w+)")
GRANT_SNOWFLAKE_ROLE = re.compile(
    r"GRANT (?P<what>(?:DATABASE|APPLICATION) ROLE SNOWFLAKE\.\w+) TO ROLE (?P<role>\w+)"
)
GRANT_ON_DMFS = re.compile(
    rf"GRANT (?P<what>CREATE DATA METRIC FUNCTION ON SCHEMA|USAGE ON (?:ALL|FUTURE) DATA "
    rf"METRIC FUNCTIONS IN SCHEMA) {DATABASE}\.(?P<schema>\w+) TO ROLE (?P<role>\w+)"
)
GRANT_ON_ACCOUNT_OBJECT = re.compile(
    r"GRANT (?P<privileges>[A-Z ,]+) ON (?P<kind>DATABASE|WAREHOUSE) (?P<name>\w+) "
    r"TO ROLE (?P<role>\w+)"
)


class ParsedGrants:
    """What the deploy's GRANT statements give, read back from their text alone."""

    def __init__(self, statements: list[str]) -> None:
        self.on_schema: dict[tuple[str, str], set[str]] = defaultdict(set)
        # (role, schema, privilege) -> {(scope, kind)}
        self.on_objects: dict[tuple[str, str, str], set[tuple[str, str]]] = defaultdict(set)
        self.on_account_objects: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.children: dict[str, set[str]] = defaultdict(set)  # parent -> inherited roles
        self.quality: dict[str, set[str]] = defaultdict(set)  # role -> data quality grants
        for sql in statements:
            if not sql.startswith("GRANT "):
                continue
            if match := GRANT_ON_ACCOUNT.fullmatch(sql) or GRANT_SNOWFLAKE_ROLE.fullmatch(sql):
                self.quality[match["role"]].add(match["what"])
            elif match := GRANT_ON_DMFS.fullmatch(sql):
                self.quality[match["role"]].add(f"{match['what']} {match['schema']}")
            elif match := GRANT_ROLE.fullmatch(sql):
                self.children[match["parent"]].add(match["child"])
            elif match := GRANT_ON_SCHEMA.fullmatch(sql):
                self.on_schema[(match["role"], match["schema"])] |= _split(match["privileges"])
            elif match := GRANT_ON_OBJECTS.fullmatch(sql):
                for privilege in _split(match["privileges"]):
                    key = (match["role"], match["schema"], privilege)
                    self.on_objects[key].add((match["scope"], match["kind"]))
            elif match := GRANT_ON_ACCOUNT_OBJECT.fullmatch(sql):
                key = (match["role"], f"{match['kind']} {match['name']}")
                self.on_account_objects[key] |= _split(match["privileges"])
            else:
                raise AssertionError(f"unrecognised grant: {sql}")

    def direct(self, role: str, schema: str) -> set[str]:
        """Privileges granted to the role itself. An object privilege counts only when it
        covers every kind it applies to, both now (ALL) and later (FUTURE)."""
        privileges = set(self.on_schema.get((role, schema), set()))
        for (grantee, on_schema, privilege), covered in self.on_objects.items():
            if (grantee, on_schema) != (role, schema):
                continue
            kinds = OBJECT_KINDS_READ if privilege == "SELECT" else {"TABLES"}
            expected = {(scope, kind) for scope in ("ALL", "FUTURE") for kind in kinds}
            assert covered == expected, (role, schema, privilege, covered)
            privileges.add(privilege)
        return privileges

    def inherited_roles(self, role: str) -> set[str]:
        """The role and every role granted to it, transitively."""
        found, pending = set(), [role]
        while pending:
            current = pending.pop()
            if current not in found:
                found.add(current)
                pending.extend(self.children.get(current, ()))
        return found

    def effective(self, role: str, schema: str) -> set[str]:
        return set().union(*(self.direct(r, schema) for r in self.inherited_roles(role)))

    def effective_quality(self, role: str) -> set[str]:
        return set().union(*(self.quality.get(r, set()) for r in self.inherited_roles(role)))


def _split(privileges: str) -> set[str]:
    return {p.strip() for p in privileges.split(",")}


def grants() -> ParsedGrants:
    return ParsedGrants([s.sql for s in deploy_plan(DeployTarget(DATABASE, WAREHOUSE))])


def test_direct_grants_are_exactly_the_matrix() -> None:
    parsed = grants()
    for role in ROLES:
        for schema in Schema:
            level = ACCESS.get(role.name, {}).get(schema)
            stated = {p.value for p in level.privileges} if level else set()
            assert parsed.direct(f"{DATABASE}_{role.name}", schema.value) == stated, (
                role.name,
                schema,
            )


def test_effective_privileges_follow_the_matrix_and_the_hierarchy() -> None:
    parsed = grants()
    stated_parents = {
        f"{DATABASE}_{role.name}": {f"{DATABASE}_{r}" for r in role.inherits} for role in ROLES
    }
    for role in PLATFORM_ROLES:
        assert parsed.children.get(role, set()) == stated_parents[role], role
    assert parsed.children["SYSADMIN"] == {f"{DATABASE}_TRANSFORMER"}

    by_name = {role.name: role for role in ROLES}
    for role in ROLES:
        lineage, pending = set(), [role.name]  # the matrix's own reading of inheritance
        while pending:
            current = pending.pop()
            if current not in lineage:
                lineage.add(current)
                pending.extend(by_name[current].inherits)
        for schema in Schema:
            stated: set[str] = set()
            for name in lineage:
                level = ACCESS.get(name, {}).get(schema)
                if level:
                    stated |= {p.value for p in level.privileges}
            assert parsed.effective(f"{DATABASE}_{role.name}", schema.value) == stated, (
                role.name,
                schema,
            )


def test_who_reads_what() -> None:
    parsed = grants()

    def readers(schema: Schema) -> set[str]:
        return {
            role.removeprefix(f"{DATABASE}_")
            for role in PLATFORM_ROLES
            if "SELECT" in parsed.effective(role, schema.value)
        }

    # Only the steward reads SECURE, and the role the PII routing runs as, which must read
    # the vault it MERGEs into (see AccessLevel.ROUTE); nobody inherits that role's access.
    assert readers(Schema.SECURE) == {"PII_STEWARD", "TRANSFORMER"}
    assert not [role for role in ROLES if "TRANSFORMER" in role.inherits]
    assert readers(Schema.RAW) == {"LOADER", "TRANSFORMER", "PII_STEWARD"}
    assert readers(Schema.STG) == {"TRANSFORMER"}
    for gold_or_silver in (Schema.DIMS, Schema.FACTS, Schema.STUDIO_OPS, Schema.MARKETING):
        assert readers(gold_or_silver) == {"TRANSFORMER", "ANALYST", "PII_STEWARD"}
    assert readers(Schema.GOVERNANCE) == {"TRANSFORMER", "MONITOR"}
    analyst = f"{DATABASE}_ANALYST"
    assert parsed.effective(analyst, "RAW") == parsed.effective(analyst, "SECURE") == set()
    # The routing's write path into the vault: exactly what its MERGE needs, and CREATE
    # TABLE for the first routing to create the vault; no DELETE, no views or streams.
    assert parsed.effective(f"{DATABASE}_TRANSFORMER", "SECURE") == {
        "USAGE",
        "SELECT",
        "INSERT",
        "UPDATE",
        "CREATE TABLE",
    }
    # The routing reads RAW's stream and creates it when the deploy has not.
    assert "CREATE STREAM" in parsed.effective(f"{DATABASE}_TRANSFORMER", "RAW")
    assert [
        role for role in PLATFORM_ROLES if "CREATE STREAM" in parsed.effective(role, "RAW")
    ] == [f"{DATABASE}_TRANSFORMER"]
    # Only the roles that build may create objects; in SECURE only the routing (the vault).
    for role in PLATFORM_ROLES:
        creates = {
            schema.value
            for schema in Schema
            if any(p.startswith("CREATE") for p in parsed.effective(role, schema.value))
        }
        expected = {
            f"{DATABASE}_LOADER": {"RAW"},
            f"{DATABASE}_TRANSFORMER": {
                "RAW",
                "STG",
                "SECURE",
                "DIMS",
                "FACTS",
                "STUDIO_OPS",
                "MARKETING",
                "GOVERNANCE",
            },
        }.get(role, set())
        assert creates == expected, role


def test_the_readers_copy_holds_what_the_reader_roles_may_read() -> None:
    """On DuckDB the published copy stands in for the analyst and monitor roles' grants."""
    parsed = grants()
    readable = {
        schema.value
        for schema in Schema
        for role in READER_ROLES
        if "SELECT" in parsed.effective(f"{DATABASE}_{role}", schema.value)
    }
    assert readable == {"DIMS", "FACTS", "STUDIO_OPS", "MARKETING", "GOVERNANCE"}
    assert set(READER_SCHEMAS) == readable


def test_every_role_may_use_the_warehouse_and_reach_its_schemas() -> None:
    parsed = grants()
    for role in ROLES:
        name = f"{DATABASE}_{role.name}"
        warehouse = parsed.on_account_objects[(name, f"WAREHOUSE {WAREHOUSE}")]
        assert warehouse == ({"USAGE", "MONITOR"} if role.name == "MONITOR" else {"USAGE"})
        assert parsed.on_account_objects[(name, f"DATABASE {DATABASE}")] == {"USAGE"}
        for schema in Schema:
            held = parsed.direct(name, schema.value)
            assert not held or "USAGE" in held, (name, schema)


# What the DMF checks need on Snowflake (/user-guide/data-quality-access-control).
MEASURES_QUALITY = {
    "EXECUTE DATA METRIC FUNCTION ON ACCOUNT",  # attach a DMF to a table, run it scheduled
    "DATABASE ROLE SNOWFLAKE.DATA_METRIC_USER",  # use the system DMFs (SNOWFLAKE.CORE)
    "CREATE DATA METRIC FUNCTION ON SCHEMA GOVERNANCE",  # a custom DMF the deploy has not made
    "USAGE ON ALL DATA METRIC FUNCTIONS IN SCHEMA GOVERNANCE",  # attach and call the custom
    "USAGE ON FUTURE DATA METRIC FUNCTIONS IN SCHEMA GOVERNANCE",  # DMFs, present and later
    "APPLICATION ROLE SNOWFLAKE.DATA_QUALITY_MONITORING_VIEWER",  # read the results view
}


def test_data_quality_grants_go_exactly_to_the_roles_that_measure_and_review() -> None:
    parsed = grants()
    expected = {
        "LOADER": set(),
        "TRANSFORMER": MEASURES_QUALITY,  # runs dbt (owns the tables) and the DMF checks
        "ANALYST": set(),
        "PII_STEWARD": set(),
        "MONITOR": {"APPLICATION ROLE SNOWFLAKE.DATA_QUALITY_MONITORING_VIEWER"},
    }
    assert set(expected) == {role.name for role in ROLES}
    for role, stated in expected.items():
        assert parsed.quality.get(f"{DATABASE}_{role}", set()) == stated, role
        assert parsed.effective_quality(f"{DATABASE}_{role}") == stated, role
    assert set(parsed.quality) == {f"{DATABASE}_TRANSFORMER", f"{DATABASE}_MONITOR"}


def test_data_quality_grants_in_a_per_run_database_are_exactly_these() -> None:
    """The DMFs' schema is the registry's, in the deploy target's database; the roles are
    that database's."""
    assert load_registry().schema == DATA_METRIC_SCHEMA.value
    plan = deploy_plan(DeployTarget("SONY_DE_CI_7", "WH"))
    assert [s.sql for s in plan if "METRIC" in s.sql or "SNOWFLAKE." in s.sql][-7:] == [
        "GRANT EXECUTE DATA METRIC FUNCTION ON ACCOUNT TO ROLE SONY_DE_CI_7_TRANSFORMER",
        "GRANT DATABASE ROLE SNOWFLAKE.DATA_METRIC_USER TO ROLE SONY_DE_CI_7_TRANSFORMER",
        "GRANT CREATE DATA METRIC FUNCTION ON SCHEMA SONY_DE_CI_7.GOVERNANCE "
        "TO ROLE SONY_DE_CI_7_TRANSFORMER",
        "GRANT USAGE ON ALL DATA METRIC FUNCTIONS IN SCHEMA SONY_DE_CI_7.GOVERNANCE "
        "TO ROLE SONY_DE_CI_7_TRANSFORMER",
        "GRANT USAGE ON FUTURE DATA METRIC FUNCTIONS IN SCHEMA SONY_DE_CI_7.GOVERNANCE "
        "TO ROLE SONY_DE_CI_7_TRANSFORMER",
        "GRANT APPLICATION ROLE SNOWFLAKE.DATA_QUALITY_MONITORING_VIEWER "
        "TO ROLE SONY_DE_CI_7_TRANSFORMER",
        "GRANT APPLICATION ROLE SNOWFLAKE.DATA_QUALITY_MONITORING_VIEWER "
        "TO ROLE SONY_DE_CI_7_MONITOR",
    ]
    assert {s.section for s in plan if s.sql.startswith("GRANT") and "METRIC" in s.sql} == {
        "grants"  # after the data metric functions section created the custom DMFs
    }


def test_every_level_is_used_and_holds_usage() -> None:
    used = {level for levels in ACCESS.values() for level in levels.values()}
    assert used == set(AccessLevel)
    assert all(Privilege.USAGE in level.privileges for level in AccessLevel)


def _readme_access_table() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- access-table:start -->\n(.*?)\n<!-- access-table:end -->", text, re.DOTALL
    )
    assert match, "README.md lacks the generated access table markers"
    return match.group(1)


def test_readme_access_table_is_the_generated_one() -> None:
    assert _readme_access_table() == access_table_markdown()


def test_cli_prints_the_access_table() -> None:
    output = StringIO()
    with redirect_stdout(output):
        assert cli.main(["snowflake", "access-table"]) == 0
    assert output.getvalue() == access_table_markdown() + "\n"
    assert "| PII_STEWARD | ANALYST | yes | read | - | read |" in output.getvalue()
