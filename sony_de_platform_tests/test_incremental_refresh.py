"""Incremental Silver and the Gold dynamic tables on real DuckDB files with real dbt.

One warehouse gets every landing file but the newest day of interactions and is built; a
second run with no new input must leave Gold untouched (NO_DATA); the newest file then
lands, with a box-office file superseding earlier reports, and one incremental run must
give the Silver tables of a --full-refresh over the same Bronze rows, and the Gold rows of a
warehouse rebuilt from scratch with the same files.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner

from benchmarks.harness import (
    MODELS_ONLY,
    DbtRun,
    InProcessDbt,
    ReplayedWarehouse,
    generated_files,
    newest_interactions_file,
)
from sony_de_platform.settings import DATABASE_NAME, DBT_PROJECT_DIR, Engine, dbt_profile_env
from sony_de_platform.synthetic import generate_landing_data
from sony_de_platform.transform.dynamic_tables import parse_target_lag
from sony_de_platform.transform.project import scoped_environment
from sony_de_platform.warehouse.dynamic_tables import DynamicTableRefresh, dynamic_table_refreshes

pytestmark = pytest.mark.slow

SCALE, SEED = 0.03, 5
SILVER = (
    "STG.stg_fan_interactions",
    "FACTS.fact_daily_performance",
    "FACTS.fact_box_office",
    "DIMS.dim_fans",
    "DIMS.dim_titles",
)
# dim_fans' _row_version tells which run wrote a row, not what it holds: compared apart
CONTENT = {"DIMS.dim_fans": "(SELECT * EXCLUDE (_row_version) FROM DIMS.dim_fans)"}
GOLD = ("STUDIO_OPS.agg_franchise_performance", "MARKETING.agg_fan_lifetime_value")
GOLD_MODELS = ("agg_franchise_performance", "agg_fan_lifetime_value")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def table_identity(warehouse: ReplayedWarehouse, relation: str, label: str) -> str:
    """Which table this is: a mark left in its comment at the first snapshot that finds none.
    An unchanged or updated table keeps the mark; a table dbt drops and builds again has
    none, and gets a new one. (DuckDB's catalog ids do not survive the warehouse being closed
    after each dbt run, so they cannot tell a rebuilt table from the same one.)"""
    schema, name = relation.split(".")
    with warehouse.session() as session:
        mark = session.scalar(
            "SELECT comment FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [schema, name],
        )
        if not mark:
            mark = f"identity mark left at snapshot {label}"
            session.execute(f"COMMENT ON TABLE {relation} IS '{mark}'")
        return mark


def refreshes(warehouse: ReplayedWarehouse, run: DbtRun) -> dict[str, DynamicTableRefresh]:
    """The refresh each Gold table recorded in `run`, by relation."""
    with warehouse.session() as session:
        rows = dynamic_table_refreshes(session, DATABASE_NAME, EPOCH)
    return {
        relation: refresh
        for relation in GOLD
        for refresh in rows
        if refresh.query_id == run.invocation_id
        and refresh.qualified_name == f"{DATABASE_NAME}.{relation}".upper()
    }


def revise_box_office(warehouse: ReplayedWarehouse) -> dict[str, tuple]:
    """Land a box-office file superseding reports already loaded: every report of one day
    that had only box office gets zero revenue (Silver excludes those, so the day must go),
    one report of a day with fan activity gets a higher gross (its row must change)."""
    path = warehouse.settings.landing_dir / "box_office" / "box_office_2026-12-28.parquet"
    with warehouse.session() as session:
        vanishing = session.fetchone(
            "SELECT title_id, performance_date FROM FACTS.fact_daily_performance "
            "WHERE interactions = 0 ORDER BY 1, 2 LIMIT 1"
        )
        revised = session.fetchone(
            "SELECT b.title_id, b.report_date, b.region FROM FACTS.fact_box_office AS b "
            "JOIN FACTS.fact_daily_performance AS f "
            "ON f.title_id = b.title_id AND f.performance_date = b.report_date "
            "WHERE f.interactions > 0 ORDER BY 1, 2, 3 LIMIT 1"
        )
        session.execute(
            "COPY (SELECT title_id, report_date, region, screens, tickets_sold, "
            "CAST(CASE WHEN title_id = ? AND report_date = ? THEN 0 "
            "ELSE gross_revenue_usd + 1000 END AS DOUBLE) AS gross_revenue_usd "
            "FROM FACTS.fact_box_office "
            "WHERE (title_id = ? AND report_date = ?) "
            "OR (title_id = ? AND report_date = ? AND region = ?)) "
            f"TO '{path}' (FORMAT parquet)",
            [*vanishing, *vanishing, *revised],
        )
    return {"vanishing": vanishing, "revised": revised[:2], "file": (path,)}


@dataclass
class Scenario:
    incremental: ReplayedWarehouse
    scratch: ReplayedWarehouse
    files: list[Path]
    new_file: Path
    dbt: InProcessDbt
    runs: dict[str, DbtRun] = field(default_factory=dict)
    gold: dict[str, dict[str, list[tuple]]] = field(default_factory=dict)
    identity: dict[str, dict[str, str]] = field(default_factory=dict)
    silver: dict[str, dict[str, list[tuple]]] = field(default_factory=dict)
    watermarks: dict[str, int] = field(default_factory=dict)
    revisions: dict[str, tuple] = field(default_factory=dict)
    build_marks: dict[str, str] = field(default_factory=dict)
    fan_versions: dict[str, dict[str, int]] = field(default_factory=dict)

    def snapshot(self, label: str, warehouse: ReplayedWarehouse) -> None:
        self.gold[label] = {r: warehouse.rows(r) for r in GOLD}
        self.identity[label] = {
            r: table_identity(warehouse, r, label) for r in (*GOLD, "FACTS.fact_box_office")
        }
        self.silver[label] = {r: warehouse.rows(CONTENT.get(r, r)) for r in SILVER}
        self.build_marks[label] = build_mark(warehouse, "stg_fan_interactions")
        self.fan_versions[label] = dict(
            warehouse.rows("(SELECT fan_id, _row_version FROM DIMS.dim_fans)")
        )


def build_mark(warehouse: ReplayedWarehouse, table: str) -> str:
    """The comment an append-only model's build from scratch leaves on its table."""
    with warehouse.session() as session:
        return session.scalar("SELECT comment FROM duckdb_tables() WHERE table_name = ?", [table])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("incremental")
    generated = root / "generated"
    files = generated_files(generated, generate_landing_data(generated, scale=SCALE, seed=SEED))
    new_file = newest_interactions_file(files)
    dbt = InProcessDbt(root / "dbt")
    built = Scenario(
        incremental=ReplayedWarehouse(root / "incremental", generated, dbt),
        scratch=ReplayedWarehouse(root / "scratch", generated, dbt),
        files=files,
        new_file=new_file,
        dbt=dbt,
    )
    wh = built.incremental
    wh.land(path for path in files if path != new_file)
    wh.load_bronze()
    built.runs["first"] = wh.dbt("run", *MODELS_ONLY)
    built.snapshot("first", wh)
    built.runs["no_new_input"] = wh.dbt("run", *MODELS_ONLY)
    built.snapshot("no_new_input", wh)

    wh.land([new_file])
    built.revisions = revise_box_office(wh)
    wh.load_bronze()
    with wh.session() as session:
        for relation in (
            "STG.stg_fan_interactions",
            "FACTS.fact_daily_performance",
            "FACTS.fact_box_office",
            "DIMS.dim_fans",
        ):
            built.watermarks[relation] = session.scalar(f"SELECT max(_ingest_seq) FROM {relation}")
    built.runs["new_file"] = wh.dbt("run", *MODELS_ONLY)
    built.snapshot("new_file", wh)
    built.runs["full_refresh"] = wh.dbt("run", *MODELS_ONLY, "--full-refresh")
    built.snapshot("full_refresh", wh)

    # A changed query (the LTV thresholds are project vars): Snowflake replaces the table.
    built.runs["changed_query"] = wh.dbt(
        "run", "--select", *GOLD_MODELS, "--vars", "{ltv_high_min_usd: 151}"
    )
    # An append-only input short of a row it had at the last refresh: the change cannot be
    # read from the rows past the stamp, so the refresh evaluates the whole query.
    with wh.session() as session:
        session.execute(
            "DELETE FROM STG.stg_fan_interactions WHERE _ingest_seq = "
            "(SELECT min(_ingest_seq) FROM STG.stg_fan_interactions)"
        )
    built.runs["row_lost"] = wh.dbt(
        "run", "--select", "agg_fan_lifetime_value", "--vars", "{ltv_high_min_usd: 151}"
    )
    # The same under refresh_mode INCREMENTAL (a changed refresh_mode recreates the table).
    incremental_mode = "{ltv_high_min_usd: 151, dynamic_table_refresh_mode: INCREMENTAL}"
    built.runs["incremental_mode"] = wh.dbt(
        "run", "--select", "agg_fan_lifetime_value", "--vars", incremental_mode
    )
    with wh.session() as session:
        session.execute(
            "DELETE FROM STG.stg_fan_interactions WHERE _ingest_seq = "
            "(SELECT min(_ingest_seq) FROM STG.stg_fan_interactions)"
        )
    built.runs["incremental_mode_row_lost"] = wh.dbt(
        "run", "--select", "agg_fan_lifetime_value", "--vars", incremental_mode
    )

    built.scratch.land(files)
    (revision,) = built.revisions["file"]
    shutil.copy2(revision, built.scratch.settings.landing_dir / "box_office" / revision.name)
    built.scratch.load_bronze()
    built.runs["scratch"] = built.scratch.dbt("run", *MODELS_ONLY)
    built.gold["scratch"] = {r: built.scratch.rows(r) for r in GOLD}
    yield built


