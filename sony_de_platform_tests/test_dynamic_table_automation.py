"""Dynamic tables in Dagster: target lag as freshness policy, the refresh automation
evaluated with Dagster's own evaluator and freshness daemon on a real instance, and the
Snowflake refresh reporter with its SQL recorded on a fake connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    SensorResult,
    build_sensor_context,
    evaluate_automation_conditions,
)
from dagster._core.test_utils import BasicLoadingContext, freeze_time
from dagster._daemon.freshness import FreshnessDaemon

from benchmarks.incremental import picking_up_new_file
from sony_de_platform.bronze.feeds import BOX_OFFICE, FAN_INTERACTIONS, TITLE_METADATA
from sony_de_platform.cdc.sensors import loads_for_new_files
from sony_de_platform.definitions import build_definitions
from sony_de_platform.settings import Settings, load_settings
from sony_de_platform.transform.dynamic_tables import TargetLagError, parse_target_lag
from sony_de_platform.transform.project import build_dbt_project
from sony_de_platform.transform.sensors import build_dynamic_table_refresh_sensor
from sony_de_platform.warehouse.snowflake import SnowflakeSession

FRANCHISE = AssetKey(["STUDIO_OPS", "agg_franchise_performance"])  # target_lag 1 hour
LIFETIME_VALUE = AssetKey(["MARKETING", "agg_fan_lifetime_value"])  # target_lag 6 hours
GOLD = (FRANCHISE, LIFETIME_VALUE)
UPSTREAM = AssetKey(["STG", "stg_fan_interactions"])
BAD_FAN_IDS = frozenset({"not_null_stg_fan_interactions_fan_id"})  # a blocking dbt test


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings({"SONY_DE_DATA_DIR": str(tmp_path_factory.mktemp("dt") / "data")})


@pytest.fixture(scope="module")
def defs(settings: Settings) -> Definitions:
    return build_definitions(settings)


def test_target_lag_follows_snowflakes_grammar() -> None:
    assert parse_target_lag("1 hour") == timedelta(hours=1)
    assert parse_target_lag("6 hours") == timedelta(hours=6)
    assert parse_target_lag("90 Seconds") == timedelta(seconds=90)
    assert parse_target_lag("2 days") == timedelta(days=2)
    assert parse_target_lag("DOWNSTREAM") is None
    for rejected in ("59 seconds", "1 week", "hourly", "", "-5 minutes"):
        with pytest.raises(TargetLagError, match="target_lag"):
            parse_target_lag(rejected, "models/x.sql")


def test_gold_dynamic_tables_get_a_freshness_policy_from_their_target_lag(
    defs: Definitions,
) -> None:
    graph = defs.resolve_asset_graph()
    for key, lag in ((FRANCHISE, timedelta(hours=1)), (LIFETIME_VALUE, timedelta(hours=6))):
        node = graph.get(key)
        policy = node.freshness_policy
        assert policy.fail_window.to_timedelta() == lag, key
        assert policy.warn_window.to_timedelta() == lag / 2, key
        assert node.automation_condition.get_label() == "refresh within target lag", key
    silver = graph.get(UPSTREAM)
    assert silver.freshness_policy is None
    assert silver.automation_condition.get_label() == "build when an input changes"
    # the snapshot keeps its schedule; the routed tables are built by the fan routing
    for scheduled in (AssetKey(["DIMS", "snp_fan_profiles"]), AssetKey(["STG", "guest_fans"])):
        assert graph.get(scheduled).automation_condition is None, scheduled


def test_snapshot_schedule_and_automation_sensor_run_by_default(defs: Definitions) -> None:
    snapshot = defs.resolve_schedule_def("fan_profile_snapshot_every_6_hours")
    assert snapshot.default_status == DefaultScheduleStatus.RUNNING
    assert snapshot.cron_schedule == "30 */6 * * *"
    job = defs.resolve_job_def(snapshot.job_name)
    assert set(job.asset_layer.selected_asset_keys) == {AssetKey(["DIMS", "snp_fan_profiles"])}

    sensor = defs.resolve_sensor_def("refresh_dynamic_tables_within_target_lag")
    assert isinstance(sensor, AutomationConditionSensorDefinition)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.run_tags == {"sony_de/warehouse": "writer"}  # queued with the other writers
    silver = defs.resolve_sensor_def("build_silver_when_inputs_change")
    assert isinstance(silver, AutomationConditionSensorDefinition)
    assert silver.default_status == DefaultSensorStatus.RUNNING
    assert silver.run_tags == {"sony_de/warehouse": "writer"}
    # each asset with a condition is evaluated by exactly one of the two sensors
    graph = defs.resolve_asset_graph()
    automated = {k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition}
    by_silver = silver.asset_selection.resolve(graph) & automated
    by_gold = sensor.asset_selection.resolve(graph) & automated
    assert by_silver and by_gold and not by_silver & by_gold
    assert by_silver | by_gold == automated and set(GOLD) == by_gold
    # DuckDB: Dagster refreshes the dynamic tables; there is no Snowflake refresh reporter.
    assert "report_snowflake_dynamic_table_refreshes" not in {s.name for s in defs.sensors}


def test_on_snowflake_snowflake_refreshes_and_dagster_reports(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The same code location on Snowflake (parsed for the snowflake target, no account
    needed): freshness policies stay, no automation refreshes Gold, the reporter runs."""
    snowflake = load_settings(
        {
            "SONY_DE_TARGET": "snowflake",
            "SNOWFLAKE_ACCOUNT": "xy12345",
            "SNOWFLAKE_USER": "platform",
            "SNOWFLAKE_PASSWORD": "not-used",
            "SONY_DE_DATA_DIR": str(tmp_path_factory.mktemp("sf") / "data"),
        }
    )
    defs = build_definitions(snowflake)
    graph = defs.resolve_asset_graph()
    for key in GOLD:
        assert graph.get(key).freshness_policy is not None, key
        assert graph.get(key).automation_condition is None, key
    names = {sensor.name for sensor in defs.sensors}
    assert "report_snowflake_dynamic_table_refreshes" in names


