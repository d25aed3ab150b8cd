"""The whole pipeline on fresh data, run in a child process two ways, for sections
`orchestration` and `scaling`:

- `platform`: the definitions are loaded and job `medallion_full_build` (every asset and
  check) is executed with `execute_in_process` on a persistent instance configured as
  `make dev` and `make demo` configure theirs. That is what `make demo` and the daily
  schedule run, without the daemon's queueing and run-worker start-up (those belong to
  start-up and stream latency, measured apart), so the figure is Dagster's cost of running
  the graph itself.
- `bare`: what a user runs by hand on the same files: the same loaders and routing called
  directly, then one `dbt build` subprocess on the same project, in a fresh target path
  given the project's partial-parse state, as Dagster's dbt steps get theirs.

    python -m benchmarks.pipeline {platform,bare} ROOT GENERATED

ROOT is wiped and receives the landing files of GENERATED; the child prints its timings as
one JSON line. The parent (`pipeline_runs`) times the whole child and takes its peak memory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness import ReplayedWarehouse, dbt_project_args
from benchmarks.processes import ChildRun, run_child
from benchmarks.sections import DEFAULT_SCALE, BenchConfig, landing_inputs, median
from sony_de_platform.bronze.feeds import RAW_SCHEMA
from sony_de_platform.demo import DEV_INSTANCE_CONFIG, generated_landing_data
from sony_de_platform.settings import Engine, dbt_profile_env
from sony_de_platform.transform.project import PARSE_STATE, dbt_executable, replace_atomically

KINDS = ("platform", "bare")
MEMORY_BUDGET_BYTES = 24 * 2**30  # the machines the platform is sized for: 2 cores, 24 GB
SILVER_GOLD_SCHEMAS = ("DIMS", "FACTS", "STUDIO_OPS", "MARKETING")
_QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _rows(warehouse: ReplayedWarehouse) -> dict[str, int]:
    """Rows of Bronze, and of the Silver and Gold tables: both ways must build the same."""
    counts = {"bronze_rows": 0, "silver_gold_rows": 0}
    with warehouse.session() as session:
        tables = session.fetchall(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND upper(table_schema) IN (?, ?, ?, ?, ?)",
            [RAW_SCHEMA, *SILVER_GOLD_SCHEMAS],
        )
        for schema, table in tables:
            if schema.upper() == RAW_SCHEMA and not table.upper().startswith("RAW_"):
                continue  # the ledger, the quarantine and the change logs are not data rows
            key = "bronze_rows" if schema.upper() == RAW_SCHEMA else "silver_gold_rows"
            counts[key] += int(session.scalar(f'SELECT COUNT(*) FROM "{schema}"."{table}"'))
    return counts


def _kept_state(root: Path) -> Path:
    """Where the last partial-parse state dbt wrote for this pipeline root is kept. A
    deployment keeps its own (its profile holds its warehouse path): without this, a run at
    another scale in between made the next one parse the whole project, on either side."""
    return root.with_name(f"{root.name}.{PARSE_STATE}")


def _run_platform(warehouse: ReplayedWarehouse, root: Path) -> dict[str, Any]:
    from dagster import DagsterEventType, DagsterInstance

    project_state = warehouse.settings.dbt_target_path / PARSE_STATE
    replace_atomically(_kept_state(root), project_state)  # the state the dbt steps start from
    started = time.monotonic()
    from sony_de_platform.definitions import defs  # builds them from this process's settings
    from sony_de_platform.jobs import MEDALLION_FULL_BUILD

    job = defs.resolve_job_def(MEDALLION_FULL_BUILD)
    definitions_seconds = time.monotonic() - started
    home = warehouse.settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEV_INSTANCE_CONFIG, home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        started = time.monotonic()
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=_QUIET_CONSOLE
        )
        seconds = time.monotonic() - started
        if not result.success:
            raise SystemExit(f"run {result.run_id} of {MEDALLION_FULL_BUILD} failed")
        step_started: dict[str, float] = {}
        steps: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type is DagsterEventType.STEP_START:
                step_started[event.step_key] = entry.timestamp
            elif event.event_type is DagsterEventType.STEP_SUCCESS:
                steps[event.step_key] = round(entry.timestamp - step_started[event.step_key], 3)
    replace_atomically(project_state, _kept_state(root))
    return {
        "definitions_seconds": round(definitions_seconds, 3),
        "materialize_seconds": round(seconds, 3),
        "steps": steps,
    }


def _run_bare(warehouse: ReplayedWarehouse, root: Path) -> dict[str, Any]:
    target = root / "dbt_target"
    target.mkdir(parents=True, exist_ok=True)
    # A hand-run project keeps its partial-parse state between builds, as the platform's
    # dbt steps keep theirs (keep_partial_parse): the previous bare build's, else the
    # project's. dbt parses the whole project when the state's profile differs.
    kept = _kept_state(root)
    replace_atomically(
        kept if kept.exists() else warehouse.settings.dbt_target_path / PARSE_STATE,
        target / PARSE_STATE,
    )
    started = time.monotonic()
    bronze_seconds = warehouse.load_bronze()
    dbt_started = time.monotonic()
    completed = subprocess.run(
        [dbt_executable(), "build", *dbt_project_args(target, root / "dbt_logs")],
        env={**os.environ, **dbt_profile_env(Engine.DUCKDB, warehouse.settings.warehouse_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    finished = time.monotonic()
    if completed.returncode != 0:
        raise SystemExit(f"dbt build failed:\n{completed.stdout[-4000:]}")
    replace_atomically(target / PARSE_STATE, kept)
    return {
        "materialize_seconds": round(finished - started, 3),
        "steps": {
            "bronze loads + routing": round(bronze_seconds, 3),
            "dbt build": round(finished - dbt_started, 3),
        },
    }


def child_main(argv: list[str]) -> int:
    kind, root, generated = argv[0], Path(argv[1]), Path(argv[2])
    warehouse = ReplayedWarehouse(root, generated)
    landed = warehouse.land_all()
    report = _run_platform(warehouse, root) if kind == "platform" else _run_bare(warehouse, root)
    print(json.dumps({"kind": kind, "files": landed, **report, **_rows(warehouse)}))
    return 0


@dataclass(frozen=True)
class PipelineRun:
    kind: str
    scale: float
    child: ChildRun
    report: dict[str, Any]

    @property
    def seconds(self) -> float:
        """The materialization's wall time (the child's start-up and landing excluded)."""
        return float(self.report["materialize_seconds"])


@dataclass(frozen=True)
class PipelineRuns:
    scale: float
    inputs: dict[str, Any]
    runs: dict[str, list[PipelineRun]]

    def median_seconds(self, kind: str) -> float:
        return median([run.seconds for run in self.runs[kind]])

    def median_peak_mib(self, kind: str) -> float:
        return median([run.child.peak_bytes / 2**20 for run in self.runs[kind]])

    def median_steps(self, kind: str) -> dict[str, float]:
        keys = self.runs[kind][0].report["steps"]
        return {key: median([run.report["steps"][key] for run in self.runs[kind]]) for key in keys}

    @property
    def repeats(self) -> int:
        return min(len(runs) for runs in self.runs.values())

    @property
    def peak_bytes(self) -> float:
        """The larger of the two ways' median peaks."""
        return max(self.median_peak_mib(kind) for kind in KINDS) * 2**20


