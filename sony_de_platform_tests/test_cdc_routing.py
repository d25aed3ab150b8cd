"""PII routing on real DuckDB files: the vault and the guest table against the generator's
ground truth and an independent reading of the landing files; exactly once under crashes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from sony_de_platform.bronze.feeds import FAN_INTERACTIONS
from sony_de_platform.bronze.loader import load_feed
from sony_de_platform.bronze.parsing import ParsedRecord, read_records
from sony_de_platform.cdc.pii_isolation import find_clear_pii
from sony_de_platform.cdc.routing import GUESTS, VAULT, route_fan_pii
from sony_de_platform.cdc.status import streams_report
from sony_de_platform.cdc.streams import FAN_INTERACTIONS_STREAM
from sony_de_platform.settings import REPO_ROOT, Settings, load_settings
from sony_de_platform.synthetic import generate_landing_data
from sony_de_platform.warehouse import Warehouse, build_warehouse
from sony_de_platform.warehouse.streams import streams

SCALE, SEED = 0.03, 5
VALID_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
VAULT_ROWS = (
    f"SELECT fan_id, email, full_name, phone, date_of_birth, email_hash, source_ingest_seq "
    f"FROM {VAULT} ORDER BY fan_id"
)
GUEST_ROWS = f"SELECT fan_id, email_hash, source_ingest_seq FROM {GUESTS} ORDER BY fan_id"


def email_hash(email: str | None) -> str | None:
    """The contract's hash, restated: SQL TRIM strips spaces only, so strip(' ')."""
    if email is None or not VALID_EMAIL.fullmatch(email.strip(" ")):
        return None
    return hashlib.sha256(email.strip(" ").lower().encode()).hexdigest()


@dataclass
class Landing:
    root: Path
    manifest: dict
    first_batch: list[Path]  # fan-interaction files, oldest names first
    second_batch: list[Path]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Landing:
    root = tmp_path_factory.mktemp("generated")
    manifest = generate_landing_data(root, scale=SCALE, seed=SEED)
    files = sorted((root / FAN_INTERACTIONS.folder).glob("*.jsonl"))
    half = len(files) // 2
    return Landing(root, manifest, files[:half], files[half:])