def test_first_build_creates_each_dynamic_table_with_its_target_lag(scenario: Scenario) -> None:
    recorded = refreshes(scenario.incremental, scenario.runs["first"])
    assert set(recorded) == set(GOLD)
    nodes = scenario.dbt.manifest_json["nodes"]
    for relation, refresh in recorded.items():
        node = next(n for n in nodes.values() if f"{n['schema']}.{n['alias']}" == relation)
        lag = parse_target_lag(node["config"]["target_lag"])
        assert (refresh.refresh_trigger, refresh.refresh_action) == ("CREATION", "FULL")
        assert refresh.state == "SUCCEEDED"
        assert refresh.target_lag_sec == lag.total_seconds()
        assert json.loads(refresh.statistics) == {
            "numInsertedRows": len(scenario.gold["first"][relation]),
            "numDeletedRows": 0,
        }
        assert refresh.refresh_start_time <= refresh.refresh_end_time


def test_refresh_without_new_input_is_no_data_and_leaves_the_table_untouched(
    scenario: Scenario,
) -> None:
    first = refreshes(scenario.incremental, scenario.runs["first"])
    second = refreshes(scenario.incremental, scenario.runs["no_new_input"])
    for relation in GOLD:
        assert second[relation].refresh_action == "NO_DATA", relation
        assert second[relation].refresh_trigger == "MANUAL", relation
        assert json.loads(second[relation].statistics) == {
            "numInsertedRows": 0,
            "numDeletedRows": 0,
        }
        assert second[relation].data_timestamp > first[relation].refresh_end_time
        # Untouched: same rows, and the very same table (a rebuild gets a new catalog id,
        # as the --full-refresh below shows).
        assert scenario.gold["no_new_input"][relation] == scenario.gold["first"][relation]
        assert scenario.identity["no_new_input"][relation] == scenario.identity["first"][relation]
        assert scenario.identity["full_refresh"][relation] != scenario.identity["first"][relation]
    # The first refresh is still on record as it was: history is append-only.
    assert refreshes(scenario.incremental, scenario.runs["first"]) == first


