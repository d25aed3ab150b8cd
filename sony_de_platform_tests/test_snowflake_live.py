"""Against a real Snowflake account: deploy, Bronze load, stream consumption, dbt build,
DMF check, teardown.

Skipped unless real credentials are in the environment: SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER,
SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH, and no SNOWFLAKE_HOST pointing at a local
server. SNOWFLAKE_ROLE (or the user's default role) must be able to deploy (see README,
Snowflake). Everything happens in a database created for this run, SONY_DE_CI_<random>,
whose roles are named after it; both are dropped at the end, whatever happened.

The deploy and the teardown run as that role; the pipeline's steps (Bronze load, routing,
dbt, DMF check) run as <DATABASE>_TRANSFORMER, the role the deploy created for them, which
the test grants to the connecting user: SNOWFLAKE_ROLE names it to the Dagster resource and
to dbt's profile alike, so the steps succeed only on the grants the access model derives.

The deploy creates the fan-interactions stream before Bronze loads anything, so the
routing's first consumption carries every loaded row; the DMF check runs the check step's
own calls (attach where missing, then call the DMF ad hoc) on one dbt table.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from dagster import AssetKey, DagsterInstance, Definitions

from sony_de_platform.bronze.feeds import FAN_INTERACTIONS, FEEDS
from sony_de_platform.cdc.routing import (
    GUEST_SCHEMA,
    GUEST_TABLE,
    SECURE_SCHEMA,
    VAULT_TABLE,
    route_fan_pii,
)
from sony_de_platform.cdc.streams import FAN_INTERACTIONS_STREAM
from sony_de_platform.definitions import build_definitions
from sony_de_platform.demo import split_into_waves
from sony_de_platform.governance.access import ROLES, Schema, role_name
from sony_de_platform.governance.deploy_job import SNOWFLAKE_DEPLOY
from sony_de_platform.jobs import MEDALLION_FULL_BUILD
from sony_de_platform.quality.measurement import engine_for, measure
from sony_de_platform.quality.registry import load_registry
from sony_de_platform.settings import Settings, SettingsError, load_settings
from sony_de_platform.synthetic import generate_landing_data
from sony_de_platform.warehouse import Session, open_warehouse
from sony_de_platform.warehouse.data_metrics import SnowflakeDataMetrics
from sony_de_platform.warehouse.streams import CONSUMPTIONS_SCHEMA, CONSUMPTIONS_TABLE, streams

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
PIPELINE_ROLE = "TRANSFORMER"  # the Dagster service user's role (governance/access.py)


def _live_environment() -> dict[str, str] | None:
    environment = {**os.environ, "SONY_DE_TARGET": "snowflake"}
    if environment.get("SNOWFLAKE_HOST", "").strip() in LOCAL_HOSTS:
        return None  # a local stand-in such as fakesnow, not an account
    try:
        load_settings(environment)
    except SettingsError:
        return None
    return environment


LIVE = _live_environment()
pytestmark = [
    pytest.mark.snowflake_live,
    pytest.mark.skipif(
        LIVE is None,
        reason="no Snowflake account: set SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and "
        "SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH",
    ),
]


@dataclass
class LiveRun:
    settings: Settings  # as the deploying role, SNOWFLAKE_ROLE as in the environment
    defs: Definitions
    transformer: Settings  # the same account and database, as <DATABASE>_TRANSFORMER
    transformer_defs: Definitions
    instance: DagsterInstance
    database: str

    @property
    def transformer_role(self) -> str:
        return role_name(self.database, PIPELINE_ROLE)


def _show(session: Session, command: str, *columns: str) -> list[tuple]:
    """Selected columns of a SHOW command's result, in the same session."""
    session.execute(command)
    quoted = ", ".join(f'"{column}"' for column in columns)
    return session.fetchall(f"SELECT {quoted} FROM TABLE(RESULT_SCAN(LAST_QUERY_ID()))")


