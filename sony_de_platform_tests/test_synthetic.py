"""The synthetic landing data keeps the data contract, and its manifest tells the truth.

The manifest is what downstream tests predict Bronze and Silver counts from, so every count
in it is checked here against an independent re-reading of the files: the audit below knows
the contract (layout, fields, defect rules), not the generator's internals.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sony_de_platform.synthetic import MANIFEST_FILE, generate_landing_data

# The contract, restated independently of the generator's constants.
WINDOW_START, WINDOW_DAYS = date(2026, 6, 1), 90
REGIONS = {"NA", "EMEA", "APAC", "LATAM"}
GENRES = {
    "Action", "Adventure", "Animation", "Comedy", "Drama", "Fantasy", "Horror", "Sci-Fi",
    "Thriller", "Romance", "Documentary",
}  # fmt: skip
PURCHASES = {"ticket_purchase", "stream_rental", "merch_purchase"}
INTERACTION_TYPES = PURCHASES | {"view", "like", "share", "review"}
CHANNELS = {"web", "mobile", "theater", "social"}
PII_KEYS = {"full_name", "phone", "date_of_birth"}
TITLE_HEADER = (
    "title_id,title_name,franchise,genre,release_date,imdb_score,runtime_minutes,"
    "mpaa_rating,budget_usd"
)
BOX_OFFICE_SCHEMA = [
    ("title_id", "VARCHAR"), ("report_date", "DATE"), ("region", "VARCHAR"),
    ("screens", "INTEGER"), ("tickets_sold", "INTEGER"), ("gross_revenue_usd", "DOUBLE"),
]  # fmt: skip
DEFECT_RATES = {
    "fan_interactions": {
        "malformed_line": 0.005, "missing_required_key": 0.005, "duplicate": 0.01,
        "malformed_email": 0.01, "future_timestamp": 0.003,
    },
    "title_metadata": {
        "malformed_line": 0.005, "missing_required_key": 0.005, "duplicate": 0.01,
        "imdb_out_of_range": 0.02,
    },
    "box_office": {"missing_required_key": 0.005, "duplicate": 0.01, "non_positive_revenue": 0.01},
}  # fmt: skip
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
EVENT_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ID_FORMATS = {
    "interaction_id": re.compile(r"^INT-\d{10}$"),
    "fan_id": re.compile(r"^FAN-\d{7}$"),
    "title_id": re.compile(r"^TT-\d{6}$"),
}

# Scale-1 targets from the brief; actual volumes must land within 10%.
SCALE_ONE_TARGETS = {
    ("entities", "titles"): 1_000,
    ("entities", "franchises"): 60,
    ("entities", "theatrical_titles"): 400,
    ("entities", "fans"): 24_000,
    ("entities", "verified_fans"): 14_400,
    ("entities", "guest_fans"): 9_600,
    ("entities", "fans_with_profile_change"): 7_200,
    ("entities", "verified_fans_with_purchase"): 11_250,
    ("feeds", "fan_interactions", "lines"): 181_000,
    ("feeds", "fan_interactions", "silver_title_days"): 57_500,
    ("feeds", "box_office", "lines"): 22_400,
}


# --- an independent audit of a landing folder --------------------------------------------------


@dataclass
class FeedAudit:
    """Counts re-derived from the files of one feed: lines and defects per file."""

    per_file: dict[str, Counter] = field(default_factory=dict)
    keys: set[Any] = field(default_factory=set)

    def file(self, path: str) -> Counter:
        return self.per_file.setdefault(path, Counter())

    def totals(self) -> Counter:
        return sum(self.per_file.values(), Counter())


@dataclass
class Audit:
    """What a correct pipeline would find in the landing folder."""

    feeds: dict[str, FeedAudit] = field(default_factory=lambda: defaultdict(FeedAudit))
    interactions: list[dict[str, Any]] = field(default_factory=list)  # unique, loadable
    titles: dict[str, list[str]] = field(default_factory=dict)  # unique, loadable
    box_office: list[tuple] = field(default_factory=list)  # unique, loadable


def _first_delivery(
    feed: FeedAudit, counts: Counter, key: Any, record: Any, defects: list[str], seen: dict
) -> bool:
    """Count a loadable record's defects; True for the first delivery of its business key.

    A record carries at most one defect, and a later delivery must copy a clean record exactly.
    """
    assert len(defects) <= 1, f"{key} carries {defects}"
    if key in seen:
        assert seen[key] == (record, []) and not defects, f"{key}: not a copy of a clean record"
        counts["duplicate"] += 1
        return False
    seen[key] = (record, defects)
    counts.update(defects)
    feed.keys.add(key)
    return True


def _defects(**checks: bool) -> list[str]:
    return [kind for kind, failed in checks.items() if failed]


def audit_landing(root: Path) -> Audit:
    """Re-read every landing file and count records and defects by the contract's rules."""
    audit = Audit()
    _audit_interactions(root, audit)
    _audit_titles(root, audit)
    _audit_box_office(root, audit)
    return audit