def test_refresh_after_new_bronze_rows_records_the_change_and_equals_a_rebuild(
    scenario: Scenario,
) -> None:
    recorded = refreshes(scenario.incremental, scenario.runs["new_file"])
    # Both under refresh_mode AUTO: the fans' table is key-scoped, so incremental; the
    # franchise table cannot be (its franchise comes from the title), so AUTO rebuilds it.
    actions = {
        "MARKETING.agg_fan_lifetime_value": "INCREMENTAL",
        "STUDIO_OPS.agg_franchise_performance": "FULL",
    }
    for relation in GOLD:
        refresh = recorded[relation]
        assert (refresh.refresh_trigger, refresh.refresh_action) == (
            "MANUAL",
            actions[relation],
        ), relation
        statistics = json.loads(refresh.statistics)
        assert statistics["numInsertedRows"] > 0, relation
        changed = json.loads(
            _history_value(scenario.incremental, refresh, "INPUTS_WITH_CHANGED_DATA")
        )
        interactions = changed[f"{DATABASE_NAME}.STG.STG_FAN_INTERACTIONS"]
        assert interactions["rowCount"] > interactions["previousRowCount"], relation
        assert f"{DATABASE_NAME}.DIMS.DIM_TITLES" not in changed, relation
        # Row by row: the refreshed table equals the same model built from scratch.
        assert scenario.gold["new_file"][relation] == scenario.gold["scratch"][relation]
        assert scenario.gold["new_file"][relation] != scenario.gold["first"][relation]