class Clock:
    """Dagster's clock, frozen and moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    @contextmanager
    def at(self, delta: timedelta) -> Iterator[datetime]:
        self.now += delta
        with freeze_time(self.now):
            yield self.now


class AutomationTicks:
    """One automation sensor's evaluations (of the assets in `group`) on an ephemeral
    instance, with runs stood in for by the events they record."""

    def __init__(self, defs: Definitions, group: str) -> None:
        self.defs = defs
        self.selection = AssetSelection.groups(group)
        self.instance = DagsterInstance.ephemeral()
        self.graph = defs.resolve_asset_graph()
        self.clock = Clock()
        self.cursor = None

    def evaluate(self) -> set[AssetKey]:
        """The assets the sensor requests at the clock's time."""
        result = evaluate_automation_conditions(
            self.defs,
            self.instance,
            asset_selection=self.selection,
            evaluation_time=self.clock.now,
            cursor=self.cursor,
        )
        self.cursor = result.cursor
        keys = self.graph.get_all_asset_keys()
        requested = {key for key in keys if result.get_num_requested(key)}
        assert result.total_requested == len(requested)
        return requested

    def built(self, *keys: AssetKey, failing: frozenset[str] = frozenset()) -> None:
        """Each asset materialized and its checks evaluated, as a run builds it: passed,
        except the checks named in `failing`."""
        for key in keys:
            self.instance.report_runless_asset_event(AssetMaterialization(asset_key=key))
            for check in self.graph.asset_check_keys:
                if check.asset_key == key:
                    self.instance.report_runless_asset_event(
                        AssetCheckEvaluation(
                            asset_key=key, check_name=check.name, passed=check.name not in failing
                        )
                    )


