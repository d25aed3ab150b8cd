"""Section `scaling`: the full pipeline (job medallion_full_build through Dagster, as in
section `orchestration`, whose runs it shares) at growing scales: wall time and peak memory
of the process tree, and how time grows against the data between consecutive scales
(target: no faster than the data, i.e. time ratio <= rows ratio).
"""

from __future__ import annotations

from benchmarks.pipeline import measured_scales
from benchmarks.sections import (
    SCALE_HEADERS,
    BenchConfig,
    Figure,
    SectionResult,
    Target,
    scale_cells,
    versions,
)

NAME = "scaling"


def run(config: BenchConfig) -> SectionResult:
    scales = measured_scales(config)
    measured = scales.runs
    per_scale = [
        {
            "inputs": m.inputs,
            "runs": m.repeats,
            "seconds": round(m.median_seconds("platform"), 3),
            "peak_mib": round(m.median_peak_mib("platform"), 1),
            "bare_seconds": round(m.median_seconds("bare"), 3),
            "bare_peak_mib": round(m.median_peak_mib("bare"), 1),
        }
        for m in measured
    ]
    figures = []
    steps = []
    for smaller, larger in zip(per_scale, per_scale[1:], strict=False):
        rows_ratio = larger["inputs"]["rows"] / smaller["inputs"]["rows"]
        time_ratio = larger["seconds"] / smaller["seconds"]
        memory_ratio = larger["peak_mib"] / smaller["peak_mib"]
        label = f"{larger['inputs']['scale']:g}/{smaller['inputs']['scale']:g}"
        steps.append(
            {
                "scales": label,
                "rows_ratio": round(rows_ratio, 3),
                "time_ratio": round(time_ratio, 3),
                "memory_ratio": round(memory_ratio, 3),
            }
        )
        figures.append(
            Figure(
                name=f"Scaling: time({label}) (rows grow {rows_ratio:.2f}×)",
                value=round(time_ratio, 3),
                unit="",
                inputs={"scales": label, "rows_ratio": round(rows_ratio, 3)},
                runs=min(smaller["runs"], larger["runs"]),
                target=Target("<=", round(rows_ratio, 3), "no faster than the data"),
                judged=config.mode.judged,
            )
        )
    summary = {
        "versions": versions(),
        "scales": per_scale,
        "steps": steps,
        "scales_left_out": scales.left_out,
    }
    result = SectionResult(
        name=NAME,
        summary=summary,
        headers=[
            *SCALE_HEADERS,
            "Dagster s",
            "Dagster peak MiB",
            "bare s",
            "bare peak MiB",
        ],
        figures=figures,
    )
    for entry in per_scale:
        result.rows.append(
            [
                *scale_cells(entry),
                f"{entry['seconds']:.1f}",
                f"{entry['peak_mib']:.0f}",
                f"{entry['bare_seconds']:.1f}",
                f"{entry['bare_peak_mib']:.0f}",
            ]
        )
    result.notes = [
        "Medians of the runs at each scale (table). Peak memory: the larger of the process tree's "
        "summed resident set (sampled every 50 ms: the Dagster process, which runs dbt in its "
        "own process, or the bare sequence and its `dbt` process) and the largest single "
        "process's kernel high-water mark.",
        *(
            f"time({step['scales']}) = **{step['time_ratio']:.2f}** for {step['rows_ratio']:.2f}× "
            f"the rows (memory {step['memory_ratio']:.2f}×)"
            for step in steps
        ),
        *scales.left_out,
    ]
    return result
