"""Bronze loads on a real DuckDB file: once per content, all or nothing, counts reconcile."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import duckdb
import pytest

from sony_de_platform.bronze import loader
from sony_de_platform.bronze.feeds import BOX_OFFICE, FAN_INTERACTIONS, TITLE_METADATA
from sony_de_platform.bronze.loader import load_feed
from sony_de_platform.warehouse import DuckDBWarehouse
from sony_de_platform.warehouse.duckdb import DuckDBSession
from sony_de_platform.warehouse.landing import STAGING_TABLE, LandingFile, stage_parquet_files


def interaction(n: int, **overrides: object) -> dict:
    record = {
        "interaction_id": f"INT-{n:010d}",
        "fan_id": f"FAN-{n % 7:07d}",
        "fan_type": "guest",
        "email": f"fan{n}@example.com",
        "region": "NA",
        "preferred_genre": "Drama",
        "title_id": "TT-000001",
        "interaction_type": "view",
        "amount_usd": None,
        "rating": None,
        "channel": "web",
        "event_ts": "2026-06-01T10:00:00Z",
    }
    record.update(overrides)
    return record


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def load(warehouse: DuckDBWarehouse, feed, landing: Path):
    with warehouse.session() as session:
        return load_feed(session, feed, landing)


def rows(warehouse: DuckDBWarehouse, sql: str) -> list[tuple]:
    with warehouse.session(read_only=True) as session:
        return session.fetchall(sql)


def test_bad_lines_are_quarantined_with_reasons_and_counts_reconcile(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    good = [json.dumps(interaction(n)) for n in range(1, 6)]
    lines = [
        good[0],
        '{"interaction_id": "INT-0000000099", "fan_id": ',  # truncated JSON
        good[1],
        json.dumps(interaction(7, fan_id=None)),  # missing key
        good[2],
        "[1, 2, 3]",  # not an object
        good[3],
        json.dumps({k: v for k, v in interaction(8).items() if k != "interaction_id"}),
        good[4],
    ]
    write_jsonl(landing / "fan_interactions" / "fan_interactions_2026-06-01.jsonl", lines)

    (result,) = load(warehouse, FAN_INTERACTIONS, landing)

    assert (result.lines_read, result.rows_loaded, result.rows_quarantined) == (9, 5, 4)
    assert result.reconciles
    quarantined = rows(
        warehouse,
        "SELECT line_number, reason, source_file FROM RAW.LOAD_QUARANTINE ORDER BY line_number",
    )
    assert [(line, reason.split(":")[0]) for line, reason, _ in quarantined] == [
        (2, "malformed JSON"),
        (4, "missing required key"),
        (6, "malformed JSON"),
        (8, "missing required key"),
    ]
    assert quarantined[1][1] == "missing required key: fan_id"
    assert quarantined[3][1] == "missing required key: interaction_id"
    assert {source for *_, source in quarantined} == {
        "fan_interactions/fan_interactions_2026-06-01.jsonl"
    }
    loaded = rows(
        warehouse,
        "SELECT _line_number, interaction_id, _ingest_seq FROM RAW.RAW_FAN_INTERACTIONS "
        "ORDER BY _ingest_seq",
    )
    assert [line for line, *_ in loaded] == [1, 3, 5, 7, 9]
    # the sequence numbers every line read; a quarantined line leaves its number unused
    assert [seq for *_, seq in loaded] == [1, 3, 5, 7, 9]
    ledger = rows(
        warehouse,
        "SELECT lines_read, rows_loaded, rows_quarantined, first_ingest_seq, last_ingest_seq "
        "FROM RAW.LOAD_LEDGER",
    )
    assert ledger == [(9, 5, 4, 1, 9)]


def test_values_are_kept_as_received_text(warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    """Numbers as JSON writes them, nested values as compact JSON in the order received, and
    a key named twice keeps its first value: whether DuckDB or Python reads the line."""
    landing = tmp_path / "landing"
    record = interaction(1, amount_usd=12.5, rating=4, channel={"app": "ios", "größe": [1, 2.5]})
    lines = [
        json.dumps(record),
        '{"interaction_id": "INT-2", "fan_id": "FAN-1", "fan_id": "FAN-2", '
        '"amount_usd": 1e20, "rating": 1.5e-7, "channel": ["web", {"b": 1, "a": null}]}',
        # a trailing comma inside a value's text sends the line to Python's reader
        '{"interaction_id": "INT-3", "fan_id": "FAN-3", "fan_id": "FAN-4", "amount_usd": 1E5, '
        '"rating": -0.0, "channel": "a,]", "full_name": "Zoë"}',
    ]
    write_jsonl(landing / "fan_interactions" / "day.jsonl", lines)
    (result,) = load(warehouse, FAN_INTERACTIONS, landing)
    assert (result.rows_loaded, result.rows_quarantined) == (3, 0)
    assert rows(
        warehouse,
        "SELECT fan_id, amount_usd, rating, channel, full_name FROM RAW.RAW_FAN_INTERACTIONS "
        "ORDER BY _ingest_seq",
    ) == [
        ("FAN-0000001", "12.5", "4", '{"app":"ios","größe":[1,2.5]}', None),
        ("FAN-1", "1e+20", "1.5e-07", '["web",{"b":1,"a":null}]', None),
        ("FAN-3", "100000.0", "-0.0", "a,]", "Zoë"),
    ]


def test_loading_the_same_folder_twice_adds_nothing_and_a_new_file_adds_its_rows(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    folder = landing / "fan_interactions"
    write_jsonl(folder / "a.jsonl", [json.dumps(interaction(n)) for n in range(3)])
    first = load(warehouse, FAN_INTERACTIONS, landing)
    second = load(warehouse, FAN_INTERACTIONS, landing)
    assert [r.rows_loaded for r in first] == [3]
    assert [r.skipped for r in second] == [True]
    assert rows(warehouse, "SELECT COUNT(*) FROM RAW.RAW_FAN_INTERACTIONS") == [(3,)]

    # The same bytes under a new name are the same file: skipped.
    (folder / "a_copy.jsonl").write_bytes((folder / "a.jsonl").read_bytes())
    write_jsonl(folder / "b.jsonl", [json.dumps(interaction(n)) for n in range(10, 14)])
    third = {r.source_file: r for r in load(warehouse, FAN_INTERACTIONS, landing)}
    assert third["fan_interactions/a_copy.jsonl"].skipped
    assert "fan_interactions/a.jsonl" in third["fan_interactions/a_copy.jsonl"].skipped_because
    assert third["fan_interactions/b.jsonl"].rows_loaded == 4
    assert rows(warehouse, "SELECT COUNT(*), MAX(_ingest_seq) FROM RAW.RAW_FAN_INTERACTIONS") == [
        (7, 7)
    ]
    assert rows(warehouse, "SELECT COUNT(*) FROM RAW.LOAD_LEDGER") == [(2,)]


def test_the_ledger_is_asked_once_per_batch_in_chunks_and_knows_every_loaded_content(
    warehouse: DuckDBWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five files, the ledger asked two hashes at a time: a second load skips each file with
    the name it was first loaded under, and a copy of one under a new name is skipped too."""
    landing = tmp_path / "landing"
    folder = landing / "fan_interactions"
    for day in range(5):
        lines = [json.dumps(interaction(100 * day + n)) for n in range(3)]
        write_jsonl(folder / f"day{day}.jsonl", lines)
    first = load(warehouse, FAN_INTERACTIONS, landing)
    assert [r.rows_loaded for r in first] == [3] * 5

    monkeypatch.setattr(loader, "LEDGER_LOOKUP_CHUNK", 2)
    asked: list[int] = []
    previous_loads = loader.previous_loads

    def counting(session, feed, hashes):
        hashes = list(hashes)
        asked.append(len(hashes))
        return previous_loads(session, feed, hashes)

    monkeypatch.setattr(loader, "previous_loads", counting)
    (folder / "day9.jsonl").write_bytes((folder / "day3.jsonl").read_bytes())
    second = {r.source_file: r for r in load(warehouse, FAN_INTERACTIONS, landing)}
    assert asked == [6]  # one batch, one lookup (no file is left to load in a transaction)
    for day in (*range(5), 9):
        result = second[f"fan_interactions/day{day}.jsonl"]
        shown = f"fan_interactions/day{3 if day == 9 else day}.jsonl"
        assert result.skipped and f"already loaded from {shown} at" in result.skipped_because
    assert rows(warehouse, "SELECT COUNT(*) FROM RAW.RAW_FAN_INTERACTIONS") == [(15,)]