def test_automation_requests_gold_after_an_upstream_materialization_and_not_before(
    defs: Definitions,
) -> None:
    gold = AutomationTicks(defs, "gold")
    clock, evaluate, materialize = gold.clock, gold.evaluate, gold.built

    def freshness_daemon_tick() -> None:
        """One iteration of Dagster's freshness daemon over the Gold assets."""
        daemon = FreshnessDaemon()
        for key in GOLD:
            context = BasicLoadingContext(gold.instance)
            asyncio.run(daemon._evaluate_asset(context, gold.graph.get(key)))

    with clock.at(timedelta(0)):
        materialize(*gold.graph.get_all_asset_keys())  # everything built once
        freshness_daemon_tick()
        assert evaluate() == set()

    # 40 minutes on: half of the franchise table's 1-hour lag has passed, but no input
    # changed, so nothing is refreshed.
    with clock.at(timedelta(minutes=40)):
        freshness_daemon_tick()
        assert evaluate() == set()

    # An upstream Silver table is rebuilt but fails a blocking check: Gold is not refreshed
    # on it.
    with clock.at(timedelta(minutes=1)):
        materialize(UPSTREAM, failing=BAD_FAN_IDS)
        assert evaluate() == set()

    # It is rebuilt and passes: the franchise table is due (half its lag passed); the
    # lifetime-value table, with half of 6 hours not yet passed, waits.
    with clock.at(timedelta(minutes=1)):
        materialize(UPSTREAM)
        assert evaluate() == {FRANCHISE}
        materialize(FRANCHISE)  # the requested run refreshes it

    with clock.at(timedelta(minutes=1)):
        freshness_daemon_tick()
        assert evaluate() == set()

    # Three hours on, the lifetime-value table reaches half its lag with the upstream change
    # still unapplied; the franchise table, with no new input, has gone a whole lag without
    # a refresh and gets one too (it will record NO_DATA).
    with clock.at(timedelta(hours=3)):
        freshness_daemon_tick()
        assert evaluate() == {FRANCHISE, LIFETIME_VALUE}
        materialize(FRANCHISE, LIFETIME_VALUE)

    with clock.at(timedelta(minutes=1)):
        freshness_daemon_tick()
        assert evaluate() == set()


def test_automation_builds_the_silver_models_that_read_what_a_landing_run_wrote(
    defs: Definitions, settings: Settings
) -> None:
    """A landing run materializes the loads of the feeds with new files (and the routing for
    fan interactions); the Silver automation then requests the models reading those, with
    their Silver dependents, and nothing else. The incremental benchmark runs the same
    models (and the Gold tables they lead to)."""
    silver = AutomationTicks(defs, "silver")
    clock, materialize, graph = silver.clock, silver.built, silver.graph

    def evaluate() -> set[str]:
        return {key.path[-1] for key in silver.evaluate()}

    with clock.at(timedelta(0)):
        materialize(*graph.get_all_asset_keys())  # the daily build built everything
        assert evaluate() == set()
    with clock.at(timedelta(minutes=1)):
        assert evaluate() == set()  # nothing landed: nothing is built

    requested = {}
    for feed in (FAN_INTERACTIONS, TITLE_METADATA, BOX_OFFICE):
        with clock.at(timedelta(minutes=1)):
            materialize(*loads_for_new_files({feed.table}))
            requested[feed.name] = evaluate()
            materialize(
                *(key for key in graph.get_all_asset_keys() if key.path[-1] in requested[feed.name])
            )
        with clock.at(timedelta(minutes=1)):
            assert evaluate() == set(), feed.name  # built: not requested again
    assert requested == {
        "fan_interactions": {"stg_fan_interactions", "dim_fans", "fact_daily_performance"},
        "title_metadata": {"stg_title_metadata", "dim_titles"},
        "box_office": {"stg_box_office", "fact_box_office", "fact_daily_performance"},
    }

    # Staging rebuilt by hand fails a blocking check: what reads it waits until it is
    # rebuilt and passes.
    with clock.at(timedelta(minutes=1)):
        materialize(UPSTREAM, failing=BAD_FAN_IDS)
    with clock.at(timedelta(minutes=1)):
        assert evaluate() == set()
    with clock.at(timedelta(minutes=1)):
        materialize(UPSTREAM)
        assert evaluate() == {"dim_fans", "fact_daily_performance"}

    # The benchmark's incremental run selects the same Silver models, and the Gold tables.
    manifest = json.loads(build_dbt_project(settings).manifest_path.read_text())
    downstream, frontier = (
        set(),
        [
            unique_id
            for unique_id, source in manifest["sources"].items()
            if f"source:{source['source_name']}.{source['name']}+" in picking_up_new_file(manifest)
        ],
    )
    while frontier:
        for child in manifest["child_map"][frontier.pop()]:
            if child.startswith("model.") and child not in downstream:
                downstream.add(child)
                frontier.append(child)
    benchmarked = {manifest["nodes"][unique_id]["name"] for unique_id in downstream}
    assert benchmarked == requested["fan_interactions"] | {key.path[-1] for key in GOLD}


class RecordingCursor:
    def __init__(self, connection: RecordingConnection) -> None:
        self.connection = connection

    def __enter__(self) -> RecordingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: list | None = None) -> None:
        self.connection.statements.append((sql, params))

    def fetchall(self) -> list[tuple]:
        return self.connection.rows.pop(0)


