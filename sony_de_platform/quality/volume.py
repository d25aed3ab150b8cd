"""Bronze volume: does a feed's latest load look like its recent history?

The load being judged is the newest run's files in RAW.LOAD_LEDGER for the feed; its volume
is the mean rows per file. The baseline is the per-file rows of the files loaded *before*
that load (the window is never part of its own baseline, so a burst of bad files cannot
vouch for itself). The expected band is the baseline median plus or minus the larger of
`mad_multiplier` robust deviations (1.4826 x MAD) and `tolerance` x median.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from statistics import median

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
)

from sony_de_platform.bronze.assets import bronze_asset_key
from sony_de_platform.bronze.feeds import FEEDS, LEDGER_TABLE, RAW_SCHEMA, Feed
from sony_de_platform.quality.checks import value_metadata, warehouse_check_step
from sony_de_platform.settings import Engine
from sony_de_platform.warehouse import Session, Warehouse, qualified

VOLUME_CHECK = "load_volume_within_history"
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class VolumeRule:
    baseline_files: int = 28  # how many earlier files form the baseline
    min_baseline_files: int = 5  # fewer than this: not enough history to judge
    tolerance: float = 0.5  # relative band around the median, at least
    mad_multiplier: float = 4.0  # robust deviations around the median, at least


@dataclass(frozen=True)
class VolumeVerdict:
    feed: str
    passed: bool
    reason: str
    load_files: tuple[tuple[str, int], ...] = ()
    rows_per_file: float | None = None
    baseline_files: int = 0
    baseline_median: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def expectation(self) -> str:
        if self.low is None or self.high is None:
            return "enough history to judge"
        return f"{self.low:,.0f} <= rows per file <= {self.high:,.0f}"


def judge_latest_load(
    session: Session, feed: Feed, rule: VolumeRule = VolumeRule()
) -> VolumeVerdict:
    """Judge the newest load of `feed` against the files loaded before it."""
    if not session.table_exists(RAW_SCHEMA, LEDGER_TABLE):
        return VolumeVerdict(feed.name, True, "nothing loaded yet")
    ledger = session.fetchall(
        "SELECT COALESCE(NULLIF(run_id, ''), load_id), source_file, rows_loaded, loaded_at "
        f"FROM {qualified(RAW_SCHEMA, LEDGER_TABLE)} WHERE target_table = ? "
        "ORDER BY loaded_at, source_file",
        [feed.table],
    )
    if not ledger:
        return VolumeVerdict(feed.name, True, "nothing loaded yet")
    latest_load = ledger[-1][0]
    window = [row for row in ledger if row[0] == latest_load]
    window_start = min(row[3] for row in window)
    earlier = [row[2] for row in ledger if row[0] != latest_load and row[3] < window_start]
    baseline = earlier[-rule.baseline_files :]
    files = tuple((row[1], int(row[2])) for row in window)
    rows_per_file = sum(rows for _, rows in files) / len(files)
    if len(baseline) < rule.min_baseline_files:
        return VolumeVerdict(
            feed.name,
            True,
            f"{len(baseline)} earlier file(s); {rule.min_baseline_files} needed to judge",
            files,
            rows_per_file,
            len(baseline),
        )
    middle = median(baseline)
    mad = median(abs(rows - middle) for rows in baseline)
    spread = max(rule.mad_multiplier * MAD_TO_SIGMA * mad, rule.tolerance * middle)
    low, high = middle - spread, middle + spread
    passed = low <= rows_per_file <= high
    reason = (
        f"{rows_per_file:,.1f} rows per file over {len(files)} file(s), baseline median "
        f"{middle:,.1f} of {len(baseline)} earlier files"
    )
    return VolumeVerdict(
        feed.name, passed, reason, files, rows_per_file, len(baseline), middle, low, high
    )


def build_volume_checks(engine: Engine) -> AssetChecksDefinition:
    """One WARN check per Bronze feed, run after its load (not blocking: Bronze keeps all)."""
    feeds = {bronze_asset_key(feed): feed for feed in FEEDS}

    @warehouse_check_step(
        [
            AssetCheckSpec(
                VOLUME_CHECK,
                asset=key,
                description=(
                    "The latest load's rows per file lie within the band of the files loaded "
                    "before it (median +/- max(4 robust deviations, 50%))."
                ),
                metadata={
                    "runbook": (
                        f"Compare the load's files in {RAW_SCHEMA}.{LEDGER_TABLE} with the feed "
                        f"owner's delivery for {feed.name}: a short or missing file is re-sent, "
                        "a real change in volume is acknowledged in the incident."
                    )
                },
            )
            for key, feed in feeds.items()
        ],
        "bronze_load_volume",
        "Bronze loads judged against their recent history (RAW.LOAD_LEDGER).",
        engine,
    )
    def _judge(
        context: AssetCheckExecutionContext, warehouse: Warehouse
    ) -> Iterator[AssetCheckResult]:
        selected = {check.asset_key for check in context.selected_asset_check_keys}
        with warehouse.session() as session:
            verdicts = {
                key: judge_latest_load(session, feed)
                for key, feed in feeds.items()
                if key in selected
            }
        for key, verdict in verdicts.items():
            yield AssetCheckResult(
                asset_key=key,
                check_name=VOLUME_CHECK,
                passed=verdict.passed,
                severity=AssetCheckSeverity.WARN,
                metadata={
                    "value": value_metadata(verdict.rows_per_file, "no load"),
                    "expectation": verdict.expectation,
                    "reason": verdict.reason,
                    "baseline_files": verdict.baseline_files,
                    "load_files": MetadataValue.json(
                        [{"file": name, "rows": rows} for name, rows in verdict.load_files]
                    ),
                },
            )

    return _judge