def _audit_interactions(root: Path, audit: Audit) -> None:
    feed, seen = audit.feeds["fan_interactions"], {}
    for path in sorted((root / "fan_interactions").glob("*.jsonl")):
        counts = feed.file(path.relative_to(root).as_posix())
        for line in path.read_text(encoding="utf-8").splitlines():
            counts["lines"] += 1
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                counts["malformed_line"] += 1
                continue
            if not all(record.get(key) for key in ("interaction_id", "fan_id")):
                counts["missing_required_key"] += 1
                continue
            defects = _defects(
                malformed_email=not EMAIL.match(record["email"]),
                future_timestamp=int(record["event_ts"][:4]) > 2026,
            )
            if _first_delivery(feed, counts, record["interaction_id"], line, defects, seen):
                audit.interactions.append(record)


def _audit_titles(root: Path, audit: Audit) -> None:
    feed, seen = audit.feeds["title_metadata"], {}
    for path in sorted((root / "title_metadata").glob("*.csv")):
        counts = feed.file(path.relative_to(root).as_posix())
        with path.open(newline="", encoding="utf-8") as handle:
            header, *rows = csv.reader(handle)
        assert ",".join(header) == TITLE_HEADER
        for row in rows:
            counts["lines"] += 1
            if len(row) != len(header):
                counts["malformed_line"] += 1
                continue
            if not row[0]:
                counts["missing_required_key"] += 1
                continue
            defects = _defects(imdb_out_of_range=not 0 <= float(row[5]) <= 10)
            if _first_delivery(feed, counts, row[0], row, defects, seen):
                audit.titles[row[0]] = row


def _audit_box_office(root: Path, audit: Audit) -> None:
    feed, seen = audit.feeds["box_office"], {}
    for path in sorted((root / "box_office").glob("*.parquet")):
        counts = feed.file(path.relative_to(root).as_posix())
        for row in duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetchall():
            counts["lines"] += 1
            if any(value is None for value in row[:3]):
                counts["missing_required_key"] += 1
                continue
            defects = _defects(non_positive_revenue=row[5] <= 0)
            if _first_delivery(feed, counts, row[:3], row, defects, seen):
                audit.box_office.append(row)


def _generate(root: Path, scale: float, seed: int = 42) -> dict:
    manifest = generate_landing_data(root, scale=scale, seed=seed)
    assert json.loads((root / MANIFEST_FILE).read_text()) == manifest
    return manifest


