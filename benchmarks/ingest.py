"""Section `ingest`: the platform's Bronze loaders against DuckDB's own bulk load of the
same landing files, in rows per second, measured side by side in one run.

Each run lands every generated file in a fresh warehouse and loads it with the platform's
loader (`load_feed`, per feed: ledger, quarantine, one transaction per batch of files), then
loads the same landed files into a fresh DuckDB file with `CREATE TABLE ... AS SELECT * FROM
read_json / read_csv / read_parquet` (errors ignored, as the loader quarantines them). The
figure is the ratio of the two rates over all feeds (target: at least 0.7 at scale 10).

Beside it, not judged: DuckDB's load of the same files with every field read as text, the
shape of a RAW table. It tells what Bronze keeping text costs apart from what the loader's
guarantees cost.
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
    FileFormat.JSONL: "read_json('{glob}', format = 'newline_delimited', ignore_errors = true"
    "{options})",
    FileFormat.CSV: "read_csv('{glob}', all_varchar = true, ignore_errors = true{options})",
    FileFormat.PARQUET: "read_parquet('{glob}', union_by_name = true{options})",
}


def _select(feed: Feed, glob: str, as_text: bool) -> str:
    """The SELECT list and reader of DuckDB's load of the feed's files; `as_text`: every
    field as text, as a RAW table keeps it."""
    options = ""
    if as_text and feed.file_format is FileFormat.JSONL:  # CSV is read as text (all_varchar)
        options = ", columns = {" + ", ".join(f"'{n}': 'VARCHAR'" for n in feed.fields) + "}"
    reader = _READERS[feed.file_format].format(glob=glob.replace("'", "''"), options=options)
    if as_text and feed.file_format is FileFormat.PARQUET:
        return f"COLUMNS(*)::VARCHAR FROM {reader}"
    return f"* FROM {reader}"


def duckdb_bulk_load(
    warehouse: ReplayedWarehouse, feed: Feed, as_text: bool = False
) -> tuple[float, int]:
    """DuckDB's own reader on the feed's landed files into a new table: seconds, rows.
    With `as_text`, every field is read as text, as a RAW table keeps it."""
    path = warehouse.settings.data_dir / "bulk.duckdb"
    path.unlink(missing_ok=True)
    glob = (warehouse.settings.landing_dir / feed.folder / feed.pattern).as_posix()
    with duckdb.connect(str(path)) as connection:
        started = time.monotonic()
        connection.execute(f"CREATE TABLE {feed.table} AS SELECT {_select(feed, glob, as_text)}")
        seconds = time.monotonic() - started
        rows = int(connection.execute(f"SELECT COUNT(*) FROM {feed.table}").fetchone()[0])
    path.unlink(missing_ok=True)
    return seconds, rows


def run(config: BenchConfig) -> SectionResult:
    generated, manifest = generated_landing_data(config.settings, config.scale, config.seed)
    inputs = landing_inputs(config.scale, manifest)
    platform: dict[str, list[tuple[float, int]]] = {feed.name: [] for feed in FEEDS}
    bulk: dict[str, list[tuple[float, int]]] = {feed.name: [] for feed in FEEDS}
    text: dict[str, list[tuple[float, int]]] = {feed.name: [] for feed in FEEDS}
    for repeat in range(config.repeats):
        warehouse = ReplayedWarehouse(config.work_dir(NAME) / "warehouse", generated)
        warehouse.land_all()
        # rotate which goes first, so none always meets a warm page cache
        order = ("platform", "duckdb", "text")
        for who in order[repeat % 3 :] + order[: repeat % 3]:
            if who == "platform":
                for name, (seconds, loads) in warehouse.load_feeds().items():
                    platform[name].append((seconds, sum(load.lines_read for load in loads)))
            else:
                for feed in FEEDS:
                    measured = duckdb_bulk_load(warehouse, feed, as_text=who == "text")
                    (text if who == "text" else bulk)[feed.name].append(measured)

    per_feed = []
    for feed in FEEDS:
        entry = {
            "feed": feed.name,
            "format": feed.file_format.value,
            "platform_rows": platform[feed.name][0][1],
            "platform_seconds": round(median([s for s, _ in platform[feed.name]]), 4),
            "duckdb_rows": bulk[feed.name][0][1],
            "duckdb_seconds": round(median([s for s, _ in bulk[feed.name]]), 4),
            "duckdb_text_rows": text[feed.name][0][1],
            "duckdb_text_seconds": round(median([s for s, _ in text[feed.name]]), 4),
        }
        per_feed.append(entry)
    platform_rows = sum(entry["platform_rows"] for entry in per_feed)
    duckdb_rows = sum(entry["duckdb_rows"] for entry in per_feed)
    # totals per run, then the median run (not a sum of per-feed medians)
    platform_seconds = median([sum(runs) for runs in zip(*_seconds(platform), strict=True)])
    duckdb_seconds = median([sum(runs) for runs in zip(*_seconds(bulk), strict=True)])
    text_rows = sum(entry["duckdb_text_rows"] for entry in per_feed)
    text_seconds = median([sum(runs) for runs in zip(*_seconds(text), strict=True)])
    platform_rate = platform_rows / platform_seconds
    duckdb_rate = duckdb_rows / duckdb_seconds
    text_rate = text_rows / text_seconds
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
        "duckdb_text_rows": text_rows,
        "duckdb_text_seconds": round(text_seconds, 4),
        "duckdb_text_rows_per_second": round(text_rate, 1),
        "ratio_to_text_load": round(platform_rate / text_rate, 3),
        "feeds": per_feed,
    }
    result = SectionResult(
        name=NAME,
        summary=summary,
        headers=[
            "feed",
            "rows",
            "platform s",
            "platform rows/s",
            "DuckDB s",
            "DuckDB rows/s",
            "DuckDB as text s",
        ],
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
                f"{entry['duckdb_text_seconds']:.3f}",
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
            f"{text_seconds:.3f}",
        ]
    )
    result.notes = [
        f"Scale {config.scale:g}: {inputs['rows']:,} lines in {inputs['files']} files; medians "
        f"of {config.repeats} runs. Platform {platform_rate:,.0f} rows/s / DuckDB "
        f"{duckdb_rate:,.0f} rows/s = **{ratio:.3f}** (target {TARGET}: {figure.verdict()}).",
        "The platform's loader has DuckDB parse JSON Lines and Parquet files and Python "
        "decide only the records DuckDB does not find plainly good (so that each bad one is "
        "quarantined with its reason), reads CSV in Python, hashes each file for the ledger, "
        "parses each line twice (validity, then its fields), reads back the lines it did not "
        "append (so that each is loaded or quarantined in the same transaction), stages "
        "Parquet before appending it (so that an unreadable file is left to Python); DuckDB's "
        "reader does none of that.",
        f"Not judged: DuckDB loading the same files with every field as text, as RAW keeps "
        f"them, {text_rate:,.0f} rows/s; the platform's rate is "
        f"{platform_rate / text_rate:.3f} of it; DuckDB's load as text runs at "
        f"{text_rate / duckdb_rate:.2f}× the rate of its load with the types it detects.",
    ]
    return result


def _seconds(measured: dict[str, list[tuple[float, int]]]) -> list[list[float]]:
    return [[seconds for seconds, _ in runs] for runs in measured.values()]
