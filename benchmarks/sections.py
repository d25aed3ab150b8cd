"""What every benchmark section receives and returns: the run's mode and scale, and the
figures a section measured, each with its inputs, its target and whether it is met."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sony_de_platform.settings import Settings


@dataclass(frozen=True)
class Mode:
    """How much a run measures: its default scale, the scales of the scaling section, how
    many times each measurement is repeated (medians are reported; the whole pipeline is
    repeated `repeats` times at the default scale of `make demo`, DEFAULT_SCALE, and
    `other_scale_repeats` times at the other scales), whether figures are judged against
    their targets."""

    name: str
    scale: float
    scales: tuple[float, ...]
    repeats: int
    other_scale_repeats: int
    judged: bool
    stream_drops: int
    description: str


DEFAULT_SCALE = 1.0  # `make demo`'s; the orchestration target is stated for it


MODES: dict[str, Mode] = {
    mode.name: mode
    for mode in (
        Mode(
            "smoke",
            scale=0.02,
            scales=(0.01, 0.02),
            repeats=1,
            other_scale_repeats=1,
            judged=False,
            stream_drops=1,
            description="tiny scale, one run each: proves the benchmark code works (CI)",
        ),
        Mode(
            "quick",
            # the sections at the scale their targets are stated for (ingest, incremental);
            # the whole pipeline at make demo's scale and ten times it, so that the trend is
            # judged as the scale grows from the default (from a tenth of it, where fixed
            # costs are most of both runs, the ratio measured 0.995 to 1.091)
            scale=10.0,
            scales=(1.0, 10.0),
            repeats=3,
            other_scale_repeats=1,
            judged=True,
            stream_drops=2,
            description=(
                "the sections at scale 10, the pipeline 3 times at scale 1 and once at 10: "
                "under 10 minutes on 2 cores"
            ),
        ),
        Mode(
            "full",
            scale=10.0,
            scales=(1.0, 10.0, 30.0, 100.0),
            # five runs where a run is short (the sections, the pipeline at scale 1), so that
            # one disturbed run on a shared machine moves no median; three at 10, 30 and 100
            repeats=5,
            other_scale_repeats=3,
            judged=True,
            stream_drops=5,
            description=(
                "the issue's scales: 10, scaling at 1/10/30/100 (100 if it fits in 24 GB), "
                "5 runs of the sections and of the pipeline at 1, 3 at 10/30/100 (~50 minutes)"
            ),
        ),
    )
}


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run: where to work, at which scale, in which mode."""

    settings: Settings
    scale: float
    seed: int
    mode: Mode
    scales: tuple[float, ...] = ()

    @property
    def repeats(self) -> int:
        return self.mode.repeats

    @property
    def scaling_scales(self) -> tuple[float, ...]:
        return self.scales or self.mode.scales

    def work_dir(self, section: str) -> Path:
        return self.settings.data_dir / "bench" / section


@cache
def versions() -> dict[str, str]:
    """The versions every figure is measured with."""
    import platform

    return {
        "python": platform.python_version(),
        "duckdb": version("duckdb"),
        "dbt-core": version("dbt-core"),
        "dbt-duckdb": version("dbt-duckdb"),
        "dagster": version("dagster"),
        "dagster-dbt": version("dagster-dbt"),
    }


def landing_inputs(scale: float, manifest: dict) -> dict[str, Any]:
    """What a figure was measured on: the scale, and the generated landing files' lines."""
    return {
        "scale": scale,
        "rows": sum(int(entry["lines"]) for entry in manifest["files"]),
        "files": len(manifest["files"]),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class Target:
    """A bound a figure should stay within: `value <op> bound` (op `>=` or `<=`)."""

    op: str
    bound: float
    stated_for: str = ""  # the conditions the issue states it for, e.g. "scale 10"

    def met_by(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def __str__(self) -> str:
        text = f"{self.op} {self.bound:g}"
        return f"{text} ({self.stated_for})" if self.stated_for else text


@dataclass(frozen=True)
class Figure:
    """One measured figure (a median over `runs` runs) and the target it is judged by."""

    name: str
    value: float
    unit: str
    inputs: dict[str, Any]
    runs: int
    target: Target | None
    judged: bool

    @property
    def met(self) -> bool | None:
        """True/False against the target; None when there is none or it is not judged."""
        if self.target is None or not self.judged:
            return None
        return self.target.met_by(self.value)

    def verdict(self) -> str:
        if self.target is None:
            return "no target"
        if not self.judged:
            return "not judged (smoke)"
        return "met" if self.met else "**missed**"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "inputs": self.inputs,
            "runs": self.runs,
            "target": str(self.target) if self.target else None,
            "met": self.met,
            "judged": self.judged,
        }

    def as_row(self) -> list[str]:
        inputs = ", ".join(f"{key} {_cell(value)}" for key, value in self.inputs.items())
        value = f"{_cell(self.value)} {self.unit}".strip()
        return [self.name, value, inputs, str(self.runs), str(self.target or "-"), self.verdict()]


FIGURE_HEADERS = ["figure", "median", "inputs", "runs", "target", "verdict"]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


SCALE_HEADERS = ["scale", "rows", "files", "runs"]


def scale_cells(entry: dict[str, Any]) -> list[Any]:
    """The SCALE_HEADERS cells of a per-scale entry (its inputs and its number of runs)."""
    inputs = entry["inputs"]
    return [f"{inputs['scale']:g}", f"{inputs['rows']:,}", inputs["files"], entry["runs"]]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


@dataclass
class SectionResult:
    """A section's figures: `summary` goes to the JSON file, `table` is printed."""

    name: str
    summary: dict[str, Any]
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    def as_markdown(self) -> str:
        lines = [f"## {self.name}", "", *markdown_table(self.headers, self.rows)]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines)
