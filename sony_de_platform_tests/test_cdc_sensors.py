"""The stream and landing-folder sensors, evaluated with `build_sensor_context` against a real
DuckDB file and a real (temporary, persistent) Dagster instance."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)

from sony_de_platform.bronze.assets import LandingZone, bronze_asset_key
from sony_de_platform.bronze.feeds import FAN_INTERACTIONS, TITLE_METADATA
from sony_de_platform.bronze.loader import load_feed
from sony_de_platform.cdc.assets import ROUTED_ASSET_KEYS
from sony_de_platform.cdc.routing import route_fan_pii
from sony_de_platform.cdc.sensors import (
    LANDING_ARRIVALS,
    STREAM_TAG,
    build_cdc_sensors,
    build_landing_sensor,
    build_stream_sensor,
    fan_pii_routing_job,
    landing_arrivals_job,
)
from sony_de_platform.cdc.streams import FAN_INTERACTIONS_STREAM
from sony_de_platform.settings import Settings, SettingsError, load_settings
from sony_de_platform.warehouse import DuckDBWarehouse
from sony_de_platform_tests.lock_holders import HOLD_DUCKDB_FILE, HOLD_WRITER_LOCK, holding
from sony_de_platform_tests.test_bronze_loader import interaction

STREAM = FAN_INTERACTIONS_STREAM.qualified_name
stream_sensor = build_stream_sensor(FAN_INTERACTIONS_STREAM, fan_pii_routing_job, 30)
landing_sensor = build_landing_sensor(landing_arrivals_job, 30, settle_seconds=0)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


def drop_fan_file(settings: Settings, day: str, first: int, count: int = 3) -> Path:
    """A day's file of `count` fans, odd numbers verified (with identity), even ones guests."""
    path = settings.landing_dir / FAN_INTERACTIONS.folder / f"fan_interactions_{day}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    verified = {
        "fan_type": "verified",
        "full_name": "Ada Lovelace",
        "phone": "+44-555-1234567",
        "date_of_birth": "1990-01-01",
    }
    records = [
        interaction(
            n, fan_id=f"FAN-{n:07d}", event_ts=f"{day}T10:00:00Z", **(verified if n % 2 else {})
        )
        for n in range(first, first + count)
    ]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def load(warehouse: DuckDBWarehouse, settings: Settings) -> None:
    with warehouse.session() as session:
        load_feed(session, FAN_INTERACTIONS, settings.landing_dir)


def route(warehouse: DuckDBWarehouse) -> None:
    with warehouse.session() as session:
        route_fan_pii(session)


def evaluate_stream_sensor(
    instance: DagsterInstance, warehouse: DuckDBWarehouse
) -> RunRequest | SkipReason:
    context = build_sensor_context(instance=instance, resources={"warehouse": warehouse})
    return stream_sensor(context)


def evaluate_landing_sensor(
    instance: DagsterInstance, warehouse: DuckDBWarehouse, settings: Settings, cursor=None
) -> tuple[RunRequest | SkipReason, str | None]:
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"warehouse": warehouse, "landing": LandingZone(path=str(settings.landing_dir))},
    )
    return landing_sensor(context), context.cursor


def skip_message(result: RunRequest | SkipReason) -> str:
    assert isinstance(result, SkipReason), f"expected a skip, got {result}"
    return result.skip_message or ""


def test_both_sensors_run_by_default_at_the_configured_interval() -> None:
    settings = load_settings(
        {"SONY_DE_STREAM_POLL_SECONDS": "7", "SONY_DE_LANDING_POLL_SECONDS": "11"}
    )
    sensors = {s.name: s for s in build_cdc_sensors(settings)}
    assert {n: s.minimum_interval_seconds for n, s in sensors.items()} == {
        "fan_interactions_stream_sensor": 7,
        "landing_folder_sensor": 11,
    }
    assert {s.default_status for s in sensors.values()} == {DefaultSensorStatus.RUNNING}
    assert load_settings({}).stream_poll_seconds == 30


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("SONY_DE_STREAM_POLL_SECONDS", "soon", "'soon' is not a number of seconds"),
        ("SONY_DE_LANDING_POLL_SECONDS", "0", "must be at least 1 seconds"),
        ("SONY_DE_LANDING_SETTLE_SECONDS", "-1", "must be at least 0 seconds"),
    ],
)
def test_sensor_settings_name_the_variable_when_invalid(name: str, value: str, error: str) -> None:
    with pytest.raises(SettingsError, match=f"{name}=.*{error}"):
        load_settings({name: value})


def test_stream_sensor_skips_before_anything_is_loaded(
    instance: DagsterInstance, warehouse: DuckDBWarehouse
) -> None:
    assert "does not exist yet" in skip_message(evaluate_stream_sensor(instance, warehouse))