_MEASURED: dict[tuple[Path, float, int, str], PipelineRuns] = {}


def _root(config: BenchConfig, kind: str, scale: float) -> Path:
    return config.work_dir("pipelines") / f"{kind}-scale-{scale:g}"


def pipeline_runs(config: BenchConfig, scale: float) -> PipelineRuns:
    """Both ways at `scale`, alternating which goes first, the mode's number of times (more
    at DEFAULT_SCALE). Measured once per process: `orchestration` and `scaling` share them."""
    key = (config.settings.data_dir, scale, config.seed, config.mode.name)
    if key in _MEASURED:
        return _MEASURED[key]
    mode = config.mode
    repeats = mode.repeats if scale == DEFAULT_SCALE else mode.other_scale_repeats
    generated, manifest = generated_landing_data(config.settings, scale, config.seed)
    runs: dict[str, list[PipelineRun]] = {kind: [] for kind in KINDS}
    for repeat in range(repeats):
        for kind in KINDS if repeat % 2 == 0 else KINDS[::-1]:
            root = _root(config, kind, scale)
            env = {
                **os.environ,
                "SONY_DE_DATA_DIR": str(root),
                "DAGSTER_HOME": str(root / "dagster_home"),
                "SONY_DE_LANDING_SETTLE_SECONDS": "0",
            }
            env.pop("SONY_DE_DUCKDB_PATH", None)
            env.pop("SONY_DE_LANDING_DIR", None)
            argv = [sys.executable, "-m", "benchmarks.pipeline", kind, str(root), str(generated)]
            child = run_child(argv, env)
            report = json.loads(child.stdout.strip().splitlines()[-1])
            runs[kind].append(PipelineRun(kind, scale, child, report))
            print(
                f"  {kind} pipeline, scale {scale:g}, run {repeat + 1}/{repeats}: "
                f"{report['materialize_seconds']:.1f}s, peak {child.peak_bytes / 2**20:.0f} MiB",
                flush=True,
            )
    for kind in KINDS:  # a root holds a copy of the landing files and the warehouse
        shutil.rmtree(_root(config, kind, scale), ignore_errors=True)
    _MEASURED[key] = PipelineRuns(scale, landing_inputs(scale, manifest), runs)
    return _MEASURED[key]


