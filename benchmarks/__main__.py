"""`make bench`: run the benchmark sections, write their figures to a JSON file and print
them as markdown tables.

    python -m benchmarks [--quick] [--section NAME ...] [--scale S] [--out FILE]

A section is a module of this package with NAME and run(BenchConfig) -> SectionResult,
listed in SECTIONS. --quick runs every section at a tiny scale (for CI: it proves the
benchmark code still works, not how fast anything is).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import incremental
from benchmarks.sections import BenchConfig, SectionResult
from sony_de_platform.cli import settings_or_exit

SECTIONS: dict[str, Callable[[BenchConfig], SectionResult]] = {
    incremental.NAME: incremental.run,
}
FULL_SCALE = 10.0
QUICK_SCALE = 0.02


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"tiny scale ({QUICK_SCALE:g})")
    parser.add_argument(
        "--section", action="append", choices=sorted(SECTIONS), help="default: every section"
    )
    parser.add_argument("--scale", type=float, help=f"default {FULL_SCALE:g}")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out", type=Path, help="JSON file (default: <data dir>/bench/results.json)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings_or_exit("benchmarks")
    scale = args.scale or (QUICK_SCALE if args.quick else FULL_SCALE)
    config = BenchConfig(settings=settings, scale=scale, seed=args.seed, quick=args.quick)
    out = args.out or settings.data_dir / "bench" / "results.json"

    report: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": scale,
        "quick": args.quick,
        "sections": {},
    }
    for name in args.section or list(SECTIONS):
        started = time.monotonic()
        print(f"benchmark section {name} (scale {scale:g}) ...", flush=True)
        result = SECTIONS[name](config)
        report["sections"][name] = {
            **result.summary,
            "section_seconds": round(time.monotonic() - started, 1),
        }
        print(result.as_markdown() + "\n", flush=True)

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