class RecordingConnection:
    """Stands in for a snowflake.connector connection: records SQL, returns canned rows."""

    def __init__(self, *results: list[tuple]) -> None:
        self.statements: list[tuple[str, list | None]] = []
        self.rows = list(results)

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)


class FakeSnowflakeWarehouse:
    database = "SONY_DE"

    def __init__(self, connection: RecordingConnection) -> None:
        self.connection = connection

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[SnowflakeSession]:
        yield SnowflakeSession(self.connection)


# Snowflake's refresh history, read exactly so (the DuckDB twin's table has the same columns).
REFRESH_HISTORY_SQL = (
    "SELECT QUALIFIED_NAME, STATE, STATE_MESSAGE, REFRESH_ACTION, REFRESH_TRIGGER, "
    "DATA_TIMESTAMP, REFRESH_START_TIME, REFRESH_END_TIME, TARGET_LAG_SEC, STATISTICS, QUERY_ID "
    "FROM TABLE(INFORMATION_SCHEMA.DYNAMIC_TABLE_REFRESH_HISTORY("
    "DATA_TIMESTAMP_START => DATEADD('day', -7, CURRENT_TIMESTAMP()), RESULT_LIMIT => 10000)) "
    "WHERE DATABASE_NAME = ? AND REFRESH_END_TIME > TO_TIMESTAMP_TZ(?) "
    "ORDER BY REFRESH_END_TIME"
)


def _at(minute: int) -> datetime:
    return datetime(2026, 6, 2, 10, minute, tzinfo=UTC)


def test_snowflake_refreshes_are_reported_on_the_gold_assets(settings: Settings) -> None:
    sensor = build_dynamic_table_refresh_sensor(build_dbt_project(settings))
    history = [
        ("SONY_DE.STUDIO_OPS.AGG_FRANCHISE_PERFORMANCE", "SUCCEEDED", None, "INCREMENTAL",
         "SCHEDULED", _at(0), _at(1), _at(2), 3600,
         '{"numInsertedRows": 5, "numDeletedRows": 3}', "01b2-query"),
        ("SONY_DE.MARKETING.AGG_FAN_LIFETIME_VALUE", "SUCCEEDED", None, "NO_DATA",
         "SCHEDULED", _at(3), _at(3), _at(4), 21600, '{}', "01b3-query"),
        ("SONY_DE.STUDIO_OPS.AGG_FRANCHISE_PERFORMANCE", "FAILED", "warehouse suspended",
         None, "SCHEDULED", _at(5), _at(5), _at(6), 3600, None, "01b4-query"),
        ("OTHER_DB.X.NOT_OURS", "SUCCEEDED", None, "FULL", "MANUAL", _at(7), _at(7), _at(8),
         60, "{}", "01b5-query"),
    ]  # fmt: skip
    connection = RecordingConnection(history, [])
    warehouse = FakeSnowflakeWarehouse(connection)

    context = build_sensor_context(cursor=_at(0).isoformat(), resources={"warehouse": warehouse})
    result = sensor(context)
    assert isinstance(result, SensorResult)
    assert connection.statements == [
        (REFRESH_HISTORY_SQL, ["SONY_DE", "2026-06-02T10:00:00+00:00"])
    ]
    events = result.asset_events
    assert [type(e) for e in events] == [
        AssetMaterialization,
        AssetMaterialization,
        AssetObservation,
    ]
    assert [e.asset_key for e in events] == [FRANCHISE, LIFETIME_VALUE, FRANCHISE]
    incremental, no_data, failed = events
    assert incremental.metadata["refresh_action"].value == "INCREMENTAL"
    assert incremental.metadata["statistics"].value == {"numInsertedRows": 5, "numDeletedRows": 3}
    assert incremental.metadata["refresh_seconds"].value == 60.0
    assert no_data.metadata["refresh_action"].value == "NO_DATA"
    assert failed.metadata["state_message"].value == "warehouse suspended"
    assert result.cursor == _at(8).isoformat()

    # The next tick asks only for refreshes that ended after the last one reported.
    context = build_sensor_context(cursor=result.cursor, resources={"warehouse": warehouse})
    again = sensor(context)
    assert connection.statements[-1] == (
        REFRESH_HISTORY_SQL,
        ["SONY_DE", "2026-06-02T10:08:00+00:00"],
    )
    assert again.asset_events == [] and again.cursor == result.cursor
