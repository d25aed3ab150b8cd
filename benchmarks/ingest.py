"""Section `ingest`: the platform's Bronze loaders against DuckDB's own bulk load of the
same landing files, in rows per second, measured side by side in one run.

Each run lands every generated file in a fresh warehouse and loads it with the platform's
loader (`load_feed`, per feed: ledger, quarantine, one transaction per batch of files), then
loads the same landed files into a fresh DuckDB file with `CREATE TABLE ... AS SELECT * FROM
read_json / read_csv / read_parquet` (errors ignored, as the loader quarantines them). The
figure is the ratio of the two rates over all feeds (target: at least 0.7 at scale 10).
"""

from __future__ import annotations

import time

import duckdb

from benchmarks.harness import ReplayedWarehouse
from benchmarks.sections import (
    BenchConfig,
    Figure,
    SectionResult,
    Target,
    landing_inputs,
    median,
    versions,
)
from sony_de_platform.bronze.feeds import FEEDS, Feed, FileFormat
from sony_de_platform.demo import generated_landing_data

NAME = "ingest"
TARGET = Target(">=", 0.7, "scale 10")

_READERS = {
    FileFormat.JSONL: "read_json('{glob}', format = 'newline_delimited', ignore_errors = true)",
    FileFormat.CSV: "read_csv('{glob}', all_varchar = true, ignore_errors = true)",
    FileFormat.PARQUET: "read_parquet('{glob}', union_by_name = true)",
}


def duckdb_bulk_load(warehouse: ReplayedWarehouse, feed: Feed) -> tuple[float, int]:
    """DuckDB's own reader on the feed's landed files into a new table: seconds, rows."""
    path = warehouse.settings.data_dir / "bulk.duckdb"
    path.unlink(missing_ok=True)
    glob = (warehouse.settings.landing_dir / feed.folder / feed.pattern).as_posix()
    with duckdb.connect(str(path)) as connection:
        started = time.monotonic()
        connection.execute(
            f"CREATE TABLE {feed.table} AS SELECT * FROM {_READERS[feed.file_format]}".format(
                glob=glob.replace("'", "''")
            )
        )
        seconds = time.monotonic() - started
        rows = int(connection.execute(f"SELECT COUNT(*) FROM {feed.table}").fetchone()[0])
    path.unlink(missing_ok=True)
    return seconds, rows


def run(config: BenchConfig) -> SectionResult:
    generated, manifest = generated_landing_data(config.settings, config.scale, config.seed)
    inputs = landing_inputs(config.scale, manifest)
    platform: dict[str, list[tuple[float, int]]] = {feed.name: [] for feed in FEEDS}
    bulk: dict[str, list[tuple[float, int]]] = {feed.name: [] for feed in FEEDS}
    for repeat in range(config.repeats):
        warehouse = ReplayedWarehouse(config.work_dir(NAME) / "warehouse", generated)
        warehouse.land_all()
        # alternate which goes first, so neither always meets a warm page cache
        order = ("platform", "duckdb") if repeat % 2 == 0 else ("duckdb", "platform")
        for who in order:
            if who == "platform":
                for name, (seconds, loads) in warehouse.load_feeds().items():
                    platform[name].append((seconds, sum(load.lines_read for load in loads)))
            else:
                for feed in FEEDS:
                    bulk[feed.name].append(duckdb_bulk_load(warehouse, feed))

    per_feed = []
    for feed in FEEDS:
        entry = {
            "feed": feed.name,
            "format": feed.file_format.value,
            "platform_rows": platform[feed.name][0][1],
            "platform_seconds": round(median([s for s, _ in platform[feed.name]]), 4),
            "duckdb_rows": bulk[feed.name][0][1],
            "duckdb_seconds": round(median([s for s, _ in bulk[feed.name]]), 4),
        }
        per_feed.append(entry)
    platform_rows = sum(entry["platform_rows"] for entry in per_feed)
    duckdb_rows = sum(entry["duckdb_rows"] for entry in per_feed)
    # totals per run, then the median run (not a sum of per-feed medians)
    platform_seconds = median([sum(runs) for runs in zip(*_seconds(platform), strict=True)])
    duckdb_seconds = median([sum(runs) for runs in zip(*_seconds(bulk), strict=True)])
    platform_rate = platform_rows / platform_seconds
    duckdb_rate = duckdb_rows / duckdb_seconds
    ratio = platform_rate / duckdb_rate
    figure = Figure(
        name="Bronze ingest: platform rows/s ÷ DuckDB bulk-load rows/s",
        value=round(ratio, 3),
        unit="",
        inputs=inputs,
        runs=config.repeats,
        target=TARGET,
        judged=config.mode.judged,
    )
    summary = {
        "inputs": inputs,
        "versions": versions(),
        "runs": config.repeats,
        "platform_rows": platform_rows,
        "platform_seconds": round(platform_seconds, 4),
        "platform_rows_per_second": round(platform_rate, 1),
        "duckdb_rows": duckdb_rows,
        "duckdb_seconds": round(duckdb_seconds, 4),
        "duckdb_rows_per_second": round(duckdb_rate, 1),
        "ratio": round(ratio, 3),
        "feeds": per_feed,
    }
    result = SectionResult(
        name=NAME,
        summary=summary,
        headers=["feed", "rows", "platform s", "platform rows/s", "DuckDB s", "DuckDB rows/s"],
        figures=[figure],
    )
    for entry in per_feed:
        result.rows.append(
            [
                f"{entry['feed']} ({entry['format']})",
                f"{entry['platform_rows']:,}",
                f"{entry['platform_seconds']:.3f}",
                f"{entry['platform_rows'] / entry['platform_seconds']:,.0f}",
                f"{entry['duckdb_seconds']:.3f}",
                f"{entry['duckdb_rows'] / entry['duckdb_seconds']:,.0f}",
            ]
        )
    result.rows.append(
        [
            "**all feeds**",
            f"{platform_rows:,}",
            f"{platform_seconds:.3f}",
            f"{platform_rate:,.0f}",
            f"{duckdb_seconds:.3f}",
            f"{duckdb_rate:,.0f}",
        ]
    )
    result.notes = [
        f"Scale {config.scale:g}: {inputs['rows']:,} lines in {inputs['files']} files; medians "
        f"of {config.repeats} runs. Platform {platform_rate:,.0f} rows/s / DuckDB "
        f"{duckdb_rate:,.0f} rows/s = **{ratio:.3f}** (target {TARGET}: {figure.verdict()}).",
        "The platform's loader has DuckDB parse JSON Lines and Parquet files and Python "
        "decide only the records DuckDB does not find plainly good (so that each bad one is "
        "quarantined with its reason), reads CSV in Python, hashes each file for the ledger, "
        "parses each line twice (validity, then its fields), stages a batch of files before "
        "appending it (so that nothing of a file is written before its bad records are "
        "known) and keeps every field as text; DuckDB's reader does none of that.",
    ]
    return result


def _seconds(measured: dict[str, list[tuple[float, int]]]) -> list[list[float]]:
    return [[seconds for seconds, _ in runs] for runs in measured.values()]