def test_incremental_silver_equals_a_full_refresh_over_the_same_data(scenario: Scenario) -> None:
    for relation in SILVER:
        assert scenario.silver["new_file"][relation] == scenario.silver["full_refresh"][relation], (
            relation
        )
    assert scenario.gold["new_file"] == scenario.gold["full_refresh"]


def test_incremental_run_processed_only_the_new_files_rows(scenario: Scenario) -> None:
    wh = scenario.incremental
    new_file = str(scenario.new_file.relative_to(wh.generated))
    stg_mark = scenario.watermarks["STG.stg_fan_interactions"]
    fact_mark = scenario.watermarks["FACTS.fact_daily_performance"]
    with wh.session() as session:
        appended = session.fetchall(
            "SELECT DISTINCT raw._source_file FROM STG.stg_fan_interactions AS stg "
            "JOIN RAW.RAW_FAN_INTERACTIONS AS raw USING (_ingest_seq) "
            "WHERE stg._ingest_seq > ?",
            [stg_mark],
        )
        recomputed_days = session.fetchall(
            "SELECT title_id, performance_date FROM FACTS.fact_daily_performance "
            "WHERE _ingest_seq > ? EXCEPT "
            "SELECT stg.title_id, stg.event_date FROM STG.stg_fan_interactions AS stg "
            "JOIN RAW.RAW_FAN_INTERACTIONS AS raw USING (_ingest_seq) "
            "WHERE raw._source_file = ?",
            [fact_mark, new_file],
        )
        new_days = session.scalar(
            "SELECT COUNT(*) FROM FACTS.fact_daily_performance WHERE _ingest_seq > ?",
            [fact_mark],
        )
    assert appended == [(new_file,)]
    assert new_days > 0
    assert recomputed_days == [], "only the days of the new file's interactions are recomputed"


def test_a_new_file_replaying_an_old_interaction_keeps_it_out_as_a_full_refresh_does(
    scenario: Scenario, tmp_path: Path
) -> None:
    """The incremental run probes the earlier rows only between the new rows' lowest and
    highest id (read as literals first). A new file that brings the next day and, again, an
    interaction of the first day (an id below all of the day's) widens the bounds to it: the
    copy stays out, and the table equals a full refresh."""
    generated = scenario.incremental.generated
    first_day, next_day = sorted((generated / "fan_interactions").glob("*.jsonl"))[:2]
    wh = ReplayedWarehouse(tmp_path / "replay", generated, scenario.dbt)
    wh.land([first_day])
    wh.load_bronze()
    wh.dbt("run", "--select", "stg_fan_interactions")
    with wh.session() as session:
        kept = {
            row[0]
            for row in session.fetchall("SELECT interaction_id FROM STG.stg_fan_interactions")
        }
    replayed = next(
        line
        for line in first_day.read_text().splitlines()
        if line.startswith("{") and json.loads(line).get("interaction_id") in kept
    )
    replayed_id = json.loads(replayed)["interaction_id"]
    landing = wh.settings.landing_dir / "fan_interactions" / next_day.name
    landing.write_text(next_day.read_text() + replayed + "\n")
    wh.load_bronze()
    run = wh.dbt("run", "--select", "stg_fan_interactions")
    assert run.node_status == {"model.sony_de.stg_fan_interactions": "success"}
    compiled = scenario.dbt.target_path / "compiled" / "sony_de" / "models" / "silver" / "staging"
    probe = (compiled / "stg_fan_interactions.sql").read_text()
    assert f"interaction_id between '{replayed_id}' and " in probe
    incremental = wh.rows("STG.stg_fan_interactions")
    with wh.session() as session:
        copies = session.fetchall(
            "SELECT _ingest_seq FROM STG.stg_fan_interactions WHERE interaction_id = ?",
            [replayed_id],
        )
    assert len(copies) == 1  # its first arrival, loaded with the first day
    wh.dbt("run", "--select", "stg_fan_interactions", "--full-refresh")
    assert incremental == wh.rows("STG.stg_fan_interactions")