def _hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _assert_manifest_matches(manifest: dict, audit: Audit) -> None:
    """Per-file and per-feed counts of the manifest equal the audit's."""
    entries = {entry["path"]: entry for entry in manifest["files"]}
    for name, feed in audit.feeds.items():
        assert set(feed.per_file) == {p for p, e in entries.items() if e["feed"] == name}
        for path, counts in feed.per_file.items():
            expected = {kind: counts[kind] for kind in DEFECT_RATES[name]}
            assert entries[path]["defects"] == expected, path
            assert entries[path]["lines"] == counts["lines"], path
        totals = feed.totals()
        quarantined = totals["malformed_line"] + totals["missing_required_key"]
        summary = manifest["feeds"][name]
        assert summary["defects"] == {kind: totals[kind] for kind in DEFECT_RATES[name]}
        assert summary["files"] == len(feed.per_file)
        assert summary["lines"] == totals["lines"]
        assert summary["quarantined"] == quarantined
        assert summary["loadable_records"] == totals["lines"] - quarantined
        assert summary["unique_records"] == len(feed.keys)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Audit]:
    """A small landing folder, its manifest and the audit of its files."""
    root = tmp_path_factory.mktemp("landing")
    manifest = _generate(root, scale=0.1, seed=7)
    return root, manifest, audit_landing(root)


# --- determinism and layout --------------------------------------------------------------------


def test_same_seed_and_scale_give_byte_identical_files(tmp_path: Path) -> None:
    _generate(tmp_path / "a", scale=0.02)
    _generate(tmp_path / "b", scale=0.02)
    first, second = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert len(first) == 90 + 3 + 13 + 1
    assert first == second


def test_a_different_seed_gives_different_files(tmp_path: Path) -> None:
    _generate(tmp_path / "a", scale=0.02, seed=1)
    _generate(tmp_path / "b", scale=0.02, seed=2)
    first, second = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert first.keys() == second.keys()
    differing = [path for path in first if first[path] != second[path]]
    assert len(differing) == len(first)


def test_layout_follows_the_contract(landing: tuple[Path, dict, Audit]) -> None:
    root, manifest, _ = landing
    days = [WINDOW_START + timedelta(days=d) for d in range(WINDOW_DAYS)]
    expected = (
        {f"fan_interactions/fan_interactions_{day}.jsonl" for day in days}
        | {f"title_metadata/title_metadata_2026-{month:02d}.csv" for month in (6, 7, 8)}
        | {f"box_office/box_office_{day}.parquet" for day in days if day.weekday() == 0}
    )
    assert set(_hashes(root)) == expected | {MANIFEST_FILE}
    assert {entry["path"] for entry in manifest["files"]} == expected
    assert manifest["window"] == {"start": "2026-06-01", "days": 90, "end": "2026-08-29"}
    assert (manifest["seed"], manifest["scale"]) == (7, 0.1)
    for entry in manifest["files"]:
        assert entry["sha256"] == hashlib.sha256((root / entry["path"]).read_bytes()).hexdigest()


def test_box_office_parquet_has_the_contract_columns_and_types(
    landing: tuple[Path, dict, Audit],
) -> None:
    root, _, _ = landing
    for path in (root / "box_office").glob("*.parquet"):
        described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        assert [(name, kind) for name, kind, *_ in described] == BOX_OFFICE_SCHEMA


# --- defects: the manifest tells the truth -----------------------------------------------------


def test_manifest_defect_counts_match_the_files(landing: tuple[Path, dict, Audit]) -> None:
    _, manifest, audit = landing
    _assert_manifest_matches(manifest, audit)
    for name, rates in DEFECT_RATES.items():
        unique = manifest["feeds"][name]["unique_records"]
        expected = {kind: int(rate * unique + 0.5) for kind, rate in rates.items()}
        assert manifest["feeds"][name]["defects"] == expected
        assert all(expected.values()), f"scale 0.1 should carry every defect of {name}"


def test_the_audit_catches_a_tampered_file(tmp_path: Path) -> None:
    manifest = _generate(tmp_path, scale=0.02)
    day_file = tmp_path / "fan_interactions" / "fan_interactions_2026-06-02.jsonl"
    lines = day_file.read_text().splitlines()
    day_file.write_text("\n".join([*lines, lines[0], lines[1][:-1]]) + "\n")
    with pytest.raises(AssertionError):
        _assert_manifest_matches(manifest, audit_landing(tmp_path))