def deliver(settings: Settings, landing: Landing, files: list[Path]) -> None:
    """Drop files into the landing folder and load them into RAW (Bronze)."""
    for path in files:
        target = settings.landing_dir / path.relative_to(landing.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    with build_warehouse(settings).session() as session:
        load_feed(session, FAN_INTERACTIONS, settings.landing_dir)


def route(warehouse: Warehouse) -> None:
    with warehouse.session() as session:
        route_fan_pii(session, "test")


def read(warehouse: Warehouse, sql: str) -> list[tuple]:
    with warehouse.session(read_only=True) as session:
        return session.fetchall(sql)


def expected_identities(files: list[Path]) -> tuple[dict[str, tuple], dict[str, str | None]]:
    """Vault rows and guest hashes implied by the files, restated without SQL: records load
    in file-name then line order (as Bronze parses them); the fan keeps its newest record
    with a valid e-mail, else its newest record; verified fans go to the vault, the others
    are guests."""
    kept: dict[str, tuple[bool, int, dict]] = {}
    verified_fans: set[str] = set()  # a fan seen verified once is verified
    arrival = 0
    for path in sorted(files):
        for parsed in read_records(FAN_INTERACTIONS, path, path.read_bytes()):
            if not isinstance(parsed, ParsedRecord):
                continue  # quarantined by Bronze
            record = dict(zip(FAN_INTERACTIONS.fields, parsed.values, strict=True))
            arrival += 1
            if record.get("fan_type") == "verified":
                verified_fans.add(record["fan_id"])
            rank = (email_hash(record.get("email")) is not None, arrival)
            fan = record["fan_id"]
            if fan not in kept or rank > kept[fan][:2]:
                kept[fan] = (*rank, record)
    vault: dict[str, tuple] = {}
    guests: dict[str, str | None] = {}
    for fan, (_, _, record) in kept.items():
        if fan in verified_fans:
            vault[fan] = (
                record["email"],
                record["full_name"],
                record["phone"],
                date.fromisoformat(record["date_of_birth"]),
                email_hash(record["email"]),
            )
        else:
            guests[fan] = email_hash(record.get("email"))
    return vault, guests


def test_verified_fans_reach_the_vault_and_guests_stay_hashed(
    landing: Landing, tmp_path: Path
) -> None:
    settings = load_settings({"SONY_DE_DATA_DIR": str(tmp_path / "data")})
    warehouse = build_warehouse(settings)
    deliver(settings, landing, landing.first_batch + landing.second_batch)
    route(warehouse)

    entities = landing.manifest["entities"]
    vault = {row[0]: row[1:6] for row in read(warehouse, VAULT_ROWS)}
    guests = {row[0]: row[1] for row in read(warehouse, GUEST_ROWS)}
    assert len(vault) == entities["verified_fans"]
    assert len(guests) == entities["guest_fans"]
    assert not vault.keys() & guests.keys()
    expected_vault, expected_guests = expected_identities(
        landing.first_batch + landing.second_batch
    )
    assert vault == expected_vault
    assert guests == expected_guests

    columns = read(
        warehouse,
        "SELECT lower(column_name) FROM information_schema.columns "
        "WHERE table_schema = 'STG' AND table_name = 'GUEST_FANS' ORDER BY ordinal_position",
    )
    assert [c for (c,) in columns] == ["fan_id", "email_hash", "source_ingest_seq", "routed_at"]
    with warehouse.session(read_only=True) as session:
        assert find_clear_pii(session)[0] == []
        assert not streams(session).has_data(FAN_INTERACTIONS_STREAM)


def test_routing_in_two_batches_equals_routing_in_one(landing: Landing, tmp_path: Path) -> None:
    in_one = load_settings({"SONY_DE_DATA_DIR": str(tmp_path / "one")})
    deliver(in_one, landing, landing.first_batch + landing.second_batch)
    route(build_warehouse(in_one))

    in_two = load_settings({"SONY_DE_DATA_DIR": str(tmp_path / "two")})
    deliver(in_two, landing, landing.first_batch)
    route(build_warehouse(in_two))
    first_vault = read(build_warehouse(in_two), VAULT_ROWS)
    deliver(in_two, landing, landing.second_batch)
    route(build_warehouse(in_two))

    assert len(first_vault) < landing.manifest["entities"]["verified_fans"]
    for sql in (VAULT_ROWS, GUEST_ROWS):
        assert read(build_warehouse(in_two), sql) == read(build_warehouse(in_one), sql)


# The routing process, killed by SIGKILL at one point of its consuming transaction.
CRASHING_ROUTER = """
import os, signal, sys
from sony_de_platform.cdc.routing import route_fan_pii
from sony_de_platform.settings import load_settings
from sony_de_platform.warehouse import build_warehouse
from sony_de_platform.warehouse.duckdb import DuckDBSession

data_dir, crash_point = sys.argv[1], sys.argv[2]
execute = DuckDBSession.execute
seen = []

def crash() -> None:
    print("crashing at", crash_point, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

def execute_then_maybe_crash(self, sql, params=None):
    consuming = any(s.lstrip().startswith("MERGE INTO SECURE") for s in seen)
    if crash_point == "before_commit" and consuming and sql == "COMMIT":
        crash()
    execute(self, sql, params)
    seen.append(sql)
    if crash_point == "after_reading" and sql.lstrip().startswith("MERGE INTO SECURE"):
        crash()
    if crash_point == "after_commit" and consuming and sql == "COMMIT":
        crash()

DuckDBSession.execute = execute_then_maybe_crash
with build_warehouse(load_settings({"SONY_DE_DATA_DIR": data_dir})).session() as session:
    route_fan_pii(session, "crashing run")
sys.exit(3)  # the crash point was never reached
"""


@pytest.fixture(scope="module")
def half_routed(landing: Landing, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder whose first batch is routed and whose second batch is loaded, pending."""
    settings = load_settings({"SONY_DE_DATA_DIR": str(tmp_path_factory.mktemp("half") / "d")})
    deliver(settings, landing, landing.first_batch)
    route(build_warehouse(settings))
    deliver(settings, landing, landing.second_batch)
    return settings.data_dir


def copy_of(data_dir: Path, target: Path) -> Warehouse:
    shutil.copytree(data_dir / "warehouse", target / "warehouse")
    return build_warehouse(load_settings({"SONY_DE_DATA_DIR": str(target)}))


CRASH_POINTS = ("after_reading", "before_commit", "after_commit")


@dataclass
class CrashedRun:
    warehouse: Warehouse
    returncode: int
    output: str


@pytest.fixture(scope="module")
def crashed_runs(
    half_routed: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, CrashedRun]:
    """One routing process per crash point, started together (they use separate copies)."""
    root = tmp_path_factory.mktemp("crashed")
    started = {}
    for point in CRASH_POINTS:
        warehouse = copy_of(half_routed, root / point)
        process = subprocess.Popen(
            [sys.executable, "-c", CRASHING_ROUTER, str(root / point), point],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started[point] = (warehouse, process)
    runs = {}
    for point, (warehouse, process) in started.items():
        output, _ = process.communicate(timeout=300)
        runs[point] = CrashedRun(warehouse, process.returncode, output)
    return runs


@pytest.fixture(scope="module")
def uninterrupted(half_routed: Path, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    warehouse = copy_of(half_routed, tmp_path_factory.mktemp("uninterrupted"))
    route(warehouse)
    return warehouse


@pytest.mark.parametrize("crash_point", CRASH_POINTS)
def test_a_crash_during_routing_then_a_rerun_equals_an_uninterrupted_run(
    landing: Landing,
    crashed_runs: dict[str, CrashedRun],
    uninterrupted: Warehouse,
    crash_point: str,
) -> None:
    run = crashed_runs[crash_point]
    assert run.returncode == -signal.SIGKILL, run.output
    assert f"crashing at {crash_point}" in run.output
    crashed = run.warehouse
    with crashed.session(read_only=True) as session:
        committed = not streams(session).has_data(FAN_INTERACTIONS_STREAM)
    assert committed == (crash_point == "after_commit")

    route(crashed)  # the re-run

    for sql in (
        VAULT_ROWS,
        GUEST_ROWS,
        "SELECT SUM(change_rows) FROM GOVERNANCE.STREAM_CONSUMPTIONS",
        f"SELECT COUNT(*) FROM {FAN_INTERACTIONS_STREAM.qualified_name}",
    ):
        assert read(crashed, sql) == read(uninterrupted, sql), sql
    assert len(read(crashed, VAULT_ROWS)) == landing.manifest["entities"]["verified_fans"]


def test_sony_de_streams_prints_the_stream_status(landing: Landing, tmp_path: Path) -> None:
    settings = load_settings({"SONY_DE_DATA_DIR": str(tmp_path / "data")})
    assert streams_report(settings).startswith("no warehouse yet at ")
    deliver(settings, landing, landing.first_batch)
    assert streams_report(settings).splitlines()[-1] == (
        "| RAW.FAN_INTERACTIONS_STREAM | RAW.RAW_FAN_INTERACTIONS | APPEND_ONLY "
        "| not created |  |  |  |"
    )
    route(build_warehouse(settings))
    deliver(settings, landing, landing.second_batch)
    pending = read(build_warehouse(settings), "SELECT COUNT(*) FROM RAW.FAN_INTERACTIONS_STREAM")
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("sony-de")), "streams"],
        env={**os.environ, "SONY_DE_DATA_DIR": str(settings.data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    row = completed.stdout.splitlines()[-1]
    assert row.startswith(
        "| RAW.FAN_INTERACTIONS_STREAM | SONY_DE.RAW.RAW_FAN_INTERACTIONS | APPEND_ONLY | false "
        f"| true | {pending[0][0]:,} | "
    )
    assert row.endswith(" UTC |")
