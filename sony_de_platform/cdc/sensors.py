"""What replaces the Snowflake Task: sensors that watch the streams and the landing folder.

- The stream sensor polls the stream's `has_data` (SYSTEM$STREAM_HAS_DATA) and requests a
  routing run. Because has_data stays TRUE until a run has consumed the stream, it never
  requests a run while one for the same stream is queued or in progress.
- The landing-folder sensor requests the Bronze loads and the routing when a file arrives
  that RAW.LOAD_LEDGER does not hold yet (by content hash), so a dropped file reaches the
  vault and the guest table with no human action. It requests the loads of the feeds that
  have new files only (and the routing only for new fan interactions): what a run
  materializes is what changed, and the Silver automation builds just what reads it.

Neither sensor ever waits for the warehouse: when a writer holds the DuckDB file, the tick
is skipped with the holder named, and the next tick tries again.
"""

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from sony_de_platform.bronze.assets import LandingZone, bronze_asset_key
from sony_de_platform.bronze.feeds import FEEDS, LEDGER_TABLE, RAW_SCHEMA
from sony_de_platform.bronze.loader import landing_files
from sony_de_platform.cdc.assets import ROUTED_ASSET_KEYS
from sony_de_platform.cdc.streams import FAN_INTERACTIONS_STREAM
from sony_de_platform.layers import BRONZE_GROUP
from sony_de_platform.settings import Settings
from sony_de_platform.warehouse import (
    Warehouse,
    WarehouseNotCreated,
    WarehouseUnavailable,
    qualified,
)
from sony_de_platform.warehouse.streams import Stream, streams

if TYPE_CHECKING:  # not exported by dagster; what define_asset_job returns
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

STREAM_TAG = "sony_de/stream"  # on every run that consumes the stream
WRITER_TAG = {"sony_de/warehouse": "writer"}  # one writer run at a time (deploy/dagster.dev.yaml)
FAN_PII_ROUTING = "fan_pii_routing"
LANDING_ARRIVALS = "landing_arrivals"

fan_pii_routing_job = define_asset_job(
    name=FAN_PII_ROUTING,
    selection=AssetSelection.assets(*ROUTED_ASSET_KEYS),
    description="Consume the fan-interactions stream: verified fans' PII to SECURE, guests public.",
    tags={**WRITER_TAG, STREAM_TAG: FAN_INTERACTIONS_STREAM.qualified_name},
)
landing_arrivals_job = define_asset_job(
    name=LANDING_ARRIVALS,
    selection=AssetSelection.groups(BRONZE_GROUP).without_checks()
    | AssetSelection.assets(*ROUTED_ASSET_KEYS),
    description="Load new landing files into RAW, then route the fans they bring.",
    tags={**WRITER_TAG, STREAM_TAG: FAN_INTERACTIONS_STREAM.qualified_name},
)
CDC_JOBS: tuple["UnresolvedAssetJobDefinition", ...] = (fan_pii_routing_job, landing_arrivals_job)
# Each stream of the registry with the job that consumes it.
STREAM_CONSUMERS: tuple[tuple[Stream, "UnresolvedAssetJobDefinition"], ...] = (
    (FAN_INTERACTIONS_STREAM, fan_pii_routing_job),
)


# Queued or running: a run that may still consume the stream or load files.
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def run_in_flight(instance: DagsterInstance, filters: RunsFilter) -> str | None:
    """`<run id> (<status>)` of a queued or running run matching `filters`, if any."""
    records = instance.get_run_records(
        filters=RunsFilter(job_name=filters.job_name, tags=filters.tags, statuses=IN_FLIGHT),
        limit=1,
    )
    if not records:
        return None
    run = records[0].dagster_run
    return f"{run.run_id} ({run.status.value.lower()})"


def _warehouse_busy(warehouse: Warehouse) -> SkipReason | None:
    holder = warehouse.busy_writer()
    return SkipReason(f"the warehouse is being written by {holder}; next tick") if holder else None


def build_stream_sensor(
    stream: Stream, job: "UnresolvedAssetJobDefinition", poll_seconds: int
) -> SensorDefinition:
    @sensor(
        name=f"{stream.name.lower()}_sensor",
        job=job,
        minimum_interval_seconds=poll_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            f"Every {poll_seconds}s: when {stream.qualified_name} has data "
            f"(SYSTEM$STREAM_HAS_DATA), run {job.name}, unless one is already queued or running."
        ),
    )
    def _watch_stream(
        context: SensorEvaluationContext, warehouse: Warehouse
    ) -> RunRequest | SkipReason:
        in_flight = run_in_flight(
            context.instance, RunsFilter(tags={STREAM_TAG: stream.qualified_name})
        )
        if in_flight:
            return SkipReason(
                f"run {in_flight} is consuming {stream.qualified_name}; "
                "one consumer at a time (the stream reports data until it commits)"
            )
        if busy := _warehouse_busy(warehouse):
            return busy
        try:
            with warehouse.session(read_only=True, wait=False) as session:
                if not session.table_exists(stream.source_schema, stream.source_table):
                    return SkipReason(f"{stream.source} does not exist yet: nothing loaded")
                if streams(session).exists(stream):
                    if not streams(session).has_data(stream):
                        return SkipReason(f"{stream.qualified_name} has no pending changes")
                    reason = f"{stream.qualified_name} has data"
                else:
                    # The first routing creates the stream, with the table's rows as its
                    # initial rows (SHOW_INITIAL_ROWS): request it once rows are there.
                    if not session.row_count(stream.source_schema, stream.source_table):
                        return SkipReason(f"{stream.source} is empty and has no stream yet")
                    reason = f"{stream.qualified_name} not created yet; {stream.source} has rows"
        except WarehouseUnavailable as error:
            return SkipReason(f"{error}; next tick")
        context.log.info(f"{reason}: requesting {job.name}")
        return RunRequest(tags={STREAM_TAG: stream.qualified_name})

    return _watch_stream