def test_files_loaded_together_are_numbered_in_file_order_whoever_parsed_them(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    """One batch: DuckDB stages a.jsonl and c.jsonl, Python reads b.jsonl (not UTF-8); each
    line gets the next ingest sequence number in file order, used or not."""
    landing = tmp_path / "landing"
    folder = landing / "fan_interactions"
    write_jsonl(folder / "a.jsonl", [json.dumps(interaction(1)), "not json", "{}"])
    (folder / "b.jsonl").write_bytes(
        json.dumps(interaction(2)).encode() + b"\n" + b'{"fan_id": "\xff"}\n'
    )
    write_jsonl(folder / "c.jsonl", [json.dumps(interaction(3)), json.dumps(interaction(4))])

    results = load(warehouse, FAN_INTERACTIONS, landing)

    assert [(r.lines_read, r.rows_loaded, r.rows_quarantined) for r in results] == [
        (3, 1, 2),
        (2, 1, 1),
        (2, 2, 0),
    ]
    assert rows(
        warehouse,
        "SELECT _source_file, _line_number, _ingest_seq FROM RAW.RAW_FAN_INTERACTIONS "
        "ORDER BY _ingest_seq",
    ) == [
        ("fan_interactions/a.jsonl", 1, 1),
        ("fan_interactions/b.jsonl", 1, 4),
        ("fan_interactions/c.jsonl", 1, 6),
        ("fan_interactions/c.jsonl", 2, 7),
    ]
    assert rows(
        warehouse,
        "SELECT source_file, first_ingest_seq, last_ingest_seq FROM RAW.LOAD_LEDGER "
        "ORDER BY source_file",
    ) == [
        ("fan_interactions/a.jsonl", 1, 1),
        ("fan_interactions/b.jsonl", 4, 4),
        ("fan_interactions/c.jsonl", 6, 7),
    ]
    assert (
        len({load_id for (load_id,) in rows(warehouse, "SELECT load_id FROM RAW.LOAD_LEDGER")}) == 3
    )


def test_a_crash_mid_file_leaves_nothing_and_the_rerun_loads_it_once(
    warehouse: DuckDBWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    write_jsonl(
        landing / "fan_interactions" / "a.jsonl",
        [json.dumps(interaction(n)) for n in range(5)] + ["not json"],
    )
    real_append = DuckDBSession.append_columns

    def crash_after_the_rows(session, table, columns):
        if table.endswith("LOAD_QUARANTINE"):  # the file's rows are in RAW by now
            raise OSError("disk went away")
        return real_append(session, table, columns)

    monkeypatch.setattr(DuckDBSession, "append_columns", crash_after_the_rows)
    with pytest.raises(OSError, match="disk went away"):
        load(warehouse, FAN_INTERACTIONS, landing)
    assert rows(warehouse, "SELECT COUNT(*) FROM RAW.RAW_FAN_INTERACTIONS") == [(0,)]
    assert rows(warehouse, "SELECT COUNT(*) FROM RAW.LOAD_LEDGER") == [(0,)]

    monkeypatch.setattr(DuckDBSession, "append_columns", real_append)
    (result,) = load(warehouse, FAN_INTERACTIONS, landing)
    assert (result.rows_loaded, result.rows_quarantined) == (5, 1)
    assert rows(warehouse, "SELECT COUNT(*) FROM RAW.LOAD_QUARANTINE") == [(1,)]


def test_csv_rows_with_wrong_field_count_or_missing_key_are_quarantined(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    folder = landing / "title_metadata"
    folder.mkdir(parents=True)
    header = ",".join(TITLE_METADATA.fields)
    (folder / "title_metadata_2026-06.csv").write_text(
        "\n".join(
            [
                header,
                'TT-000001,"Night, Again",Nightfall,Drama,2026-05-01,7.4,120,PG-13,1000000',
                "TT-000002,Broken,Nightfall,Drama,2026-05-01",
                ',"No Key",Nightfall,Drama,2026-05-01,6.0,90,R,5',
                'TT-000003,"Two\nLines",Dawn,Action,2026-06-01,11.5,100,PG,2',
            ]
        )
        + "\n"
    )
    (result,) = load(warehouse, TITLE_METADATA, landing)
    assert (result.lines_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    reasons = [r for (r,) in rows(warehouse, "SELECT reason FROM RAW.LOAD_QUARANTINE ORDER BY 1")]
    assert reasons[0].startswith("malformed CSV row (file line 3): expected 9 fields")
    assert reasons[1] == "missing required key: title_id"
    assert rows(
        warehouse, "SELECT title_name, imdb_score FROM RAW.RAW_TITLE_METADATA ORDER BY 1"
    ) == [("Night, Again", "7.4"), ("Two\nLines", "11.5")]


def test_parquet_rows_missing_keys_are_quarantined(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    folder = landing / "box_office"
    folder.mkdir(parents=True)
    target = folder / "box_office_2026-06-01.parquet"
    duckdb.sql(
        "SELECT * FROM (VALUES "
        "('TT-000001', DATE '2026-06-01', 'NA', 10, 1000, 12000.5), "
        "(NULL, DATE '2026-06-01', 'NA', 3, 10, 120.0), "
        "('TT-000002', DATE '2026-06-02', 'EMEA', 4, 20, -5.0)) "
        "AS t(title_id, report_date, region, screens, tickets_sold, gross_revenue_usd)"
    ).write_parquet(str(target))
    (result,) = load(warehouse, BOX_OFFICE, landing)
    assert (result.lines_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    assert rows(
        warehouse,
        "SELECT title_id, report_date, gross_revenue_usd FROM RAW.RAW_BOX_OFFICE ORDER BY 1",
    ) == [("TT-000001", "2026-06-01", "12000.5"), ("TT-000002", "2026-06-02", "-5.0")]
    assert rows(warehouse, "SELECT line_number, reason FROM RAW.LOAD_QUARANTINE") == [
        (2, "missing required key: title_id")
    ]


def test_writer_lock_makes_a_second_writer_wait(warehouse: DuckDBWarehouse) -> None:
    """A second process-level writer waits and times out with a message naming the holder."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    release = ctx.Event()
    holder = ctx.Process(target=_hold_writer, args=(warehouse.path, ready, release))
    holder.start()
    try:
        assert ready.wait(120)  # a spawned interpreter imports Dagster: slow on a busy machine
        impatient = DuckDBWarehouse(path=warehouse.path, lock_timeout_seconds=0.5)
        with (
            pytest.raises(TimeoutError, match="still being written by .*holding for a test"),
            impatient.session(),
        ):
            pass
    finally:
        release.set()
        holder.join(30)
    with warehouse.session() as session:  # free again
        assert session.scalar("SELECT 1") == 1


def _hold_writer(path: str, ready, release) -> None:
    held = DuckDBWarehouse(path=path)
    with held.exclusive_writer("holding for a test"):
        ready.set()
        release.wait(30)


def test_a_feed_load_keeps_no_insertion_order_and_checkpoints_on_the_way_and_at_its_end(
    warehouse: DuckDBWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load's statements keep no insertion order (each row keeps its _ingest_seq and
    line); DuckDB still checkpoints whenever its write-ahead log passes the threshold (a
    large load's log is not held to its end) and once more when the load ends; DuckDB's
    own settings are back afterwards."""
    landing = tmp_path / "landing"
    for day in (1, 2):
        write_jsonl(
            landing / "fan_interactions" / f"day{day}.jsonl",
            [json.dumps(interaction(n)) for n in range(day * 100, day * 100 + 50)],
        )
    wal = Path(warehouse.path + ".wal")
    settings = (
        "SELECT current_setting('checkpoint_threshold'), "
        "current_setting('preserve_insertion_order')"
    )
    during = []
    log_sizes = []

    def after_each_file(*_: object) -> None:
        during.append(session.fetchone(settings))
        log_sizes.append(wal.stat().st_size if wal.exists() else 0)

    with warehouse.session() as session:
        session.execute("SET checkpoint_threshold = '1KiB'")  # each file's commit passes it
        before = session.fetchone(settings)
        monkeypatch.setattr(loader, "STAGE_BATCH_BYTES", 1)  # a transaction per file
        results = load_feed(session, FAN_INTERACTIONS, landing, on_progress=after_each_file)
        assert [r.rows_loaded for r in results] == [50, 50]
        assert before[1] is True
        assert during and all(s == (before[0], False) for s in during)
        assert log_sizes == [0, 0]  # checkpointed at each commit, not held to the end
        assert session.fetchone(settings) == before
        assert not wal.exists() or wal.stat().st_size == 0
        rows = session.fetchall(
            "SELECT _source_file, _line_number, _ingest_seq, interaction_id "
            "FROM RAW.RAW_FAN_INTERACTIONS ORDER BY _ingest_seq"
        )
    assert [(r[0].split("/")[-1], r[1], r[2]) for r in rows] == [
        (f"day{day}.jsonl", line, 50 * (day - 1) + line) for day in (1, 2) for line in range(1, 51)
    ]
    assert [r[3] for r in rows] == [
        interaction(n)["interaction_id"] for n in [*range(100, 150), *range(200, 250)]
    ]


def test_progress_is_reported_once_per_committed_batch(
    warehouse: DuckDBWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    folder = landing / "fan_interactions"
    for day in range(3):
        write_jsonl(
            folder / f"day-{day}.jsonl", [json.dumps(interaction(10 * day + n)) for n in range(4)]
        )

    default_batch = loader.STAGE_BATCH_BYTES

    def progress_of(batch_bytes: int) -> list[tuple[int, int, list[str]]]:
        monkeypatch.setattr(loader, "STAGE_BATCH_BYTES", batch_bytes)
        calls: list[tuple[int, int, list[str]]] = []
        with warehouse.session() as session:
            load_feed(
                session,
                FAN_INTERACTIONS,
                landing,
                on_progress=lambda done, total, loads: calls.append(
                    (done, total, [load.source_file for load in loads])
                ),
            )
        return calls

    assert progress_of(1) == [
        (1, 3, ["fan_interactions/day-0.jsonl"]),
        (2, 3, ["fan_interactions/day-1.jsonl"]),
        (3, 3, ["fan_interactions/day-2.jsonl"]),
    ]
    assert rows(warehouse, "SELECT COUNT(DISTINCT loaded_at) FROM RAW.LOAD_LEDGER") == [(3,)]
    write_jsonl(folder / "day-3.jsonl", [json.dumps(interaction(99))])
    # the default batch holds all four; three are skipped as loaded
    assert progress_of(default_batch) == [
        (4, 4, [f"fan_interactions/day-{day}.jsonl" for day in range(4)])
    ]


def test_files_too_few_to_fill_another_batch_join_the_last_full_one(
    warehouse: DuckDBWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five files of one size, batches of two files' bytes: the fifth joins the second batch
    rather than making a batch of its own (a small batch costs DuckDB's checkpoint a merge)."""
    folder = tmp_path / "landing" / "fan_interactions"
    paths = [
        write_jsonl(folder / f"day-{day}.jsonl", [json.dumps(interaction(day))]) for day in range(5)
    ]
    assert len({path.stat().st_size for path in paths}) == 1
    monkeypatch.setattr(loader, "STAGE_BATCH_BYTES", 2 * paths[0].stat().st_size)
    batches: list[list[str]] = []
    with warehouse.session() as session:
        results = load_feed(
            session,
            FAN_INTERACTIONS,
            tmp_path / "landing",
            on_progress=lambda done, total, loads: batches.append(
                [load.source_file.split("/")[-1] for load in loads]
            ),
        )
    assert batches == [["day-0.jsonl", "day-1.jsonl"], [f"day-{day}.jsonl" for day in (2, 3, 4)]]
    assert [result.rows_loaded for result in results] == [1] * 5
    assert rows(warehouse, "SELECT COUNT(DISTINCT loaded_at) FROM RAW.LOAD_LEDGER") == [(2,)]


def test_the_next_files_are_read_while_the_caller_loads_a_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of half a batch: when the caller gets the file that completes a batch, the next
    batch's reads have already started, without the caller asking for another file."""
    folder = tmp_path / "fan_interactions"
    paths = [
        write_jsonl(folder / f"day-{day}.jsonl", [json.dumps(interaction(day))]) for day in range(6)
    ]
    monkeypatch.setattr(loader, "STAGE_BATCH_BYTES", 2 * paths[0].stat().st_size)
    started: dict[str, threading.Event] = {path.name: threading.Event() for path in paths}
    read = loader._read

    def recording_read(feed, path: Path, landing_dir: Path):
        started[path.name].set()
        return read(feed, path, landing_dir)

    monkeypatch.setattr(loader, "_read", recording_read)
    reads = loader._read_ahead(FAN_INTERACTIONS, paths, tmp_path)
    try:
        for batch_end in (1, 3):  # the caller loads a batch after files 1 and 3
            for position in range(batch_end - 1, batch_end + 1):
                data, result = next(reads)
                assert result.source_file == f"fan_interactions/{paths[position].name}"
                assert data == paths[position].read_bytes()
            # while the caller works on the batch, the next two files are being read
            for ahead in paths[batch_end + 1 : batch_end + 3]:
                assert started[ahead.name].wait(timeout=10), f"{ahead.name} was not read ahead"
        assert [result.source_file for _, result in reads] == [
            f"fan_interactions/{path.name}" for path in paths[4:]
        ]
    finally:
        reads.close()


def test_two_files_with_the_same_bytes_in_one_batch_load_once(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    folder = landing / "fan_interactions"
    write_jsonl(folder / "a.jsonl", [json.dumps(interaction(n)) for n in range(3)])
    (folder / "b.jsonl").write_bytes((folder / "a.jsonl").read_bytes())

    first, second = load(warehouse, FAN_INTERACTIONS, landing)

    assert (first.skipped, first.rows_loaded) == (False, 3)
    assert second.skipped
    assert "same content as fan_interactions/a.jsonl" in second.skipped_because
    assert rows(warehouse, "SELECT COUNT(*) FROM RAW.RAW_FAN_INTERACTIONS") == [(3,)]
    assert rows(warehouse, "SELECT source_file FROM RAW.LOAD_LEDGER") == [
        ("fan_interactions/a.jsonl",)
    ]


def test_parquet_files_of_one_schema_are_read_together_and_the_others_apart(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    folder = tmp_path / "landing" / "box_office"
    folder.mkdir(parents=True)
    columns = "title_id, report_date, region, screens, tickets_sold, gross_revenue_usd"
    for name, rows_sql in {
        "a.parquet": "('TT-1', DATE '2026-06-01', 'NA', 10, 1000, 12000.5)",
        "c.parquet": "('TT-3', DATE '2026-06-03', 'NA', 1, 2, 3.0), "
        "(NULL, DATE '2026-06-03', 'NA', 1, 2, 3.0)",
    }.items():
        duckdb.sql(
            "SELECT title_id, report_date, region, screens::INTEGER AS screens, "
            "tickets_sold::INTEGER AS tickets_sold, gross_revenue_usd::DOUBLE AS "
            f"gross_revenue_usd FROM (VALUES {rows_sql}) AS t({columns})"
        ).write_parquet(str(folder / name))
    # another schema: upper-case names, a text count, no screens, an extra column
    duckdb.sql(
        "SELECT 'TT-2' AS TITLE_ID, DATE '2026-06-02' AS Report_Date, 'EMEA' AS region, "
        "'7' AS tickets_sold, 70.25 AS gross_revenue_usd, 'x' AS note"
    ).write_parquet(str(folder / "b.parquet"))
    (folder / "d.parquet").write_bytes(b"PAR1 this is not really parquet")
    landings = [
        LandingFile("parquet", path, path.read_bytes(), BOX_OFFICE.fields, BOX_OFFICE.required_keys)
        for path in sorted(folder.glob("*.parquet"))
    ]
    with duckdb.connect() as connection:
        a, b, c, d = stage_parquet_files(connection, landings, STAGING_TABLE)
    assert a is not None and b is not None and c is not None and d is None
    assert a.table == c.table != b.table
    assert [(f.lines_read, f.parsed.clean_rows, len(f.parsed.doubtful)) for f in (a, b, c)] == [
        (1, 1, 0),
        (1, 1, 0),
        (2, 1, 1),
    ]

    results = {r.source_file: r for r in load(warehouse, BOX_OFFICE, tmp_path / "landing")}
    assert {name: (r.rows_loaded, r.rows_quarantined) for name, r in results.items()} == {
        "box_office/a.parquet": (1, 0),
        "box_office/b.parquet": (1, 0),
        "box_office/c.parquet": (1, 1),
        "box_office/d.parquet": (0, 1),
    }
    assert rows(
        warehouse,
        "SELECT _source_file, title_id, report_date, screens, tickets_sold, gross_revenue_usd "
        "FROM RAW.RAW_BOX_OFFICE ORDER BY _ingest_seq",
    ) == [
        ("box_office/a.parquet", "TT-1", "2026-06-01", "10", "1000", "12000.5"),
        ("box_office/b.parquet", "TT-2", "2026-06-02", None, "7", "70.25"),
        ("box_office/c.parquet", "TT-3", "2026-06-03", "1", "2", "3.0"),
    ]


def test_a_parquet_file_whose_body_is_unreadable_leaves_the_others_of_its_schema_to_duckdb(
    warehouse: DuckDBWarehouse, tmp_path: Path
) -> None:
    import struct

    folder = tmp_path / "landing" / "box_office"
    folder.mkdir(parents=True)
    for name in ("a.parquet", "b.parquet"):
        duckdb.sql(
            "SELECT 'TT-' || i AS title_id, DATE '2026-06-01' AS report_date, 'NA' AS region, "
            "i::INTEGER AS screens, i::INTEGER AS tickets_sold, i::DOUBLE AS gross_revenue_usd "
            "FROM range(1000) AS t(i)"
        ).write_parquet(str(folder / name))
    # b keeps its footer (its schema reads) but not its data pages
    data = bytearray((folder / "b.parquet").read_bytes())
    footer = struct.unpack("<I", data[-8:-4])[0]
    data[4 : len(data) - 8 - footer] = b"\xff" * (len(data) - 12 - footer)
    (folder / "b.parquet").write_bytes(bytes(data))
    landings = [
        LandingFile("parquet", path, path.read_bytes(), BOX_OFFICE.fields, BOX_OFFICE.required_keys)
        for path in sorted(folder.glob("*.parquet"))
    ]
    with duckdb.connect() as connection:
        a, b = stage_parquet_files(connection, landings, STAGING_TABLE)
    assert a is not None and (a.lines_read, a.parsed.clean_rows) == (1000, 1000)
    assert b is None

    results = {r.source_file: r for r in load(warehouse, BOX_OFFICE, tmp_path / "landing")}
    assert (
        results["box_office/a.parquet"].rows_loaded,
        results["box_office/b.parquet"].rows_loaded,
    ) == (1000, 0)
    assert results["box_office/b.parquet"].rows_quarantined == 1
    assert rows(warehouse, "SELECT source_file FROM RAW.LOAD_QUARANTINE") == [
        ("box_office/b.parquet",)
    ]