def test_incremental_fact_box_office_replaces_only_the_keys_of_the_new_reports(
    scenario: Scenario,
) -> None:
    wh = scenario.incremental
    mark = scenario.watermarks["FACTS.fact_box_office"]
    (revision,) = scenario.revisions["file"]
    source_file = str(revision.relative_to(wh.settings.landing_dir))
    with wh.session() as session:
        reported = set(
            session.fetchall(
                "SELECT title_id, CAST(report_date AS DATE), region FROM RAW.RAW_BOX_OFFICE "
                "WHERE _source_file = ?",
                [source_file],
            )
        )
        written = session.fetchall(
            "SELECT DISTINCT raw._source_file FROM FACTS.fact_box_office AS fact "
            "JOIN RAW.RAW_BOX_OFFICE AS raw USING (_ingest_seq) WHERE fact._ingest_seq > ?",
            [mark],
        )
    before = scenario.silver["no_new_input"]["FACTS.fact_box_office"]
    after = scenario.silver["new_file"]["FACTS.fact_box_office"]
    assert written == [(source_file,)]
    # the same table, changed in place, not a rebuilt one
    identity = {
        label: scenario.identity[label]["FACTS.fact_box_office"] for label in scenario.identity
    }
    assert identity["first"] == identity["no_new_input"] == identity["new_file"]
    assert identity["full_refresh"] != identity["new_file"]
    # the other keys kept the rows they had; of the reported ones, the revised gross replaced
    # its row and the zero-revenue reports removed theirs
    assert [row for row in after if row[:3] not in reported] == [
        row for row in before if row[:3] not in reported
    ]
    assert [row[:3] for row in after if row[:3] in reported] == [
        (*scenario.revisions["revised"], region)
        for (title_id, day, region) in sorted(reported)
        if (title_id, day) == scenario.revisions["revised"]
    ]


def test_incremental_dim_fans_recomputes_only_the_fans_of_the_new_rows(scenario: Scenario) -> None:
    wh = scenario.incremental
    mark = scenario.watermarks["DIMS.dim_fans"]
    with wh.session() as session:
        recomputed = set(
            session.fetchall("SELECT fan_id FROM DIMS.dim_fans WHERE _ingest_seq > ?", [mark])
        )
        new_rows_fans = set(
            session.fetchall(
                "SELECT DISTINCT fan_id FROM STG.stg_fan_interactions WHERE _ingest_seq > ?",
                [scenario.watermarks["STG.stg_fan_interactions"]],
            )
        )
        fans = session.scalar("SELECT COUNT(*) FROM DIMS.dim_fans")
    assert recomputed == new_rows_fans
    assert 0 < len(recomputed) < fans
    # every other fan kept its row from before the new file, as the full refresh computes it
    unchanged = [
        row
        for row in scenario.silver["no_new_input"]["DIMS.dim_fans"]
        if (row[0],) not in recomputed
    ]
    assert set(unchanged) <= set(scenario.silver["full_refresh"]["DIMS.dim_fans"])
    assert len(unchanged) + len(recomputed) == fans