def _teardown(session: Session, database: str) -> None:
    session.execute(f"DROP DATABASE IF EXISTS {database}")
    for role in ROLES:
        session.execute(f"DROP ROLE IF EXISTS {role_name(database, role.name)}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    assert LIVE is not None
    root = tmp_path_factory.mktemp("live")
    generated = root / "generated"
    manifest = generate_landing_data(generated, scale=0.02, seed=3)
    landing = root / "landing"
    for path in split_into_waves(generated, manifest, 6)[0]:
        target = landing / path.relative_to(generated)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    database = f"SONY_DE_CI_{uuid.uuid4().hex[:10].upper()}"
    environment = {
        **LIVE,
        "SNOWFLAKE_DATABASE": database,
        "SONY_DE_DATA_DIR": str(root / "data"),
        "SONY_DE_LANDING_DIR": str(landing),
        "SONY_DE_LANDING_SETTLE_SECONDS": "0",  # the copied files are complete
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        settings = load_settings()
        transformer = load_settings(
            {**os.environ, "SNOWFLAKE_ROLE": role_name(database, PIPELINE_ROLE)}
        )
        try:
            yield LiveRun(
                settings,
                build_definitions(settings),
                transformer,
                build_definitions(transformer),
                DagsterInstance.ephemeral(),
                database,
            )
        finally:
            with open_warehouse(settings) as warehouse, warehouse.session() as session:
                _teardown(session, database)  # also when a test failed half-way


def _run(live: LiveRun, defs: Definitions, job: str, **kwargs: object) -> None:
    result = defs.resolve_job_def(job).execute_in_process(
        instance=live.instance, raise_on_error=False, **kwargs
    )
    assert result.success, [str(e.message) for e in result.all_events if e.is_failure]


@contextmanager
def as_transformer(live: LiveRun) -> Iterator[Settings]:
    """The pipeline's role for the block: granted to the connecting user by the deploying
    role (GRANT is a no-op when held), then set as SNOWFLAKE_ROLE, which the Dagster
    resource resolves when a run starts and dbt's profile reads; the settings to use."""
    role = live.transformer_role
    with open_warehouse(live.settings) as warehouse, warehouse.session() as session:
        user = str(session.scalar("SELECT CURRENT_USER()")).replace('"', '""')
        session.execute(f'GRANT ROLE {role} TO USER "{user}"')
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SNOWFLAKE_ROLE", role)
        with open_warehouse(live.transformer) as warehouse, warehouse.session() as session:
            assert session.scalar("SELECT CURRENT_ROLE()") == role
        yield live.transformer


def test_1_deploy_twice(live: LiveRun) -> None:
    _run(live, live.defs, SNOWFLAKE_DEPLOY)
    _run(live, live.defs, SNOWFLAKE_DEPLOY)  # idempotent on a real account
    database = live.database
    with open_warehouse(live.settings) as warehouse, warehouse.session() as session:
        schemas = dict(_show(session, f"SHOW SCHEMAS IN DATABASE {database}", "name", "options"))
        assert {s.value for s in Schema} <= set(schemas)
        assert "MANAGED ACCESS" in (schemas["SECURE"] or "")
        roles = {name for (name,) in _show(session, f"SHOW ROLES LIKE '{database}%'", "name")}
        assert roles == {role_name(database, r.name) for r in ROLES}
        future_on_secure = set(
            _show(
                session,
                f"SHOW FUTURE GRANTS IN SCHEMA {database}.SECURE",
                "privilege",
                "grant_on",
                "grantee_name",
            )
        )
        assert ("SELECT", "TABLE", role_name(database, "PII_STEWARD")) in future_on_secure
        assert ("INSERT", "TABLE", role_name(database, "TRANSFORMER")) in future_on_secure
        assert ("UPDATE", "TABLE", role_name(database, "TRANSFORMER")) in future_on_secure
        readers = {grantee for privilege, _, grantee in future_on_secure if privilege == "SELECT"}
        # The steward, and the routing's role, whose MERGE reads the vault (AccessLevel.ROUTE).
        assert readers == {role_name(database, "PII_STEWARD"), role_name(database, "TRANSFORMER")}
        analyst_on = _show(session, f"SHOW GRANTS TO ROLE {role_name(database, 'ANALYST')}", "name")
        assert [name for (name,) in analyst_on if ".RAW" in name or ".SECURE" in name] == []
        transformer_on = _show(
            session, f"SHOW GRANTS TO ROLE {live.transformer_role}", "privilege", "granted_on"
        )
        assert ("EXECUTE DATA METRIC FUNCTION", "ACCOUNT") in transformer_on
        masked = session.fetchall(
            "SELECT lower(ref_entity_name), lower(ref_column_name), policy_name FROM TABLE("
            f"{database}.INFORMATION_SCHEMA.POLICY_REFERENCES("
            f"ref_entity_name => '{database}.RAW.RAW_FAN_INTERACTIONS', "
            "ref_entity_domain => 'table')) ORDER BY 2"
        )
        assert masked == [
            ("raw_fan_interactions", column, "PII_TEXT_MASK")
            for column in ("date_of_birth", "email", "full_name", "phone")
        ]


def test_2_bronze_load(live: LiveRun) -> None:
    with as_transformer(live) as settings:
        _run(
            live,
            live.transformer_defs,
            MEDALLION_FULL_BUILD,
            asset_selection=[AssetKey(["raw", feed.asset_name]) for feed in FEEDS],
        )
        _check_bronze(settings)


def _check_bronze(settings: Settings) -> None:
    with open_warehouse(settings) as warehouse, warehouse.session() as session:
        for feed in FEEDS:
            lines, loaded, quarantined = session.fetchone(
                "SELECT SUM(lines_read), SUM(rows_loaded), SUM(rows_quarantined) "
                "FROM RAW.LOAD_LEDGER WHERE target_table = ?",
                [feed.table],
            )
            assert lines == loaded + quarantined, feed.table
            assert session.row_count("RAW", feed.table) == loaded > 0, feed.table


def test_3_stream_consumption(live: LiveRun) -> None:
    """The routing consumes the stream the deploy created: verified fans into the vault,
    the others into the guest table, and the stream is empty afterwards."""
    raw = f"RAW.{FAN_INTERACTIONS.table}"
    with (
        as_transformer(live) as settings,
        open_warehouse(settings) as warehouse,
        warehouse.session() as session,
    ):
        loaded = session.row_count("RAW", FAN_INTERACTIONS.table)
        verified = session.scalar(
            f"SELECT COUNT(DISTINCT fan_id) FROM {raw} WHERE fan_type = 'verified'"
        )
        guests = session.scalar(
            f"SELECT COUNT(DISTINCT fan_id) FROM {raw} WHERE COALESCE(fan_type, '') <> "
            f"'verified' AND fan_id NOT IN (SELECT fan_id FROM {raw} WHERE fan_type = 'verified')"
        )
        stream = streams(session)
        assert stream.exists(FAN_INTERACTIONS_STREAM)  # from the deploy, before any load
        assert stream.has_data(FAN_INTERACTIONS_STREAM)
        result = route_fan_pii(session, "live-test")
        assert result.change_rows == loaded > 0
        assert (result.vault_fans, result.guest_fans) == (verified, guests)
        assert verified > 0
        assert session.row_count(SECURE_SCHEMA, VAULT_TABLE) == verified
        assert session.row_count(GUEST_SCHEMA, GUEST_TABLE) == guests
        assert not stream.has_data(FAN_INTERACTIONS_STREAM)  # the offset moved on commit
        assert session.fetchall(
            f"SELECT stream_name, change_rows, run_id FROM "
            f"{CONSUMPTIONS_SCHEMA}.{CONSUMPTIONS_TABLE}"
        ) == [(FAN_INTERACTIONS_STREAM.qualified_name, loaded, "live-test")]
        again = route_fan_pii(session, "live-test-again")  # nothing pending: no consumption
        assert (again.change_rows, again.vault_fans, again.guest_fans) == (0, verified, guests)


def test_4_dbt_build(live: LiveRun) -> None:
    """Unit tests included: they run on a real account."""
    graph = live.transformer_defs.resolve_asset_graph()
    bronze = {AssetKey(["raw", feed.asset_name]) for feed in FEEDS}
    with as_transformer(live) as settings:
        _run(
            live,
            live.transformer_defs,
            MEDALLION_FULL_BUILD,
            asset_selection=[key for key in graph.get_all_asset_keys() if key not in bronze],
            run_config={
                "ops": {
                    step: {"config": {"full_refresh": True}}
                    for step in ("silver_dbt_models", "gold_dbt_models", "fan_profile_snapshots")
                }
            },
        )
        with open_warehouse(settings) as warehouse, warehouse.session() as session:
            fans = session.row_count("DIMS", "DIM_FANS")
            assert session.row_count("DIMS", "SNP_FAN_PROFILES") == fans > 0
            outcomes = dict(
                session.fetchall(
                    "SELECT status, COUNT(*) FROM GOVERNANCE.DBT_TEST_RESULTS GROUP BY status"
                )
            )
    assert set(outcomes) == {"pass"}, outcomes


def test_5_dmf_check(live: LiveRun) -> None:
    """The check step's own calls on one table, as the pipeline's role: the DMFs are
    attached where missing (dbt rebuilt the table), the custom one the deploy created and a
    system one, then called ad hoc. Needs the role's data quality grants (access.py)."""
    registry = load_registry().in_database(live.database)
    on_titles = registry.attachments_on("DIMS", "dim_titles")
    custom = next(a for a in on_titles if not a.function.system)
    system = next(a for a in on_titles if a.function.system and a.function.callable_directly)
    assert custom.function.qualified_name == f"{live.database}.GOVERNANCE.VALID_IMDB_SCORE"
    with (
        as_transformer(live),
        open_warehouse(live.transformer) as warehouse,
        warehouse.session() as session,
    ):
        engine_for(session).deploy(session, registry, [("DIMS", "dim_titles")])
        attached = SnowflakeDataMetrics().attached(
            session, live.database, "DIMS", "dim_titles", "TABLE"
        )
        for attachment in (custom, system):
            assert (attachment.function.qualified_name, attachment.argument_names) in attached
        measured, measured_system = measure(session, registry, [custom, system])
    assert measured.value == 0 and measured.passed, measured
    assert measured_system.value is not None, measured_system


def test_6_teardown_drops_the_database_and_its_roles(live: LiveRun) -> None:
    database = live.database
    with open_warehouse(live.settings) as warehouse, warehouse.session() as session:
        _teardown(session, database)
        assert _show(session, f"SHOW DATABASES LIKE '{database}'", "name") == []
        assert _show(session, f"SHOW ROLES LIKE '{database}%'", "name") == []