def test_stream_sensor_requests_routing_when_data_is_pending(
    instance: DagsterInstance, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    drop_fan_file(settings, "2026-06-01", 1)
    load(warehouse, settings)
    # Rows before the stream exists: the first routing creates it with them as initial rows.
    first = evaluate_stream_sensor(instance, warehouse)
    assert isinstance(first, RunRequest) and first.tags == {STREAM_TAG: STREAM}
    route(warehouse)
    drop_fan_file(settings, "2026-06-02", 10)
    load(warehouse, settings)
    pending = evaluate_stream_sensor(instance, warehouse)
    assert isinstance(pending, RunRequest) and pending.tags == {STREAM_TAG: STREAM}


def test_stream_sensor_skips_when_the_stream_is_empty(
    instance: DagsterInstance, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    drop_fan_file(settings, "2026-06-01", 1)
    load(warehouse, settings)
    route(warehouse)
    assert skip_message(evaluate_stream_sensor(instance, warehouse)) == (
        f"{STREAM} has no pending changes"
    )


def test_stream_sensor_requests_no_second_run_while_one_is_in_flight(
    instance: DagsterInstance, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    drop_fan_file(settings, "2026-06-01", 1)
    load(warehouse, settings)
    run = instance.add_run(
        DagsterRun(
            job_name=fan_pii_routing_job.name,
            run_id=str(uuid.uuid4()),
            tags={STREAM_TAG: STREAM},
            status=DagsterRunStatus.NOT_STARTED,
            # Where the run's code lives: a queued run needs it (the code location's name).
            remote_job_origin=RemoteJobOrigin(
                RemoteRepositoryOrigin(
                    RegisteredCodeLocationOrigin("sony_de_platform"), "__repository__"
                ),
                fan_pii_routing_job.name,
            ),
        )
    )
    for event, shown in (
        (None, "not_started"),
        (DagsterEventType.RUN_ENQUEUED, "queued"),  # as the queued run coordinator does
        (DagsterEventType.RUN_START, "started"),
    ):
        if event:
            instance.report_dagster_event(
                DagsterEvent(event.value, job_name=run.job_name), run_id=run.run_id
            )
        message = skip_message(evaluate_stream_sensor(instance, warehouse))
        assert f"run {run.run_id} ({shown}) is consuming {STREAM}" in message
    instance.report_run_failed(run)
    assert isinstance(evaluate_stream_sensor(instance, warehouse), RunRequest)


@pytest.mark.parametrize(
    ("script", "target", "names_the_holder"),
    [
        # A platform writer: the writer lock says which process holds it and why.
        (HOLD_WRITER_LOCK, "data_dir", '"pid": {pid}'),
        # A process outside the platform (no writer lock): DuckDB's own lock names it.
        (HOLD_DUCKDB_FILE, "warehouse_path", "Could not set lock on file"),
    ],
    ids=["platform-writer", "other-duckdb-process"],
)
def test_sensors_skip_naming_the_process_that_holds_the_warehouse(
    instance: DagsterInstance,
    warehouse: DuckDBWarehouse,
    settings: Settings,
    script: str,
    target: str,
    names_the_holder: str,
) -> None:
    drop_fan_file(settings, "2026-06-01", 1)
    load(warehouse, settings)
    with holding(script, str(getattr(settings, target))) as pid:
        for result in (
            evaluate_stream_sensor(instance, warehouse),
            evaluate_landing_sensor(instance, warehouse, settings)[0],
        ):
            message = skip_message(result)
            assert names_the_holder.format(pid=pid) in message and str(pid) in message
    assert isinstance(evaluate_stream_sensor(instance, warehouse), RunRequest)


def test_landing_sensor_requests_the_loads_for_a_file_not_yet_in_the_ledger(
    instance: DagsterInstance, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    assert "no landing files" in skip_message(
        evaluate_landing_sensor(instance, warehouse, settings)[0]
    )
    first = drop_fan_file(settings, "2026-06-01", 1)
    request, cursor = evaluate_landing_sensor(instance, warehouse, settings)
    assert isinstance(request, RunRequest)  # no warehouse yet: every file is new
    load(warehouse, settings)
    result, cursor = evaluate_landing_sensor(instance, warehouse, settings, cursor)
    assert skip_message(result) == "all 1 landing files are loaded"
    # The same bytes under a new name were loaded already (the ledger keys on content).
    (first.parent / "fan_interactions_copy.jsonl").write_bytes(first.read_bytes())
    result, cursor = evaluate_landing_sensor(instance, warehouse, settings, cursor)
    assert skip_message(result) == "all 2 landing files are loaded"
    drop_fan_file(settings, "2026-06-02", 10)
    result, cursor = evaluate_landing_sensor(instance, warehouse, settings, cursor)
    assert isinstance(result, RunRequest) and result.tags["sony_de/new_landing_files"] == "1"
    assert cursor is not None and len(json.loads(cursor)) == 3
    # New fan interactions: their load and the routing of the fans they bring, nothing else.
    assert result.asset_selection == [bronze_asset_key(FAN_INTERACTIONS), *ROUTED_ASSET_KEYS]


def test_landing_sensor_requests_only_the_loads_of_the_feeds_with_new_files(
    instance: DagsterInstance, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    drop_fan_file(settings, "2026-06-01", 1)
    load(warehouse, settings)
    catalog = settings.landing_dir / TITLE_METADATA.folder / "title_metadata_2026_06.csv"
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text("title_id,title_name\nT-1,Arrival\n")
    result, _ = evaluate_landing_sensor(instance, warehouse, settings)
    # A new catalog file loads the catalog only: no interactions load, no fan routing, so
    # the Silver automation rebuilds the title models and leaves the fans' alone.
    assert isinstance(result, RunRequest) and result.tags["sony_de/new_landing_files"] == "1"
    assert result.asset_selection == [bronze_asset_key(TITLE_METADATA)]


def test_landing_sensor_waits_for_a_file_still_being_written_and_for_a_run_in_flight(
    instance: DagsterInstance, warehouse: DuckDBWarehouse, settings: Settings
) -> None:
    drop_fan_file(settings, "2026-06-01", 1)
    patient = build_landing_sensor(landing_arrivals_job, 30, settle_seconds=3600)
    context = build_sensor_context(
        instance=instance,
        resources={"warehouse": warehouse, "landing": LandingZone(path=str(settings.landing_dir))},
    )
    assert "(1 still being written)" in skip_message(patient(context))
    instance.add_run(
        DagsterRun(
            job_name=LANDING_ARRIVALS, run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED
        )
    )
    assert "is still loading" in skip_message(
        evaluate_landing_sensor(instance, warehouse, settings)[0]
    )