def test_fan_lifetime_value_refresh_is_scoped_to_the_changed_fans(scenario: Scenario) -> None:
    """agg_fan_lifetime_value declares refresh_key fan_id: the twin recomputes just the fans
    whose dim_fans or interaction rows changed. Both inputs are stamped, so nothing is hashed
    and no per-fan state is kept: the changed fans are those dim_fans wrote again (a version
    above the one the last refresh saw) and those with interactions after its stamp."""
    nodes = scenario.dbt.manifest_json["nodes"]
    by_name = {node["name"]: uid for uid, node in nodes.items()}
    new_file = scenario.runs["new_file"]
    scoped = new_file.node_message[by_name["agg_fan_lifetime_value"]]
    whole = new_file.node_message[by_name["agg_franchise_performance"]]
    changed_fans = int(scoped.split("key-scoped: ")[1].split(" ")[0])
    fans = len(scenario.silver["new_file"]["DIMS.dim_fans"])
    assert 0 < changed_fans < fans
    assert whole.startswith("FULL") and "AUTO: neither on append nor key-scoped" in whole, whole

    wh = scenario.incremental
    seen = max(scenario.fan_versions["no_new_input"].values())
    rewritten = {fan for fan, v in scenario.fan_versions["new_file"].items() if v > seen}
    with wh.session() as session:
        arrived = {
            fan
            for (fan,) in session.fetchall(
                "SELECT DISTINCT fan_id FROM STG.stg_fan_interactions WHERE _ingest_seq > ?",
                [scenario.watermarks["STG.stg_fan_interactions"]],
            )
        }
        state = session.fetchall(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'DT_KEY_FINGERPRINTS%'"
        )
    assert arrived <= rewritten  # a fan with new interactions gets a new row
    assert changed_fans == len(rewritten | arrived)
    assert state == []

    recorded = refreshes(wh, scenario.runs["full_refresh"])["MARKETING.agg_fan_lifetime_value"]
    fingerprints = json.loads(_history_value(wh, recorded, "INPUT_FINGERPRINTS"))
    # dim_fans is versioned: fingerprinted by count, highest version (1 after the
    # --full-refresh run) and its build mark
    assert fingerprints[f"{DATABASE_NAME}.DIMS.DIM_FANS"] == {
        "rowCount": fans,
        "contentHash": f"versioned:1:{build_mark(wh, 'dim_fans')}",
    }
    assert build_mark(wh, "dim_fans").startswith("stamped build ")
    # the interactions are append-only: not hashed, fingerprinted by count, highest stamp and
    # the build mark of the --full-refresh run
    rows = len(scenario.silver["full_refresh"]["STG.stg_fan_interactions"])
    top = max(row[-2] for row in scenario.silver["full_refresh"]["STG.stg_fan_interactions"])
    assert fingerprints[f"{DATABASE_NAME}.STG.STG_FAN_INTERACTIONS"] == {
        "rowCount": rows,
        "contentHash": f"appended:{top}:{scenario.build_marks['full_refresh']}",
    }


def test_franchise_refresh_after_new_interactions_alone_adds_the_new_fans_to_its_counts(
    scenario: Scenario, tmp_path: Path
) -> None:
    """agg_franchise_performance declares refresh_on_append: when new interactions are the
    only change, its refresh adds the fans new to each franchise and region to the table's
    counts instead of counting every interaction's fan again, and gives the rows a rebuild
    gives. The new day brings fans already counted for a franchise and region and fans new
    to one, so counting either wrongly shows. dim_fans writes the day's fans under the next
    version and leaves every other row as it was."""
    franchise, fans = "STUDIO_OPS.agg_franchise_performance", "DIMS.dim_fans"
    wh = ReplayedWarehouse(tmp_path / "on_append", scenario.incremental.generated, scenario.dbt)
    wh.land(path for path in scenario.files if path != scenario.new_file)
    wh.load_bronze()
    wh.dbt("run", *MODELS_ONLY)
    before = wh.rows(franchise)
    fans_before = {row[0]: row for row in wh.rows(CONTENT[fans])}
    versions_before = dict(wh.rows(f"(SELECT fan_id, _row_version FROM {fans})"))
    with wh.session() as session:
        mark = session.scalar("SELECT max(_ingest_seq) FROM STG.stg_fan_interactions")
    wh.land([scenario.new_file])
    wh.load_bronze()
    run = wh.dbt("run", *MODELS_ONLY)

    message = run.node_message["model.sony_de.agg_franchise_performance"]
    assert message.startswith("INCREMENTAL"), message
    assert (
        f"on append: {DATABASE_NAME}.STG.STG_FAN_INTERACTIONS after _ingest_seq {mark}" in message
    )
    refresh = refreshes(wh, run)[franchise]
    with wh.session() as session:
        keys = session.fetchall(
            "SELECT DISTINCT titles.franchise, i.region, i.fan_id, i._ingest_seq > ? "
            "FROM STG.stg_fan_interactions AS i JOIN DIMS.dim_titles AS titles USING (title_id)",
            [mark],
        )
    assert (refresh.refresh_trigger, refresh.refresh_action) == ("MANUAL", "INCREMENTAL")
    earlier = {key[:3] for key in keys if not key[3]}
    appended = {key[:3] for key in keys if key[3]}
    assert appended & earlier, "the new day has fans already counted for a franchise and region"
    assert appended - earlier, "the new day has fans new to a franchise and region"
    refreshed = wh.rows(franchise)
    assert refreshed != before

    fans_after = {row[0]: row for row in wh.rows(CONTENT[fans])}
    versions_after = dict(wh.rows(f"(SELECT fan_id, _row_version FROM {fans})"))
    written = {fan for fan, version in versions_after.items() if version > 1}
    assert set(versions_after.values()) == {1, 2}
    assert {fan for fan, row in fans_after.items() if fans_before.get(fan) != row} <= written
    assert all(versions_before[fan] == 1 for fan in versions_before)
    assert {key[2] for key in keys if key[3]} <= written

    lifetime_value = wh.rows("MARKETING.agg_fan_lifetime_value")
    wh.dbt("run", "--select", *GOLD_MODELS, "--full-refresh")
    assert wh.rows(franchise) == refreshed
    assert wh.rows("MARKETING.agg_fan_lifetime_value") == lifetime_value


