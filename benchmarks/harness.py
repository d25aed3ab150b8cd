"""A warehouse fed from generated landing files, with dbt run in this process.

What benchmark sections (and the tests of incremental models) build on: land chosen files,
load them into Bronze with the platform's own loader, run dbt against the warehouse, time
each step. dbt runs in-process on one parsed manifest, so a timing holds the work of the
run and not dbt's start-up and parse. Like the platform's dbt steps (transform/in_process.py)
an invocation writes its run_results.json and not the unchanged manifest, with the objects
alive before it frozen out of the garbage collector, and closes the warehouse when it ends
(timed: closing writes the run's last changes to the file).

What the harness copies to set a measurement up (landing files, a saved warehouse put back)
is flushed to disk before the measurement starts: the kernel writes a copy back in the
seconds after it, and a run timed in those seconds paid for the set-up's writes (a 440 MB
warehouse copy slowed the scale-10 incremental run by up to a tenth).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from dbt.cli.main import dbtRunner

from sony_de_platform.bronze.feeds import FEEDS
from sony_de_platform.bronze.loader import FileLoad, load_feed
from sony_de_platform.cdc.routing import route_fan_pii
from sony_de_platform.settings import DBT_PROJECT_DIR, Engine, dbt_profile_env, load_settings
from sony_de_platform.synthetic import MANIFEST_FILE
from sony_de_platform.transform.in_process import (
    RUN_RESULTS,
    long_lived_objects_frozen,
    release_adapter_connections,
    write_run_results,
)
from sony_de_platform.transform.project import scoped_environment
from sony_de_platform.warehouse import DuckDBWarehouse, Session, build_warehouse

MODELS_ONLY = ["--exclude", "resource_type:snapshot"]


@dataclass(frozen=True)
class DbtRun:
    """One dbt invocation: its wall time, invocation id and per-node results."""

    args: tuple[str, ...]
    seconds: float
    invocation_id: str
    node_seconds: dict[str, float]
    node_status: dict[str, str]
    node_message: dict[str, str]


def dbt_project_args(target_path: Path, log_path: Path) -> list[str]:
    """The project, its profile's DuckDB target, and where this invocation's artifacts go."""
    return [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        "local",
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
    ]


def _profile_env(warehouse_path: Path) -> AbstractContextManager[None]:
    """The variables profiles.yml reads, set for one dbt invocation and then restored."""
    return scoped_environment(dbt_profile_env(Engine.DUCKDB, warehouse_path))


class InProcessDbt:
    """The project parsed once; each invocation reuses the manifest."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.target_path = work_dir / "dbt_target"
        self.target_path.mkdir(parents=True, exist_ok=True)
        with _profile_env(work_dir / "parse" / "SONY_DE.duckdb"):
            parsed = dbtRunner().invoke(["parse", *self._common_args()])
        if not parsed.success:
            raise RuntimeError(f"dbt parse of {DBT_PROJECT_DIR} failed: {parsed.exception}")
        self.manifest = parsed.result
        self.manifest_json = json.loads((self.target_path / "manifest.json").read_text())

    def _common_args(self) -> list[str]:
        return [*dbt_project_args(self.target_path, self.work_dir / "dbt_logs"), "--quiet"]

    def invoke(self, warehouse_path: Path, args: Sequence[str]) -> DbtRun:
        """Run `dbt <args>` against the DuckDB file; raises with dbt's message on failure.

        With --vars the project is parsed again, as dbt does when vars change: the configs
        in dbt_project.yml are rendered at parse time, so the parsed manifest would not
        carry them."""
        results_path = self.target_path / RUN_RESULTS
        results_path.unlink(missing_ok=True)
        manifest = None if "--vars" in args else self.manifest
        with _profile_env(warehouse_path), long_lived_objects_frozen():
            started = time.monotonic()
            try:
                result = dbtRunner(manifest=manifest).invoke(
                    [*args, *self._common_args(), "--no-write-json"]
                )
            finally:
                # as a platform step does: the warehouse is closed (and its last writes
                # checkpointed) within the run, and the next run opens it again
                release_adapter_connections()
            ran = write_run_results(result.result, results_path)
            seconds = time.monotonic() - started
        if not ran:
            raise RuntimeError(f"dbt {' '.join(args)} failed: {result.exception}")
        run_results = json.loads(results_path.read_text())
        failed = [r for r in run_results["results"] if r["status"] in ("error", "fail")]
        if not result.success or failed:
            detail = "; ".join(f"{r['unique_id']}: {r.get('message')}" for r in failed)
            raise RuntimeError(f"dbt {' '.join(args)} failed: {detail or result.exception}")
        return DbtRun(
            args=tuple(args),
            seconds=seconds,
            invocation_id=run_results["metadata"]["invocation_id"],
            node_seconds={r["unique_id"]: r["execution_time"] for r in run_results["results"]},
            node_status={r["unique_id"]: r["status"] for r in run_results["results"]},
            node_message={r["unique_id"]: r.get("message") or "" for r in run_results["results"]},
        )


