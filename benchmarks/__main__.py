"""`make bench`: run the benchmark sections, write their figures to a JSON file and print
them as markdown tables, ending with every figure, its target and whether it is met.

    python -m benchmarks [--smoke | --quick | --full] [--section NAME ...] [--scale S]
                         [--scales S S S] [--seed N] [--out FILE]

A section is a module of this package with NAME and run(BenchConfig) -> SectionResult,
listed in SECTIONS. Modes (see sections.MODES): --smoke runs every section at a tiny scale,
once, without judging the figures (CI: the benchmark code keeps working); --quick (the
default) fits in 10 minutes on 2 cores; --full uses the issue's scales.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import incremental, ingest, orchestration, scaling, startup, stream_latency
from benchmarks.sections import (
    FIGURE_HEADERS,
    MODES,
    BenchConfig,
    Figure,
    SectionResult,
    markdown_table,
    versions,
)
from sony_de_platform.cli import settings_or_exit

SECTIONS: dict[str, Callable[[BenchConfig], SectionResult]] = {
    startup.NAME: startup.run,
    ingest.NAME: ingest.run,
    orchestration.NAME: orchestration.run,
    scaling.NAME: scaling.run,
    incremental.NAME: incremental.run,
    stream_latency.NAME: stream_latency.run,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    modes = parser.add_mutually_exclusive_group()
    for mode in MODES.values():
        modes.add_argument(
            f"--{mode.name}",
            dest="mode",
            action="store_const",
            const=mode.name,
            help=f"{mode.description} (scale {mode.scale:g}, {mode.repeats} run(s) each)",
        )
    parser.set_defaults(mode="quick")
    parser.add_argument(
        "--section", action="append", choices=sorted(SECTIONS), help="default: every section"
    )
    parser.add_argument("--scale", type=float, help="the sections' scale (default: the mode's)")
    parser.add_argument(
        "--scales", type=float, nargs="+", help="scales of orchestration and scaling"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out", type=Path, help="JSON file (default: <data dir>/bench/results.json)"
    )
    return parser


def figures_table(figures: list[Figure]) -> str:
    return "\n".join(
        ["## figures", "", *markdown_table(FIGURE_HEADERS, [f.as_row() for f in figures])]
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings_or_exit("benchmarks")
    mode = MODES[args.mode]
    scale = args.scale or mode.scale
    config = BenchConfig(
        settings=settings, scale=scale, seed=args.seed, mode=mode, scales=tuple(args.scales or ())
    )
    out = args.out or settings.data_dir / "bench" / "results.json"
    print(
        f"benchmarks, {mode.name} mode ({mode.description}); scale {scale:g}, scaling at "
        f"{'/'.join(f'{s:g}' for s in config.scaling_scales)}; "
        + ", ".join(f"{name} {v}" for name, v in versions().items()),
        flush=True,
    )

    started_at = datetime.now(UTC)
    report: dict = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "mode": mode.name,
        "scale": scale,
        "scaling_scales": list(config.scaling_scales),
        "repeats": mode.repeats,
        "judged": mode.judged,
        "versions": versions(),
        "sections": {},
        "figures": [],
    }
    figures: list[Figure] = []
    for name in args.section or list(SECTIONS):
        started = time.monotonic()
        print(f"benchmark section {name} ...", flush=True)
        result = SECTIONS[name](config)
        report["sections"][name] = {
            **result.summary,
            "figures": [figure.as_json() for figure in result.figures],
            "section_seconds": round(time.monotonic() - started, 1),
        }
        figures += result.figures
        print(result.as_markdown() + "\n", flush=True)

    report["figures"] = [figure.as_json() for figure in figures]
    report["total_seconds"] = round((datetime.now(UTC) - started_at).total_seconds(), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(figures_table(figures) + "\n")
    print(f"{mode.name} mode, {report['total_seconds']:.0f} s in all; figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