def test_refresh_on_append_naming_a_cte_the_query_lacks_fails_the_model_and_says_so(
    tmp_path: Path,
) -> None:
    """A refresh_on_append entry must name a CTE of the model's query: a misspelt one fails
    the model on any run, before its query runs, with the file and what to do."""
    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    config = project / "models" / "gold" / "studio_ops" / "agg_franchise_performance.yml"
    text = config.read_text()
    assert "franchise_fans: franchise_fans_after_append" in text
    config.write_text(text.replace("franchise_fans: franchise_", "franchise_fan: franchise_"))
    with scoped_environment(dbt_profile_env(Engine.DUCKDB, tmp_path / "SONY_DE.duckdb")):
        result = dbtRunner().invoke(
            ["run", "--select", "agg_franchise_performance", "--project-dir", str(project)]
            + ["--profiles-dir", str(project), "--target", "local", "--quiet"]
            + ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
        )
    assert not result.success
    [failed] = result.result.results
    assert failed.status == "error"
    assert "models/gold/studio_ops/agg_franchise_performance.sql" in failed.message
    assert "refresh_on_append names CTE 'franchise_fan'" in failed.message
    assert "name a CTE of the query, or remove it from refresh_on_append" in failed.message


def test_append_only_build_mark_changes_only_with_a_build_from_scratch(
    scenario: Scenario,
) -> None:
    marks = scenario.build_marks
    assert marks["first"].startswith("stamped build ")
    assert marks["first"] == marks["no_new_input"] == marks["new_file"]
    assert marks["full_refresh"].startswith("stamped build ")
    assert marks["full_refresh"] != marks["first"]


def test_append_only_input_short_of_its_rows_cannot_be_key_scoped(scenario: Scenario) -> None:
    """Under AUTO such a refresh is a rebuild; under INCREMENTAL, a diff of the whole query."""
    model = "model.sony_de.agg_fan_lifetime_value"
    relation = "MARKETING.agg_fan_lifetime_value"
    wh = scenario.incremental
    auto = scenario.runs["row_lost"]
    assert list(auto.node_message) == [model]
    assert auto.node_message[model].startswith("FULL"), auto.node_message
    assert "AUTO: neither on append nor key-scoped" in auto.node_message[model]
    assert refreshes(wh, auto)[relation].refresh_action == "FULL"

    created = refreshes(wh, scenario.runs["incremental_mode"])[relation]
    assert (created.refresh_trigger, created.refresh_action) == ("CREATION", "FULL")
    rows = json.loads(created.statistics)["numInsertedRows"]
    diff = scenario.runs["incremental_mode_row_lost"]
    message = diff.node_message[model]
    assert message.startswith("INCREMENTAL") and "whole query" in message, message
    refresh = refreshes(wh, diff)[relation]
    assert (refresh.refresh_trigger, refresh.refresh_action) == ("MANUAL", "INCREMENTAL")
    statistics = json.loads(refresh.statistics)
    # one interaction fewer changes a fan's row or none: a diff, not the table rewritten
    assert statistics["numDeletedRows"] == statistics["numInsertedRows"] <= 1 < rows


def _history_value(warehouse: ReplayedWarehouse, refresh: DynamicTableRefresh, column: str) -> str:
    with warehouse.session() as session:
        return session.scalar(
            f"SELECT CAST({column} AS VARCHAR) FROM GOVERNANCE.DYNAMIC_TABLE_REFRESH_HISTORY "
            "WHERE QUALIFIED_NAME = ? AND QUERY_ID = ?",
            [refresh.qualified_name, refresh.query_id],
        )