class ReplayedWarehouse:
    """A fresh warehouse and landing folder under `root`, fed from `generated` files."""

    def __init__(self, root: Path, generated: Path, dbt: InProcessDbt | None = None) -> None:
        if root.exists():
            shutil.rmtree(root)
        self.settings = load_settings({"SONY_DE_DATA_DIR": str(root)})
        self.generated = generated
        self.dbt_runner = dbt
        self.warehouse = build_warehouse(self.settings)
        assert isinstance(self.warehouse, DuckDBWarehouse)

    def land(self, paths: Iterable[Path]) -> int:
        """Copy generated files into the landing folder, as a feed would drop them."""
        count = 0
        for path in paths:
            target = self.settings.landing_dir / path.relative_to(self.generated)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += 1
        flush_copies()
        return count

    def land_all(self) -> int:
        """Land every generated file (the generator's manifest lists them)."""
        manifest = json.loads((self.generated / MANIFEST_FILE).read_text())
        return self.land(generated_files(self.generated, manifest))

    def load_feeds(self) -> dict[str, tuple[float, list[FileLoad]]]:
        """The platform's loader on every feed's new landing files: seconds and file loads
        per feed, each feed timed in its own session (as its Bronze asset opens one)."""
        loads = {}
        for feed in FEEDS:
            started = time.monotonic()
            with self.warehouse.session() as session:
                files = load_feed(session, feed, self.settings.landing_dir)
            loads[feed.name] = (time.monotonic() - started, files)
        return loads

    def load_bronze(self) -> float:
        """Load every new landing file into RAW and route the new fans' PII (the Bronze and
        routing assets' work, which dbt's Silver reads); seconds taken."""
        started = time.monotonic()
        self.load_feeds()
        with self.warehouse.session() as session:
            route_fan_pii(session)
        return time.monotonic() - started

    def dbt(self, *args: str) -> DbtRun:
        if self.dbt_runner is None:
            raise RuntimeError("this warehouse was replayed without an in-process dbt")
        return self.dbt_runner.invoke(self.settings.warehouse_path, list(args))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read-write session on the warehouse (dbt has released it after its run)."""
        with self.warehouse.session() as session:
            yield session

    def rows(self, relation: str) -> list[tuple]:
        """Every row of a relation, in a stable order, for comparing tables row by row."""
        with self.session() as session:
            return sorted(session.fetchall(f"SELECT * FROM {relation}"), key=repr)


def flush_copies() -> None:
    """Write what the set-up copied to disk now, not during the run measured next."""
    os.sync()


def copy_settled(source: Path, target: Path) -> None:
    """Copy a file (a saved warehouse) and flush it before anything is timed on it."""
    shutil.copy2(source, target)
    flush_copies()


def generated_files(generated: Path, manifest: dict) -> list[Path]:
    """The generator's files in its manifest's order."""
    return [generated / entry["path"] for entry in manifest["files"]]


def newest_interactions_file(files: Sequence[Path]) -> Path:
    """The last day of fan interactions: the one new landing file of an incremental run."""
    return max(path for path in files if path.parent.name == "fan_interactions")


def relation_of(node: dict) -> str:
    return f"{node['schema']}.{node['alias']}"


def models_in_run_order(manifest_json: dict, run: DbtRun) -> list[dict]:
    """The models `run` built, in the order dbt ran them (Silver before Gold)."""
    nodes = manifest_json["nodes"]
    return [nodes[uid] for uid in run.node_seconds if nodes[uid]["resource_type"] == "model"]


def count(session: Session, relation: str, where: str = "") -> int:
    return int(session.scalar(f"SELECT COUNT(*) FROM {relation} {where}") or 0)
