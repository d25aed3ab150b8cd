"""Section `stream_latency`: from a file dropped in the landing folder to its rows in the
routed tables (SECURE.FAN_PII_VAULT, STG.GUEST_FANS), with the real `dagster-daemon`
running against a fresh instance configured as `make dev`'s.

Days of generated fan interactions are dropped one at a time (written under a hidden name,
then renamed, as a feed delivers). The landing sensor sees each file once it has settled
and launches `landing_arrivals` (the Bronze loads, then the routing); the time is taken when
that run has finished and the warehouse holds the file's rows in the routed tables. The
first file also waits for the daemon to start and load the code location: it is reported
apart, not in the median. The issue sets no target for this figure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from benchmarks.processes import start_daemon, stop_process_group
from benchmarks.sections import BenchConfig, Figure, SectionResult, median, versions
from sony_de_platform.bronze.feeds import FAN_INTERACTIONS, LEDGER_TABLE, RAW_SCHEMA
from sony_de_platform.cdc.routing import GUESTS, VAULT
from sony_de_platform.cdc.sensors import LANDING_ARRIVALS
from sony_de_platform.demo import DEV_INSTANCE_CONFIG, generated_landing_data
from sony_de_platform.settings import load_settings

NAME = "stream_latency"
POLL_SECONDS = 5  # landing and stream sensors (the platform's default is 30)
SETTLE_SECONDS = 1.0  # a landing file must be this old (default 5)
DEADLINE_SECONDS = 300.0  # per file: daemon start, code location load, a tick, one run
_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]


def _routed(warehouse: Path, sha256: str) -> bool:
    """The file is in the ledger and rows it loaded are in the routed tables."""
    try:
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            loaded = connection.execute(
                f"SELECT first_ingest_seq FROM {RAW_SCHEMA}.{LEDGER_TABLE} WHERE file_sha256 = ?",
                [sha256],
            ).fetchone()
            if loaded is None or loaded[0] is None:
                return False
            newest = connection.execute(
                f"SELECT max(seq) FROM (SELECT max(source_ingest_seq) AS seq FROM {VAULT} "
                f"UNION ALL SELECT max(source_ingest_seq) FROM {GUESTS})"
            ).fetchone()[0]
    except (duckdb.IOException, duckdb.CatalogException):
        return False  # not created yet, or being written
    return newest is not None and newest >= loaded[0]


def _drop(source: Path, landing: Path) -> float:
    """Deliver a file as a feed does (hidden while written, then renamed); when it landed."""
    target = landing / FAN_INTERACTIONS.folder / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return time.time()


def _wait_for_routing(
    instance: DagsterInstance, warehouse: Path, sha256: str, dropped: float, daemon
) -> dict[str, float]:
    """Poll the instance for finished landing_arrivals runs since the drop; the first whose
    end leaves the file routed gives the latency and its parts."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    seen: set[str] = set()
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon stopped (exit {daemon.returncode})")
        records = instance.get_run_records(
            RunsFilter(
                job_name=LANDING_ARRIVALS,
                statuses=_FINISHED,
                created_after=datetime.fromtimestamp(dropped, UTC),
            )
        )
        for record in sorted(records, key=lambda r: r.create_timestamp):
            if record.dagster_run.run_id in seen:
                continue
            seen.add(record.dagster_run.run_id)
            if record.dagster_run.status is DagsterRunStatus.FAILURE:
                raise RuntimeError(f"run {record.dagster_run.run_id} of {LANDING_ARRIVALS} failed")
            if _routed(warehouse, sha256):
                created = record.create_timestamp.timestamp()
                return {
                    "latency_seconds": round(record.end_time - dropped, 3),
                    "until_run_created": round(created - dropped, 3),
                    "run_launch": round(record.start_time - created, 3),
                    "run": round(record.end_time - record.start_time, 3),
                }
        time.sleep(0.5)
    raise RuntimeError(f"no routing within {DEADLINE_SECONDS:.0f}s of the drop")


def run(config: BenchConfig) -> SectionResult:
    work = config.work_dir(NAME)
    if work.exists():
        shutil.rmtree(work)
    home = work / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(DEV_INSTANCE_CONFIG, home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SONY_DE_DATA_DIR": str(work / "data"),
        "SONY_DE_LANDING_POLL_SECONDS": str(POLL_SECONDS),
        "SONY_DE_STREAM_POLL_SECONDS": str(POLL_SECONDS),
        "SONY_DE_LANDING_SETTLE_SECONDS": str(SETTLE_SECONDS),
    }
    for name in ("SONY_DE_DUCKDB_PATH", "SONY_DE_LANDING_DIR"):
        env.pop(name, None)
    settings = load_settings(env)
    generated, manifest = generated_landing_data(config.settings, config.scale, config.seed)
    entries = sorted(
        (e for e in manifest["files"] if e["path"].startswith(f"{FAN_INTERACTIONS.folder}/")),
        key=lambda e: e["path"],
    )[: config.mode.stream_drops + 1]

    drops = []
    # The instance's storage is created here, before the daemon and its code server start:
    # two processes creating a fresh SQLite storage at once both stamp its schema version.
    with (
        DagsterInstance.from_config(str(home)) as instance,
        (work / "daemon.log").open("w") as log,
    ):
        daemon = start_daemon(env, log)
        try:
            for entry in entries:
                source = generated / entry["path"]
                sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
                dropped = _drop(source, settings.landing_dir)
                timing = _wait_for_routing(
                    instance, settings.warehouse_path, sha256, dropped, daemon
                )
                drops.append({"file": entry["path"], "lines": entry["lines"], **timing})
                print(f"  {entry['path']}: routed {timing['latency_seconds']:.1f}s after the drop")
        finally:
            stop_process_group(daemon)

    first, measured = drops[0], drops[1:]
    latency = median([d["latency_seconds"] for d in measured])
    inputs = {
        "scale": config.scale,
        "rows": round(median([d["lines"] for d in measured])),
        "files": len(measured),
        "poll_s": POLL_SECONDS,
        "settle_s": SETTLE_SECONDS,
    }
    figure = Figure(
        name="Stream latency: file dropped → its rows in the routed tables",
        value=round(latency, 3),
        unit="s",
        inputs=inputs,
        runs=len(measured),
        target=None,
        judged=config.mode.judged,
    )
    summary = {
        "inputs": inputs,
        "versions": versions(),
        "runs": len(measured),
        "latency_seconds": round(latency, 3),
        "first_file_with_daemon_start_seconds": first["latency_seconds"],
        "drops": drops,
    }
    result = SectionResult(
        name=NAME,
        summary=summary,
        headers=["file", "lines", "drop → run created s", "run launch s", "run s", "latency s"],
        figures=[figure],
    )
    for drop in drops:
        label = drop["file"] + (" (daemon starting)" if drop is first else "")
        result.rows.append(
            [
                label,
                f"{drop['lines']:,}",
                f"{drop['until_run_created']:.1f}",
                f"{drop['run_launch']:.1f}",
                f"{drop['run']:.1f}",
                f"{drop['latency_seconds']:.1f}",
            ]
        )
    result.notes = [
        f"Median latency **{latency:.1f} s** over {len(measured)} files (sensors polling every "
        f"{POLL_SECONDS} s, settle time {SETTLE_SECONDS:g} s; the platform's defaults are 30 s "
        "and 5 s). Drop → run created: the settle time and the sensor's tick; run launch: the "
        "queued run coordinator and a new run worker loading the code location; run: the "
        "Bronze loads and the routing. No target is set for this figure.",
    ]
    return result