def test_superseded_box_office_is_recomputed_and_an_emptied_day_deleted(
    scenario: Scenario,
) -> None:
    vanishing, revised = scenario.revisions["vanishing"], scenario.revisions["revised"]

    def daily(label: str, key: tuple) -> list[tuple]:
        return [
            row for row in scenario.silver[label]["FACTS.fact_daily_performance"] if row[:2] == key
        ]

    assert len(daily("no_new_input", vanishing)) == 1
    assert daily("new_file", vanishing) == [] == daily("full_refresh", vanishing)
    [before] = daily("no_new_input", revised)
    [after] = daily("new_file", revised)
    gross = 11  # box_office_gross_usd
    assert after[gross] == before[gross] + 1000
    assert daily("new_file", revised) == daily("full_refresh", revised)


def test_a_changed_query_recreates_only_that_dynamic_table(scenario: Scenario) -> None:
    recorded = refreshes(scenario.incremental, scenario.runs["changed_query"])
    lifetime_value = recorded["MARKETING.agg_fan_lifetime_value"]
    franchise = recorded["STUDIO_OPS.agg_franchise_performance"]
    assert (lifetime_value.refresh_trigger, lifetime_value.refresh_action) == ("CREATION", "FULL")
    assert (franchise.refresh_trigger, franchise.refresh_action) == ("MANUAL", "NO_DATA")


def _dim_fans_run_without(
    warehouse: ReplayedWarehouse, column: str
) -> tuple[list[tuple], list[tuple]]:
    """Drop `column` from dim_fans, as a table built before it existed lacks it, and run
    dim_fans incrementally: it must succeed with the rows it had. Returns those rows (without
    _row_version) and the distinct row versions after the run."""
    built = warehouse.rows(CONTENT["DIMS.dim_fans"])
    with warehouse.session() as session:
        session.execute(f"ALTER TABLE DIMS.dim_fans DROP COLUMN {column}")
    run = warehouse.dbt("run", "--select", "dim_fans")
    assert run.node_status == {"model.sony_de.dim_fans": "success"}
    assert warehouse.rows(CONTENT["DIMS.dim_fans"]) == built
    return built, warehouse.rows("(SELECT DISTINCT _row_version FROM DIMS.dim_fans)")


def test_dim_fans_built_before_its_watermark_catches_up_in_one_incremental_run(
    scenario: Scenario,
) -> None:
    """A warehouse whose dim_fans predates the _ingest_seq watermark needs no --full-refresh:
    the column is added empty and the first incremental run recomputes every fan."""
    built, versions = _dim_fans_run_without(scenario.scratch, "_ingest_seq")
    assert built == scenario.silver["full_refresh"]["DIMS.dim_fans"]
    # every fan was written again, by the run after the build (version 1)
    assert versions == [(2,)]


def test_dim_fans_built_before_its_row_version_catches_up_in_one_incremental_run(
    scenario: Scenario,
) -> None:
    """A dim_fans table from before _row_version needs no --full-refresh either: the first
    incremental run recomputes every fan, so that no row is left without a version."""
    _, versions = _dim_fans_run_without(scenario.scratch, "_row_version")
    assert versions == [(1,)]


def test_fact_box_office_built_before_its_watermark_catches_up_in_one_incremental_run(
    scenario: Scenario,
) -> None:
    """A fact_box_office table from before the _ingest_seq watermark (it was rebuilt by every
    run) needs no --full-refresh: the column is added and the first incremental run reads
    every report once, replacing every key, a stale row included."""
    wh = scenario.scratch
    built = wh.rows("FACTS.fact_box_office")
    with wh.session() as session:
        session.execute("ALTER TABLE FACTS.fact_box_office DROP COLUMN _ingest_seq")
        session.execute(
            "UPDATE FACTS.fact_box_office SET gross_revenue_usd = gross_revenue_usd + 1 "
            "WHERE (title_id, report_date, region) = "
            "(SELECT (title_id, report_date, region) FROM FACTS.fact_box_office "
            "ORDER BY ALL LIMIT 1)"
        )
    run = wh.dbt("run", "--select", "fact_box_office")
    assert run.node_status == {"model.sony_de.fact_box_office": "success"}
    assert wh.rows("FACTS.fact_box_office") == built