def test_quarantined_lines_are_copies_so_nothing_is_lost(landing: tuple[Path, dict, Audit]) -> None:
    _, manifest, audit = landing
    assert len(audit.titles) == manifest["entities"]["titles"]
    assert len({r["fan_id"] for r in audit.interactions}) == manifest["entities"]["fans"]


# --- record formats ----------------------------------------------------------------------------


def test_interaction_records_follow_the_contract(landing: tuple[Path, dict, Audit]) -> None:
    _, _, audit = landing
    for record in audit.interactions:
        for key, pattern in ID_FORMATS.items():
            assert pattern.match(record[key]), record
        assert record["title_id"] in audit.titles
        assert record["region"] in REGIONS and record["preferred_genre"] in GENRES
        assert record["interaction_type"] in INTERACTION_TYPES
        assert record["channel"] in CHANNELS
        assert EVENT_TS.match(record["event_ts"])
        amount = record["amount_usd"]
        if record["interaction_type"] in PURCHASES:
            assert amount > 0 and round(amount, 2) == amount
        else:
            assert amount is None
        if record["interaction_type"] == "review":
            assert record["rating"] in range(1, 6)
        else:
            assert record["rating"] is None
        pii = PII_KEYS & record.keys()
        assert pii == (PII_KEYS if record["fan_type"] == "verified" else set()), record


def test_interactions_are_in_their_day_file_and_on_released_titles(
    landing: tuple[Path, dict, Audit],
) -> None:
    root, _, audit = landing
    releases = {tid: date.fromisoformat(row[4]) for tid, row in audit.titles.items()}
    for path in (root / "fan_interactions").glob("*.jsonl"):
        day = date.fromisoformat(path.stem.removeprefix("fan_interactions_"))
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if int(record["event_ts"][:4]) > 2026:
                assert 2031 <= int(record["event_ts"][:4]) <= 2035
                continue
            assert record["event_ts"][:10] == day.isoformat()
            assert releases[record["title_id"]] <= day


def test_catalog_files_hold_the_titles_released_in_their_month(
    landing: tuple[Path, dict, Audit],
) -> None:
    root, _, _ = landing
    for path in (root / "title_metadata").glob("*.csv"):
        month = date.fromisoformat(path.stem.removeprefix("title_metadata_") + "-01")
        with path.open(newline="") as handle:
            for row in list(csv.reader(handle))[1:]:
                if len(row) != 9 or not row[0]:
                    continue
                release = date.fromisoformat(row[4])
                if month == WINDOW_START:
                    assert release < date(2026, 7, 1)
                else:
                    assert (release.year, release.month) == (month.year, month.month)
                assert row[3] in GENRES and row[2]


def test_emails_are_valid_stable_per_fan_and_only_defects_fail(
    landing: tuple[Path, dict, Audit],
) -> None:
    _, _, audit = landing
    emails: dict[str, set[str]] = defaultdict(set)
    for record in audit.interactions:
        if EMAIL.match(record["email"]):
            assert record["email"] == record["email"].strip().lower()
            emails[record["fan_id"]].add(record["email"])
        else:
            assert "@" not in record["email"] or "." not in record["email"].split("@")[1]
    assert all(len(addresses) == 1 for addresses in emails.values())
    owners = Counter(next(iter(addresses)) for addresses in emails.values())
    assert max(owners.values()) == 1


def test_box_office_runs_fourteen_days_in_four_regions(landing: tuple[Path, dict, Audit]) -> None:
    _, manifest, audit = landing
    runs: dict[str, set[tuple[date, str]]] = defaultdict(set)
    for title_id, report_date, region, screens, tickets, gross in audit.box_office:
        runs[title_id].add((report_date, region))
        if gross > 0:
            assert screens > 0 and 8 <= gross / tickets <= 16
    assert len(runs) == manifest["entities"]["theatrical_titles"]
    for title_id, days in runs.items():
        release = date.fromisoformat(audit.titles[title_id][4])
        assert days == {
            (release + timedelta(days=d), region) for d in range(14) for region in REGIONS
        }


# --- Silver predictions ------------------------------------------------------------------------


