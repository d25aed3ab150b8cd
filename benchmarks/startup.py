"""Section `startup`: the time to load the code location (import the definitions module,
build its repository and the snapshot of it a code server hands the webserver and the
daemon), against a bare `import dagster`, each in a fresh interpreter (target: under 3 s
beyond it).

The dbt manifest is current (the first load after a project change parses the project
first; that load is reported apart, not in the median).
"""

from __future__ import annotations

import os
import sys

from benchmarks.processes import run_child
from benchmarks.sections import BenchConfig, Figure, SectionResult, Target, median, versions

NAME = "startup"
TARGET = Target("<", 3.0, "seconds beyond a bare import dagster")

# Each probe prints its own timings: interpreter start-up is the same for both and left out.
BARE = "import time; t = time.perf_counter(); import dagster; print(time.perf_counter() - t)"
LOCATION = (
    "import time; t = time.perf_counter(); import dagster; d = time.perf_counter(); "
    "from sony_de_platform.definitions import defs; "
    "from dagster._core.remote_representation.external_data import RepositorySnap; "
    "repository = defs.get_repository_def(); RepositorySnap.from_def(repository); "
    "print(time.perf_counter() - t, d - t, len(repository.assets_defs_by_key))"
)


def _probe(code: str, config: BenchConfig) -> list[float]:
    env = {**os.environ, "SONY_DE_DATA_DIR": str(config.work_dir(NAME))}
    child = run_child([sys.executable, "-c", code], env)
    return [float(value) for value in child.stdout.split()]


def run(config: BenchConfig) -> SectionResult:
    first = _probe(LOCATION, config)  # parses the dbt project if its manifest is stale
    bare, location, dagster_import = [], [], []
    for _ in range(config.repeats):
        bare.append(_probe(BARE, config)[0])
        seconds, imported, _assets = _probe(LOCATION, config)
        location.append(seconds)
        dagster_import.append(imported)
    bare_seconds, location_seconds = median(bare), median(location)
    beyond = location_seconds - bare_seconds
    figure = Figure(
        name="Start-up: code location load − bare `import dagster`",
        value=round(beyond, 3),
        unit="s",
        inputs={"assets": int(first[2])},
        runs=config.repeats,
        target=TARGET,
        judged=config.mode.judged,
    )
    summary = {
        "versions": versions(),
        "runs": config.repeats,
        "assets": int(first[2]),
        "import_dagster_seconds": round(bare_seconds, 3),
        "code_location_seconds": round(location_seconds, 3),
        "beyond_import_dagster_seconds": round(beyond, 3),
        "first_load_seconds": round(first[0], 3),
    }
    result = SectionResult(
        name=NAME,
        summary=summary,
        headers=["load", "median s"],
        rows=[
            ["bare `import dagster`", f"{bare_seconds:.2f}"],
            [
                "code location (import dagster, definitions, snapshot for the webserver)",
                f"{location_seconds:.2f}",
            ],
            ["**beyond `import dagster`**", f"**{beyond:.2f}**"],
            ["first load of this run (dbt parse if the manifest was stale)", f"{first[0]:.2f}"],
        ],
        figures=[figure],
    )
    result.notes = [
        f"Medians of {config.repeats} fresh interpreters each; {int(first[2])} assets. Target "
        f"{TARGET}: {figure.verdict()}.",
    ]
    return result
