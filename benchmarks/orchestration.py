"""Section `orchestration`: the whole asset graph materialized through Dagster, against the
bare sequence (the same loaders called directly, then `dbt build`), on identical fresh data.

Both run in child processes (see pipeline.py for what each does and why); the figure is
the ratio of their materialization wall times at the default scale (target 1.5 or less),
and it should fall as the scale grows: the second figure is the ratio at the largest
scale measured over the ratio at the smallest (target below 1).
"""

from __future__ import annotations

from benchmarks.pipeline import PipelineRuns, measured_scales
from benchmarks.sections import (
    DEFAULT_SCALE,
    SCALE_HEADERS,
    BenchConfig,
    Figure,
    SectionResult,
    Target,
    median,
    scale_cells,
    versions,
)

NAME = "orchestration"
TARGET = Target("<=", 1.5, "default scale 1")
TREND_TARGET = Target("<", 1.0, "falling as the scale grows")


def ratio(measured: PipelineRuns) -> float:
    return measured.median_seconds("platform") / measured.median_seconds("bare")


def run(config: BenchConfig) -> SectionResult:
    scales = measured_scales(config)
    measured = scales.runs
    default = min(measured, key=lambda m: abs(m.scale - DEFAULT_SCALE))
    figures = [
        Figure(
            name="Orchestration: Dagster whole-graph time ÷ bare loaders + dbt build time",
            value=round(ratio(default), 3),
            unit="",
            inputs=default.inputs,
            runs=default.repeats,
            target=TARGET,
            judged=config.mode.judged,
        ),
        Figure(
            name=(
                f"Orchestration ratio at scale {measured[-1].scale:g} ÷ at scale "
                f"{measured[0].scale:g}"
            ),
            value=round(ratio(measured[-1]) / ratio(measured[0]), 3),
            unit="",
            inputs={"scales": [m.scale for m in measured]},
            runs=min(m.repeats for m in measured),
            target=TREND_TARGET,
            judged=config.mode.judged,
        ),
    ]
    per_scale = [
        {
            "inputs": m.inputs,
            "runs": m.repeats,
            "platform_seconds": round(m.median_seconds("platform"), 3),
            "bare_seconds": round(m.median_seconds("bare"), 3),
            "ratio": round(ratio(m), 3),
            "platform_steps": m.median_steps("platform"),
            "bare_steps": m.median_steps("bare"),
            "platform_definitions_seconds": round(
                median([run.report["definitions_seconds"] for run in m.runs["platform"]]), 3
            ),
            "bronze_rows": {kind: m.runs[kind][0].report["bronze_rows"] for kind in m.runs},
            "silver_gold_rows": {
                kind: m.runs[kind][0].report["silver_gold_rows"] for kind in m.runs
            },
        }
        for m in measured
    ]
    summary = {
        "versions": versions(),
        "default_scale": default.scale,
        "ratio": round(ratio(default), 3),
        "trend": figures[1].value,
        "scales": per_scale,
        "scales_left_out": scales.left_out,
    }
    result = SectionResult(
        name=NAME,
        summary=summary,
        headers=[
            *SCALE_HEADERS,
            "Dagster s",
            "bare s",
            "ratio",
            "Bronze / Silver+Gold rows",
        ],
        figures=figures,
    )
    for entry in per_scale:
        rows = entry["silver_gold_rows"]
        result.rows.append(
            [
                *scale_cells(entry),
                f"{entry['platform_seconds']:.1f}",
                f"{entry['bare_seconds']:.1f}",
                f"**{entry['ratio']:.2f}**",
                f"{entry['bronze_rows']['platform']:,} / {rows['platform']:,} "
                f"(bare: {entry['bronze_rows']['bare']:,} / {rows['bare']:,})",
            ]
        )
    steps = per_scale[measured.index(default)]
    slowest = sorted(steps["platform_steps"].items(), key=lambda item: -item[1])[:5]
    result.notes = [
        "Medians of the runs at each scale (table), alternating which goes first. Dagster: "
        "`execute_in_process` of job medallion_full_build (every asset and check: Bronze, "
        "routing, three dbt steps, data metric checks, PII isolation check, governance); bare: "
        "the loaders and routing called directly, then one `dbt build` subprocess.",
        f"Ratio {figures[0].value:.2f} at scale {default.scale:g} (target {TARGET}: "
        f"{figures[0].verdict()}); ratio at the largest scale / at the smallest = "
        f"{figures[1].value:.2f} (target {TREND_TARGET}: {figures[1].verdict()}).",
        f"Slowest Dagster steps at scale {default.scale:g} (median s): "
        + ", ".join(f"{key} {seconds:.1f}" for key, seconds in slowest)
        + f"; bare: {steps['bare_steps']}.",
        *scales.left_out,
    ]
    return result