def _file_digests(
    paths: Sequence[tuple[str, Path]], landing_root: Path, cursor: dict[str, list]
) -> dict[str, list]:
    """relative path -> [size, mtime_ns, sha256, feed table]; a file is re-hashed only when
    its size or modification time changed since the last tick."""
    digests: dict[str, list] = {}
    for table, path in paths:
        stat = path.stat()
        relative = path.relative_to(landing_root).as_posix()
        known = cursor.get(relative)
        if known and known[:2] == [stat.st_size, stat.st_mtime_ns]:
            digests[relative] = known
        else:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            digests[relative] = [stat.st_size, stat.st_mtime_ns, sha, table]
    return digests


def loads_for_new_files(tables: set[str]) -> list[AssetKey]:
    """The Bronze loads of the feeds whose RAW tables get new files, and the fan routing
    when one of them is the table the fan stream watches."""
    keys = [bronze_asset_key(feed) for feed in FEEDS if feed.table in tables]
    if FAN_INTERACTIONS_STREAM.source_table in tables:
        keys.extend(ROUTED_ASSET_KEYS)
    return keys


def build_landing_sensor(
    job: "UnresolvedAssetJobDefinition", poll_seconds: int, settle_seconds: float
) -> SensorDefinition:
    @sensor(
        name="landing_folder_sensor",
        job=job,
        minimum_interval_seconds=poll_seconds,
        default_status=DefaultSensorStatus.RUNNING,
        description=(
            f"Every {poll_seconds}s: when the landing folder holds a file that RAW.LOAD_LEDGER "
            f"does not (by content hash), run {job.name} (Bronze loads, then PII routing)."
        ),
    )
    def _watch_landing(
        context: SensorEvaluationContext, warehouse: Warehouse, landing: LandingZone
    ) -> RunRequest | SkipReason:
        in_flight = run_in_flight(context.instance, RunsFilter(job_name=job.name))
        if in_flight:
            return SkipReason(f"run {in_flight} of {job.name} is still loading")
        # A file modified within the settle time may still be being written.
        settled_before = time.time() - settle_seconds
        arrived = [
            (feed.table, path) for feed in FEEDS for path in landing_files(feed, landing.root)
        ]
        paths = [(table, path) for table, path in arrived if path.stat().st_mtime <= settled_before]
        digests = _file_digests(paths, landing.root, json.loads(context.cursor or "{}"))
        context.update_cursor(json.dumps(digests, sort_keys=True))
        if not digests:
            writing = len(arrived) - len(paths)
            return SkipReason(
                f"no landing files in {landing.root}"
                + (f" ({writing} still being written)" if writing else "")
            )
        if busy := _warehouse_busy(warehouse):
            return busy
        loaded: set[tuple[str, str]] = set()
        try:
            with warehouse.session(read_only=True, wait=False) as session:
                if session.table_exists(RAW_SCHEMA, LEDGER_TABLE):
                    loaded = set(
                        session.fetchall(
                            "SELECT DISTINCT target_table, file_sha256 "
                            f"FROM {qualified(RAW_SCHEMA, LEDGER_TABLE)}"
                        )
                    )
        except WarehouseNotCreated:
            pass  # nothing was ever loaded: every landing file is new
        except WarehouseUnavailable as error:
            return SkipReason(f"{error}; next tick")
        new = sorted(
            path for path, (_, _, sha, table) in digests.items() if (table, sha) not in loaded
        )
        if not new:
            return SkipReason(f"all {len(digests)} landing files are loaded")
        context.log.info(f"{len(new)} new landing file(s): {', '.join(new[:10])}")
        return RunRequest(
            asset_selection=loads_for_new_files({digests[path][3] for path in new}),
            tags={"sony_de/new_landing_files": str(len(new))},
        )

    return _watch_landing


def build_cdc_sensors(settings: Settings) -> list[SensorDefinition]:
    """One sensor per stream of the registry, and the landing-folder sensor."""
    return [
        *(
            build_stream_sensor(stream, job, settings.stream_poll_seconds)
            for stream, job in STREAM_CONSUMERS
        ),
        build_landing_sensor(
            landing_arrivals_job, settings.landing_poll_seconds, settings.landing_settle_seconds
        ),
    ]