def test_manifest_predicts_silver_counts(landing: tuple[Path, dict, Audit]) -> None:
    _, manifest, audit = landing
    current = [r for r in audit.interactions if int(r["event_ts"][:4]) <= 2026]
    purchases = [r for r in current if r["amount_usd"] is not None]
    profiles: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for record in current:
        profiles[record["fan_id"]].add((record["region"], record["preferred_genre"]))
    interaction_days = {(r["title_id"], r["event_ts"][:10]) for r in current}
    grossing = [row for row in audit.box_office if row[5] > 0]
    box_office_days = {(row[0], row[1].isoformat()) for row in grossing}
    franchise = {tid: row[2] for tid, row in audit.titles.items()}
    franchise_regions = {(franchise[r["title_id"]], r["region"]) for r in current} | {
        (franchise[row[0]], row[2]) for row in grossing
    }

    fans, titles, box = (manifest["feeds"][name] for name in DEFECT_RATES)
    assert fans["silver_records"] == len(current)
    assert fans["silver_fans"] == len(profiles) == manifest["entities"]["fans"]
    assert fans["silver_purchases"] == len(purchases)
    assert fans["silver_amount_usd"] == pytest.approx(sum(r["amount_usd"] for r in purchases))
    assert fans["silver_invalid_emails"] == sum(not EMAIL.match(r["email"]) for r in current)
    assert fans["silver_title_days"] == len(interaction_days)
    assert titles["silver_records"] == len(audit.titles)
    assert titles["valid_imdb_scores"] == sum(0 <= float(r[5]) <= 10 for r in audit.titles.values())
    assert box["silver_records"] == len(grossing)
    assert box["silver_title_days"] == len(box_office_days)
    assert box["silver_gross_revenue_usd"] == pytest.approx(sum(row[5] for row in grossing))

    entities = manifest["entities"]
    assert entities["verified_fans_with_purchase"] == len(
        {r["fan_id"] for r in purchases if r["fan_type"] == "verified"}
    )
    assert entities["fans_with_purchase"] == len({r["fan_id"] for r in purchases})
    assert entities["fans_with_observed_profile_change"] == sum(
        len(seen) > 1 for seen in profiles.values()
    )
    assert entities["daily_performance_rows"] == len(interaction_days | box_office_days)
    assert entities["franchise_regions"] == len(franchise_regions)
    assert entities["franchises"] == len(set(franchise.values()))


def test_profile_changes_show_up_as_history(landing: tuple[Path, dict, Audit]) -> None:
    _, manifest, _ = landing
    entities = manifest["entities"]
    assert 0 < entities["fans_with_observed_profile_change"] <= entities["fans_with_profile_change"]
    assert entities["fans_with_profile_change"] == round(entities["fans"] * 0.30)


# --- scales ------------------------------------------------------------------------------------


def test_a_tiny_scale_still_fills_every_feed(tmp_path: Path) -> None:
    manifest = _generate(tmp_path, scale=0.02)
    _assert_manifest_matches(manifest, audit_landing(tmp_path))
    for name, summary in manifest["feeds"].items():
        assert summary["silver_records"] > 0, name
        for kind, rate in DEFECT_RATES[name].items():
            assert summary["defects"][kind] == int(rate * summary["unique_records"] + 0.5)


def test_scale_one_volumes_hit_the_targets(tmp_path: Path) -> None:
    started = time.perf_counter()
    manifest = _generate(tmp_path, scale=1.0)
    elapsed = time.perf_counter() - started
    assert elapsed < 60, f"scale 1 took {elapsed:.1f}s"
    for path, target in SCALE_ONE_TARGETS.items():
        actual = manifest
        for key in path:
            actual = actual[key]
        assert abs(actual - target) <= 0.10 * target, f"{'.'.join(path)}: {actual} vs {target}"
    for entry in manifest["files"]:
        if entry["feed"] == "fan_interactions":
            text = (tmp_path / entry["path"]).read_bytes()
            assert text.count(b"\n") == entry["lines"]