def memory_budget_bytes() -> int:
    """24 GB, or the machine's memory where it has less."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return min(MEMORY_BUDGET_BYTES, physical)


def projected_peak_bytes(measured: Sequence[PipelineRuns], scale: float) -> float | None:
    """Peak memory at `scale`, extrapolated along the line through the two largest scales
    measured (peak against scale: rows grow with the scale); None with fewer than two."""
    if len(measured) < 2:
        return None
    smaller, larger = sorted(measured, key=lambda m: m.scale)[-2:]
    slope = (larger.peak_bytes - smaller.peak_bytes) / (larger.scale - smaller.scale)
    return larger.peak_bytes + max(slope, 0.0) * (scale - larger.scale)


def too_large_for(
    budget_bytes: float, measured: Sequence[PipelineRuns], scale: float
) -> str | None:
    """Why `scale` is not run (its projected peak exceeds the budget), or None if it fits."""
    projected = projected_peak_bytes(measured, scale)
    if projected is None or projected <= budget_bytes:
        return None
    smaller, larger = sorted(measured, key=lambda m: m.scale)[-2:]
    return (
        f"scale {scale:g} not run: its peak memory, projected from scales {smaller.scale:g} "
        f"and {larger.scale:g}, is {projected / 2**30:.1f} GiB, over the budget of "
        f"{budget_bytes / 2**30:.1f} GiB"
    )


@dataclass
class MeasuredScales:
    """The pipeline runs at each scale of the mode that fits in memory, smallest first, and
    why a larger one was left out."""

    runs: list[PipelineRuns] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def measured_scales(config: BenchConfig) -> MeasuredScales:
    """`pipeline_runs` at each scale of `config`, smallest first. A scale whose peak memory,
    projected from the scales measured before it, would exceed the budget (24 GB, or the
    machine's memory) is not run, nor any larger one: the full mode's scale 100 is measured
    only where it fits. The runs are measured once per process (`pipeline_runs`), so a
    second section asking gets the same runs and the same decision."""
    budget = memory_budget_bytes()
    measured = MeasuredScales()
    for scale in sorted(config.scaling_scales):
        reason = too_large_for(budget, measured.runs, scale)
        if reason is not None:
            measured.left_out.append(reason)
            break
        measured.runs.append(pipeline_runs(config, scale))
    return measured


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1:]))
