"""Deterministic synthetic landing data for the SONY_DE platform (see docs/data-contract.md).

Why it exists: every layer downstream (Bronze loaders, dbt models, data-quality checks, the
dashboard) is tested against files whose contents and defects are known exactly. The same
(scale, seed) always writes byte-identical files, and `_manifest.json` states what a correct
pipeline must find in them, so tests can predict Bronze and Silver counts instead of guessing.

Every tunable number sits in the constants below. Scale multiplies entity and event counts;
the 90-day window and the file layout (90 + 3 + 13 files) never change, so a period with no
records still gets its (empty) file.

Manifest keys (`_manifest.json`, also returned by `generate_landing_data`)
--------------------------------------------------------------------------
- ``generator``: always ``"sony_de_platform.synthetic"``.
- ``seed``, ``scale``: the arguments the files were generated from.
- ``window``: ``start`` (ISO date), ``days``, ``end`` (last day, inclusive).
- ``regions``: the region codes in their canonical order.
- ``entities``:
  ``fans``, ``verified_fans``, ``guest_fans``: the fan population; every fan has at least one
  Silver interaction, so ``fans`` is also the row count of dim_fans.
  ``titles``, ``franchises``, ``theatrical_titles``: the catalog (every title is in the CSVs).
  ``fans_with_profile_change``: fans whose region or preferred genre changes once in the window.
  ``fans_with_observed_profile_change``: those of them whose Silver interactions show more than
  one (region, preferred_genre), i.e. the changes an SCD2 snapshot can see.
  ``verified_fans_with_purchase``: verified fans with at least one Silver purchase (the rows of
  agg_fan_lifetime_value); ``fans_with_purchase`` counts guests too.
  ``daily_performance_rows``: distinct (title, day) with a Silver interaction or a Silver box
  office row (the grain of fact_daily_performance).
  ``franchise_regions``: distinct (franchise, region) over Silver interactions (region of the
  fan at event time) and Silver box office rows.
- ``feeds``: one entry per feed (``fan_interactions``, ``title_metadata``, ``box_office``):
  ``files``: number of files; ``lines``: records delivered (JSON lines, CSV data rows without
  the header, Parquet rows); ``loadable_records``: lines minus malformed minus missing-key;
  ``quarantined``: malformed + missing-key; ``unique_records``: distinct business keys among
  loadable records; ``defects``: count per defect kind of the feed; ``silver_records``: rows of
  the feed's staging model (interactions: unique and not in the future; titles: unique; box
  office: unique with positive revenue). Feed-specific predictions:
  fan_interactions: ``silver_fans``, ``silver_purchases``, ``silver_amount_usd``,
  ``silver_invalid_emails`` (rows whose email fails the validity regex), ``silver_title_days``,
  ``silver_franchise_regions``;
  title_metadata: ``valid_imdb_scores`` (titles whose score lies in 0-10);
  box_office: ``silver_title_days``, ``silver_gross_revenue_usd``,
  ``silver_franchise_regions``.
- ``files``: one entry per file: ``feed``, ``path`` (relative to the landing folder, ``/``
  separated), ``lines``, ``sha256`` (of the file bytes), ``defects`` (count per defect kind).

Defect kinds: ``malformed_line``, ``missing_required_key``, ``duplicate``,
``malformed_email``, ``future_timestamp``, ``imdb_out_of_range``, ``non_positive_revenue``.
Each kind occurs exactly round-half-up(rate x unique_records) times in its feed. Value defects
(email, timestamp, IMDB score, revenue) sit on a record delivered once; duplicates, malformed
lines and missing-key lines are extra copies of an earlier clean record in the same file (see
`defects.py`), so no title, fan or event is lost to quarantine.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb

from sony_de_platform.bronze.feeds import TITLE_METADATA
from sony_de_platform.synthetic import vocabulary
from sony_de_platform.synthetic.defects import (
    DUPLICATE,
    FUTURE_TIMESTAMP,
    IMDB_OUT_OF_RANGE,
    MALFORMED_EMAIL,
    MALFORMED_LINE,
    MISSING_REQUIRED_KEY,
    NON_POSITIVE_REVENUE,
    QUARANTINED_DEFECTS,
    defect_counts,
    interleave_copies,
    place_defects,
)

# --- window and vocabularies of the contract ---------------------------------------------------
WINDOW_START = date(2026, 6, 1)
WINDOW_DAYS = 90
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Comedy",
    "Drama",
    "Fantasy",
    "Horror",
    "Sci-Fi",
    "Thriller",
    "Romance",
    "Documentary",
)
INTERACTION_TYPES = (
    "view",
    "like",
    "share",
    "review",
    "ticket_purchase",
    "stream_rental",
    "merch_purchase",
)
PURCHASE_TYPES = ("ticket_purchase", "stream_rental", "merch_purchase")
CHANNELS = ("web", "mobile", "theater", "social")

# --- volumes per unit of scale -----------------------------------------------------------------
TITLES_PER_SCALE = 1_000
FRANCHISES_PER_SCALE = 60
FANS_PER_SCALE = 24_000
INTERACTION_EVENTS_PER_SCALE = 177_450  # plus 2% extra copies: about 181,000 lines

# --- catalog -----------------------------------------------------------------------------------
THEATRICAL_SHARE = 0.40  # titles with a 14-day theatrical run inside the window
WINDOW_PREMIERE_SHARE = 0.12  # of the other titles: streaming premieres inside the window
BACK_CATALOG_START = date(2000, 1, 1)
FRANCHISE_SIZE_SKEW = 0.8  # Zipf exponent of titles per franchise
FRANCHISE_GENRE_LOYALTY = 0.8  # chance a title keeps its franchise's genre
GENRE_WEIGHTS = (14, 10, 7, 12, 14, 7, 7, 9, 9, 7, 4)  # aligned with GENRES
IMDB_SCORE_MEAN, IMDB_SCORE_SD, IMDB_SCORE_BOUNDS = 6.4, 1.1, (1.5, 9.5)
RUNTIME_MINUTES = (82, 172)
BUDGET_MEDIAN_USD = {"theatrical": 60_000_000, "other": 12_000_000}
BUDGET_SIGMA = 0.7
SEQUEL_NUMBER_SHARE = 0.5  # sequels named "<franchise> <n>" rather than "<franchise>: <subtitle>"
MPAA_WEIGHTS = {"PG": 15, "PG-13": 55, "R": 30}  # Animation is G/PG and Horror R regardless

# --- box office --------------------------------------------------------------------------------
BOX_OFFICE_RUN_DAYS = 14
OPENING_DAY_GROSS_MEDIAN_USD = 2_000_000  # all regions together
OPENING_DAY_GROSS_SIGMA = 0.8
BOX_OFFICE_DAILY_DECAY = 0.87
BOX_OFFICE_WEEKEND_BOOST = 1.5  # Friday to Sunday
REGION_BOX_OFFICE_SHARES = (0.42, 0.30, 0.20, 0.08)  # aligned with REGIONS
REGION_SHARE_NOISE = 0.15
OPENING_SCREENS_MEDIAN, OPENING_SCREENS_SIGMA = 3_200, 0.4
SCREENS_DAILY_DECAY = 0.97
AVG_TICKET_PRICE_USD = 12.0
TICKET_PRICE_SPREAD = 0.10
MIN_DAILY_GROSS_CENTS = 25_000
NEGATIVE_REVENUE_CENTS = (100, 5_000_000)  # size of a negative-revenue defect (half are zero)

# --- fans --------------------------------------------------------------------------------------
VERIFIED_SHARE = 0.60
PROFILE_CHANGE_SHARE = 0.30  # fans who change region or preferred genre once in the window
REGION_CHANGE_SHARE = 0.5  # of those changes: region (the rest change preferred genre)
REGION_WEIGHTS = (0.35, 0.30, 0.25, 0.10)  # aligned with REGIONS
PHONE_PREFIXES = ("+1", "+44", "+81", "+55")  # aligned with REGIONS
BIRTH_YEARS = (1950, 2008)
FAN_ACTIVITY_SIGMA = 1.0  # lognormal spread of how active fans are
FAN_NUMBERS = (1_000_000, 10_000_000)  # FAN-<7 digits>
TITLE_NUMBERS = (100_000, 1_000_000)  # TT-<6 digits>
INTERACTION_ID_START = 1_000_000_001  # INT-<10 digits>

# --- fan interactions --------------------------------------------------------------------------
TITLE_POPULARITY_ZIPF_EXPONENT = 0.6
GENRE_AFFINITY = 0.30  # chance an interaction goes to a title of the fan's preferred genre
WEEKEND_ACTIVITY_BOOST = 1.25
DAILY_VOLUME_NOISE = 0.10
# UTC hours 0..23: quiet nights, evening peak
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 5, 6, 5, 5, 5, 6, 7, 9, 10, 10, 9, 6, 4)
INTERACTION_TYPE_WEIGHTS = (42, 14, 7, 5, 12, 13, 7)  # aligned with INTERACTION_TYPES
PURCHASE_PRICE_CENTS = {
    "ticket_purchase": (900, 2_200),
    "stream_rental": (399, 799),
    "merch_purchase": (1_200, 8_999),
}
RATING_WEIGHTS = (6, 9, 20, 35, 30)  # ratings 1..5
CHANNEL_WEIGHTS = {
    "ticket_purchase": (15, 15, 70, 0),  # aligned with CHANNELS
    "other": (35, 45, 0, 20),
}

# --- defects (rate per base record of the feed) -------------------------------------------------
DEFECT_RATES = {
    "fan_interactions": {
        MALFORMED_LINE: 0.005,
        MISSING_REQUIRED_KEY: 0.005,
        DUPLICATE: 0.010,
        MALFORMED_EMAIL: 0.010,
        FUTURE_TIMESTAMP: 0.003,
    },
    "title_metadata": {
        MALFORMED_LINE: 0.005,
        MISSING_REQUIRED_KEY: 0.005,
        DUPLICATE: 0.010,
        IMDB_OUT_OF_RANGE: 0.020,
    },
    "box_office": {
        MISSING_REQUIRED_KEY: 0.005,
        DUPLICATE: 0.010,
        NON_POSITIVE_REVENUE: 0.010,
    },
}
FUTURE_YEARS = (2031, 2035)
BAD_IMDB_SCORES = ((-9.9, -0.1), (10.1, 15.0))

# --- file layout -------------------------------------------------------------------------------
MANIFEST_FILE = "_manifest.json"
TITLE_COLUMNS = TITLE_METADATA.fields  # the contract, declared once in bronze/feeds.py
BOX_OFFICE_COLUMNS = (
    ("title_id", "VARCHAR"),
    ("report_date", "DATE"),
    ("region", "VARCHAR"),
    ("screens", "INTEGER"),
    ("tickets_sold", "INTEGER"),
    ("gross_revenue_usd", "DOUBLE"),
)
INTERACTION_REQUIRED_KEYS = ("interaction_id", "fan_id")
BOX_OFFICE_REQUIRED_KEYS = 3  # title_id, report_date, region lead each row
SECONDS_PER_DAY = 86_400
JSON_LINE = json.JSONEncoder(separators=(",", ":"))

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Franchise:
    """A family of titles; agg_franchise_performance groups by it."""

    index: int
    name: str
    genre: str


@dataclass(slots=True)
class Title:
    """One catalog entry; `popularity` drives how often fans interact with it."""

    index: int
    title_id: str
    franchise: Franchise
    genre: str
    release: date
    theatrical: bool
    popularity: float
    name: str = ""


@dataclass(slots=True)
class Fan:
    """A fan and the one profile change (if any) that drives SCD2 history downstream."""

    index: int
    fan_id: str
    verified: bool
    pii: InitVar[dict[str, str]]  # email always; full_name, phone, date_of_birth if verified
    region: str
    genre: str
    activity: float
    first_day: int  # day of the fan's guaranteed interaction
    changed_at: int | None = None  # seconds after the window start
    new_region: str = ""
    new_genre: str = ""
    identity: dict[str, str] = field(init=False)  # the fan's fields of every record, in order

    def __post_init__(self, pii: dict[str, str]) -> None:
        self.identity = {
            "fan_id": self.fan_id,
            "fan_type": "verified" if self.verified else "guest",
            **pii,
        }

    def profile_at(self, second: int) -> tuple[str, str]:
        """Region and preferred genre as of `second` seconds after the window start."""
        if self.changed_at is not None and second >= self.changed_at:
            return self.new_region, self.new_genre
        return self.region, self.genre


@dataclass
class _SilverTally:
    """What a correct Silver layer keeps of one feed, counted while the records are made."""

    records: int = 0
    cents: int = 0
    title_days: list[set[int]] = field(default_factory=lambda: [set() for _ in range(WINDOW_DAYS)])
    franchise_regions: set[tuple[int, int]] = field(default_factory=set)

    def add(self, title: Title, day: int, region: str, cents: int) -> None:
        """Count one Silver row of `title` on `day` in `region` worth `cents`."""
        self.records += 1
        self.cents += cents
        self.title_days[day].add(title.index)
        self.franchise_regions.add((title.franchise.index, REGION_INDEX[region]))


def _rng(seed: int, stream: str) -> random.Random:
    """An independent, reproducible random stream per concern (str seeds hash with SHA-512)."""
    return random.Random(f"{seed}/{stream}")


def _scaled(per_scale: int, scale: float) -> int:
    """Entity count at `scale`, never below one so tiny scales still produce every feed."""
    return max(1, round(per_scale * scale))


@dataclass(frozen=True, slots=True)
class _Weighted(Generic[T]):
    """Options with cumulative weights: one draw costs one random number and a bisection."""

    options: tuple[T, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, options: Sequence[T], weights: Sequence[float]) -> _Weighted[T]:
        return cls(tuple(options), tuple(accumulate(weights)))

    def draw(self, rng: random.Random) -> T:
        """One weighted draw."""
        return self.options[bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


GENRE_DRAW = _Weighted.of(GENRES, GENRE_WEIGHTS)
REGION_DRAW = _Weighted.of(REGIONS, REGION_WEIGHTS)
MPAA_DRAW = _Weighted.of(tuple(MPAA_WEIGHTS), tuple(MPAA_WEIGHTS.values()))
HOUR_DRAW = _Weighted.of(range(24), HOUR_WEIGHTS)
INTERACTION_TYPE_DRAW = _Weighted.of(INTERACTION_TYPES, INTERACTION_TYPE_WEIGHTS)
RATING_DRAW = _Weighted.of(range(1, 6), RATING_WEIGHTS)
CHANNEL_DRAWS = {key: _Weighted.of(CHANNELS, weights) for key, weights in CHANNEL_WEIGHTS.items()}
REGION_INDEX = {region: i for i, region in enumerate(REGIONS)}
WINDOW_DATES = tuple(WINDOW_START + timedelta(days=d) for d in range(WINDOW_DAYS))


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` in proportion to `weights` exactly (largest remainder, ties by position)."""
    weight_sum = sum(weights)
    quotas = [total * weight / weight_sum for weight in weights]
    shares = [math.floor(quota) for quota in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (shares[i] - quotas[i], i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _day(offset: int) -> date:
    """Date of a day offset inside the window."""
    return WINDOW_DATES[offset]


# --- entities ----------------------------------------------------------------------------------


def _build_catalog(rng: random.Random, scale: float) -> tuple[list[Franchise], list[Title]]:
    """Franchises and titles; at least one title is back catalog so day one has something."""
    n_titles = _scaled(TITLES_PER_SCALE, scale)
    n_franchises = min(n_titles, _scaled(FRANCHISES_PER_SCALE, scale))
    names = [
        f"{adjective} {noun}"
        for adjective in vocabulary.FRANCHISE_ADJECTIVES
        for noun in vocabulary.FRANCHISE_NOUNS
    ]
    rng.shuffle(names)
    franchises = [
        Franchise(
            index=i,
            name=names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else ""),
            genre=GENRE_DRAW.draw(rng),
        )
        for i in range(n_franchises)
    ]
    size_weights = [1 / (rank + 1) ** FRANCHISE_SIZE_SKEW for rank in range(n_franchises)]
    membership = list(range(n_franchises)) + rng.choices(
        range(n_franchises), weights=size_weights, k=n_titles - n_franchises
    )
    theatrical = set(
        rng.sample(range(n_titles), min(round(n_titles * THEATRICAL_SHARE), n_titles - 1))
    )
    numbers = rng.sample(range(*TITLE_NUMBERS), n_titles)
    popularity_ranks = list(range(n_titles))
    rng.shuffle(popularity_ranks)
    back_catalog_days = (WINDOW_START - BACK_CATALOG_START).days
    titles: list[Title] = []
    for i in range(n_titles):
        franchise = franchises[membership[i]]
        if i in theatrical:
            release = _day(rng.randint(0, WINDOW_DAYS - BOX_OFFICE_RUN_DAYS))
        elif rng.random() < WINDOW_PREMIERE_SHARE:
            release = _day(rng.randrange(WINDOW_DAYS))
        else:
            release = BACK_CATALOG_START + timedelta(days=rng.randrange(back_catalog_days))
        genre = franchise.genre if rng.random() < FRANCHISE_GENRE_LOYALTY else GENRE_DRAW.draw(rng)
        titles.append(
            Title(
                index=i,
                title_id=f"TT-{numbers[i]:06d}",
                franchise=franchise,
                genre=genre,
                release=release,
                theatrical=i in theatrical,
                popularity=1 / (popularity_ranks[i] + 1) ** TITLE_POPULARITY_ZIPF_EXPONENT,
            )
        )
    if all(title.release >= WINDOW_START for title in titles):
        first_other = next(title for title in titles if not title.theatrical)
        first_other.release = WINDOW_START - timedelta(days=1 + rng.randrange(back_catalog_days))
    _name_titles(rng, titles)
    return franchises, titles


def _name_titles(rng: random.Random, titles: list[Title]) -> None:
    """The first title of a franchise carries its name; later ones are numbered or subtitled."""
    released_so_far: Counter[int] = Counter()
    for title in sorted(titles, key=lambda t: (t.release, t.title_id)):
        released_so_far[title.franchise.index] += 1
        number = released_so_far[title.franchise.index]
        if number == 1:
            title.name = title.franchise.name
        elif rng.random() < SEQUEL_NUMBER_SHARE:
            title.name = f"{title.franchise.name} {number}"
        else:
            title.name = f"{title.franchise.name}: {rng.choice(vocabulary.SEQUEL_SUBTITLES)}"


def _build_fans(rng: random.Random, scale: float) -> list[Fan]:
    """Fans with stable PII, a skewed activity level and, for some, one profile change."""
    n_fans = _scaled(FANS_PER_SCALE, scale)
    numbers = rng.sample(range(*FAN_NUMBERS), n_fans)
    verified = bytearray(n_fans)
    for i in rng.sample(range(n_fans), round(n_fans * VERIFIED_SHARE)):
        verified[i] = 1
    fans: list[Fan] = []
    for i, number in enumerate(numbers):
        region = REGION_DRAW.draw(rng)
        domain = rng.choice(vocabulary.EMAIL_DOMAINS)
        if verified[i]:
            first = rng.choice(vocabulary.FIRST_NAMES)
            last = rng.choice(vocabulary.LAST_NAMES)
            birth = date(rng.randint(*BIRTH_YEARS), 1, 1) + timedelta(days=rng.randrange(365))
            pii = {
                "email": f"{first.lower()}.{last.lower()}{number}@{domain}",
                "full_name": f"{first} {last}",
                "phone": f"{PHONE_PREFIXES[REGION_INDEX[region]]}-555-"
                f"{rng.randrange(1_000_000, 10_000_000)}",
                "date_of_birth": birth.isoformat(),
            }
        else:
            pii = {"email": f"{rng.choice(vocabulary.GUEST_HANDLES)}{number}@{domain}"}
        fans.append(
            Fan(
                index=i,
                fan_id=f"FAN-{number:07d}",
                verified=bool(verified[i]),
                pii=pii,
                region=region,
                genre=GENRE_DRAW.draw(rng),
                activity=rng.lognormvariate(0.0, FAN_ACTIVITY_SIGMA),
                first_day=rng.randrange(WINDOW_DAYS),
            )
        )
    for i in rng.sample(range(n_fans), round(n_fans * PROFILE_CHANGE_SHARE)):
        fan = fans[i]
        fan.changed_at = rng.randrange(WINDOW_DAYS * SECONDS_PER_DAY)
        fan.new_region, fan.new_genre = fan.region, fan.genre
        if rng.random() < REGION_CHANGE_SHARE:
            fan.new_region = rng.choice([r for r in REGIONS if r != fan.region])
        else:
            fan.new_genre = rng.choice([g for g in GENRES if g != fan.genre])
    return fans


# --- files and manifest entries ----------------------------------------------------------------


def _write_file(out_dir: Path, relpath: str, data: bytes) -> str:
    """Write one landing file and return the sha256 of its bytes."""
    path = out_dir / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _file_entry(
    feed: str, relpath: str, sha256: str, delivered: Sequence[tuple[Any, str | None]]
) -> dict[str, Any]:
    """Manifest entry of one file, its defect counts read off the delivered tags."""
    tags = Counter(tag for _, tag in delivered if tag)
    return {
        "feed": feed,
        "path": relpath,
        "lines": len(delivered),
        "sha256": sha256,
        "defects": {kind: tags.get(kind, 0) for kind in DEFECT_RATES[feed]},
    }


def _feed_summary(
    files: list[dict[str, Any]], unique_records: int, silver: dict[str, Any]
) -> dict[str, Any]:
    """Per-feed totals derived from the file entries plus the Silver predictions."""
    kinds = files[0]["defects"].keys()
    defects = {kind: sum(entry["defects"][kind] for entry in files) for kind in kinds}
    lines = sum(entry["lines"] for entry in files)
    quarantined = sum(defects.get(kind, 0) for kind in QUARANTINED_DEFECTS)
    return {
        "files": len(files),
        "lines": lines,
        "loadable_records": lines - quarantined,
        "quarantined": quarantined,
        "unique_records": unique_records,
        "defects": defects,
        **silver,
    }


def _deliver_by_file(
    rng: random.Random,
    batches: list[list[T]],
    placed: dict[int, str],
    with_value_defect: Callable[[T, str | None], T],
) -> list[list[tuple[T, str | None]]]:
    """Apply placed defects (positions run across all files of the feed) and add the copies."""
    delivered: list[list[tuple[T, str | None]]] = []
    offset = 0
    for batch in batches:
        tagged = []
        for i, record in enumerate(batch):
            kind = placed.get(offset + i)
            tagged.append((with_value_defect(record, kind), kind))
        offset += len(batch)
        delivered.append(interleave_copies(rng, tagged))
    return delivered


# --- title_metadata ----------------------------------------------------------------------------


def _month_starts() -> list[date]:
    """First day of every calendar month the window touches."""
    months = [WINDOW_START.replace(day=1)]
    while (nxt := (months[-1] + timedelta(days=32)).replace(day=1)) <= _day(WINDOW_DAYS - 1):
        months.append(nxt)
    return months


def _title_row(rng: random.Random, title: Title) -> list[str]:
    """The catalog CSV row of a title."""
    score = min(
        max(rng.gauss(IMDB_SCORE_MEAN, IMDB_SCORE_SD), IMDB_SCORE_BOUNDS[0]), IMDB_SCORE_BOUNDS[1]
    )
    if title.genre == "Animation":
        mpaa = rng.choice(("G", "PG"))
    elif title.genre == "Horror":
        mpaa = "R"
    else:
        mpaa = MPAA_DRAW.draw(rng)
    budget = rng.lognormvariate(
        math.log(BUDGET_MEDIAN_USD["theatrical" if title.theatrical else "other"]), BUDGET_SIGMA
    )
    return [
        title.title_id,
        title.name,
        title.franchise.name,
        title.genre,
        title.release.isoformat(),
        f"{score:.1f}",
        str(rng.randint(*RUNTIME_MINUTES)),
        mpaa,
        str(round(budget / 100_000) * 100_000),
    ]


def _write_title_metadata(
    out_dir: Path, seed: int, titles: list[Title]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Monthly catalog CSVs: a title sits in its release month's file (older ones in the first)."""
    rng = _rng(seed, "title_metadata")
    months = _month_starts()
    batches: list[list[list[str]]] = [[] for _ in months]
    for title in sorted(titles, key=lambda t: (t.release, t.title_id)):
        month = max(0, bisect_right(months, title.release) - 1)
        batches[month].append(_title_row(rng, title))
    counts = defect_counts(DEFECT_RATES["title_metadata"], len(titles))
    placed = place_defects(rng, len(titles), counts)

    def with_value_defect(row: list[str], kind: str | None) -> list[str]:
        if kind != IMDB_OUT_OF_RANGE:
            return row
        return [*row[:5], f"{rng.uniform(*rng.choice(BAD_IMDB_SCORES)):.1f}", *row[6:]]

    files = []
    for month, delivered in zip(
        months, _deliver_by_file(rng, batches, placed, with_value_defect), strict=True
    ):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(TITLE_COLUMNS)
        writer.writerows(_render_title_row(rng, row, tag) for row, tag in delivered)
        relpath = f"title_metadata/title_metadata_{month:%Y-%m}.csv"
        sha = _write_file(out_dir, relpath, buffer.getvalue().encode())
        files.append(_file_entry("title_metadata", relpath, sha, delivered))
    silver = {
        "silver_records": len(titles),
        "valid_imdb_scores": len(titles) - counts[IMDB_OUT_OF_RANGE],
    }
    return files, _feed_summary(files, len(titles), silver)


def _render_title_row(rng: random.Random, row: list[str], tag: str | None) -> list[str]:
    """Break a copied row as its copy defect says: empty title_id, or a wrong column count."""
    if tag == MISSING_REQUIRED_KEY:
        return ["", *row[1:]]
    if tag == MALFORMED_LINE:
        return row[:-1] if rng.random() < 0.5 else [*row, row[-1]]
    return row


# --- box_office --------------------------------------------------------------------------------


def _box_office_rows(
    rng: random.Random, titles: list[Title]
) -> list[tuple[Title, int, int, int, int, int]]:
    """(title, day, region index, screens, tickets, gross cents) for each theatrical run day."""
    rows = []
    for title in titles:
        if not title.theatrical:
            continue
        opening = rng.lognormvariate(
            math.log(OPENING_DAY_GROSS_MEDIAN_USD), OPENING_DAY_GROSS_SIGMA
        )
        screens = rng.lognormvariate(math.log(OPENING_SCREENS_MEDIAN), OPENING_SCREENS_SIGMA)
        first_day = (title.release - WINDOW_START).days
        for run_day in range(BOX_OFFICE_RUN_DAYS):
            day = first_day + run_day
            weekend = BOX_OFFICE_WEEKEND_BOOST if _day(day).weekday() >= 4 else 1.0
            day_gross = opening * BOX_OFFICE_DAILY_DECAY**run_day * weekend
            for region, share in enumerate(REGION_BOX_OFFICE_SHARES):
                noise = rng.uniform(1 - REGION_SHARE_NOISE, 1 + REGION_SHARE_NOISE)
                cents = max(MIN_DAILY_GROSS_CENTS, round(day_gross * share * noise * 100))
                price = AVG_TICKET_PRICE_USD * rng.uniform(
                    1 - TICKET_PRICE_SPREAD, 1 + TICKET_PRICE_SPREAD
                )
                rows.append(
                    (
                        title,
                        day,
                        region,
                        max(1, round(screens * share * SCREENS_DAILY_DECAY**run_day)),
                        max(1, round(cents / 100 / price)),
                        cents,
                    )
                )
    rows.sort(key=lambda row: (row[1], row[0].title_id, row[2]))
    return rows


def _write_parquet(con: duckdb.DuckDBPyConnection, path: Path, rows: list[tuple]) -> None:
    """Write rows with DuckDB's Parquet writer, typed as the contract says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in BOX_OFFICE_COLUMNS]
    select = ", ".join(
        f"unnest(${i + 1}::{sql_type}[]) AS {name}"
        for i, (name, sql_type) in enumerate(BOX_OFFICE_COLUMNS)
    )
    target = str(path).replace("'", "''")
    con.execute(f"COPY (SELECT {select}) TO '{target}' (FORMAT parquet)", list(map(list, columns)))


def _write_box_office(
    out_dir: Path, seed: int, titles: list[Title]
) -> tuple[list[dict[str, Any]], dict[str, Any], _SilverTally]:
    """Weekly Parquet files (named by Monday) of daily per-region grosses of theatrical runs."""
    rng = _rng(seed, "box_office")
    rows = _box_office_rows(rng, titles)
    counts = defect_counts(DEFECT_RATES["box_office"], len(rows))
    placed = place_defects(rng, len(rows), counts)
    tally = _SilverTally()
    for position, (title, day, region, _, _, cents) in enumerate(rows):
        if placed.get(position) != NON_POSITIVE_REVENUE:
            tally.add(title, day, REGIONS[region], cents)
    first_monday = WINDOW_START - timedelta(days=WINDOW_START.weekday())
    weeks = (_day(WINDOW_DAYS - 1) - first_monday).days // 7 + 1
    batches: list[list[tuple]] = [[] for _ in range(weeks)]
    for title, day, region, screens, tickets, cents in rows:
        batches[(_day(day) - first_monday).days // 7].append(
            (title.title_id, _day(day), REGIONS[region], screens, tickets, cents / 100)
        )

    def with_value_defect(row: tuple, kind: str | None) -> tuple:
        if kind != NON_POSITIVE_REVENUE:
            return row
        revenue = 0.0 if rng.random() < 0.5 else -rng.randint(*NEGATIVE_REVENUE_CENTS) / 100
        return (*row[:5], revenue)

    files = []
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")  # one writer thread: row order and bytes never vary
        for week, delivered in enumerate(_deliver_by_file(rng, batches, placed, with_value_defect)):
            monday = first_monday + timedelta(weeks=week)
            relpath = f"box_office/box_office_{monday.isoformat()}.parquet"
            _write_parquet(
                con,
                out_dir / relpath,
                [_render_box_office_row(rng, row, tag) for row, tag in delivered],
            )
            sha = hashlib.sha256((out_dir / relpath).read_bytes()).hexdigest()
            files.append(_file_entry("box_office", relpath, sha, delivered))
    finally:
        con.close()
    silver = {
        "silver_records": tally.records,
        "silver_title_days": sum(len(day) for day in tally.title_days),
        "silver_gross_revenue_usd": tally.cents / 100,
        "silver_franchise_regions": len(tally.franchise_regions),
    }
    return files, _feed_summary(files, len(rows), silver), tally


def _render_box_office_row(rng: random.Random, row: tuple, tag: str | None) -> tuple:
    """A missing-key copy has one of title_id, report_date, region set to NULL."""
    if tag != MISSING_REQUIRED_KEY:
        return row
    dropped = rng.randrange(BOX_OFFICE_REQUIRED_KEYS)
    return tuple(None if i == dropped else value for i, value in enumerate(row))


# --- fan_interactions --------------------------------------------------------------------------


class _ReleasedTitles:
    """Titles fans can interact with on a given day, drawn by Zipf-skewed popularity."""

    def __init__(self, titles: list[Title]) -> None:
        self._upcoming = sorted(titles, key=lambda t: (t.release, t.index))
        self._released = 0
        self._pools: dict[str | None, _Weighted[Title]] = {}

    def advance_to(self, day: date) -> None:
        """Release every title whose date has come and rebuild the draw tables if any did."""
        released = self._released
        while released < len(self._upcoming) and self._upcoming[released].release <= day:
            released += 1
        if released == self._released:
            return
        self._released = released
        on_offer = self._upcoming[:released]
        self._pools = {None: _Weighted.of(on_offer, [t.popularity for t in on_offer])}
        for genre in GENRES:
            of_genre = [t for t in on_offer if t.genre == genre]
            if of_genre:
                self._pools[genre] = _Weighted.of(of_genre, [t.popularity for t in of_genre])

    def pick(self, rng: random.Random, genre: str) -> Title:
        """A title, from the fan's preferred genre with probability GENRE_AFFINITY."""
        key = genre if genre in self._pools and rng.random() < GENRE_AFFINITY else None
        return self._pools[key].draw(rng)


@dataclass
class _FanTally:
    """Per-fan facts a correct Silver layer will show: activity, purchases, profile changes."""

    size: int
    seen: bytearray = field(init=False)
    purchased: bytearray = field(init=False)
    changed: bytearray = field(init=False)
    first_profile: list[tuple[str, str] | None] = field(init=False)

    def __post_init__(self) -> None:
        self.seen, self.purchased, self.changed = (bytearray(self.size) for _ in range(3))
        self.first_profile = [None] * self.size

    def add(self, fan: Fan, profile: tuple[str, str], purchase: bool) -> None:
        """Record one Silver interaction of `fan`."""
        self.seen[fan.index] = 1
        if purchase:
            self.purchased[fan.index] = 1
        first = self.first_profile[fan.index]
        if first is None:
            self.first_profile[fan.index] = profile
        elif first != profile:
            self.changed[fan.index] = 1


def _malformed_email(rng: random.Random, email: str) -> str:
    """An address with no `@`, no domain, or a domain without a top-level part."""
    local, domain = email.split("@")
    return rng.choice((local + domain, local + "@", f"{local}@{domain.split('.')[0]}"))


def _interaction(
    rng: random.Random,
    fan: Fan,
    profile: tuple[str, str],
    title: Title,
    interaction_number: int,
    day: int,
    second: int,
    kind: str | None,
) -> tuple[dict[str, Any], int | None]:
    """One interaction record (value defect applied) and the cents it spent, if a purchase."""
    interaction_type = INTERACTION_TYPE_DRAW.draw(rng)
    if interaction_type == "ticket_purchase" and not title.theatrical:
        interaction_type = "stream_rental"
    cents = (
        rng.randint(*PURCHASE_PRICE_CENTS[interaction_type])
        if interaction_type in PURCHASE_TYPES
        else None
    )
    year = rng.randint(*FUTURE_YEARS) if kind == FUTURE_TIMESTAMP else None
    stamp = _day(day).replace(year=year) if year else _day(day)
    identity = fan.identity
    if kind == MALFORMED_EMAIL:
        identity = {**identity, "email": _malformed_email(rng, identity["email"])}
    record = {
        "interaction_id": f"INT-{interaction_number:010d}",
        **identity,
        "region": profile[0],
        "preferred_genre": profile[1],
        "title_id": title.title_id,
        "interaction_type": interaction_type,
        "amount_usd": None if cents is None else cents / 100,
        "rating": RATING_DRAW.draw(rng) if interaction_type == "review" else None,
        "channel": CHANNEL_DRAWS.get(interaction_type, CHANNEL_DRAWS["other"]).draw(rng),
        "event_ts": f"{stamp.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:"
        f"{second % 60:02d}Z",
    }
    return record, cents


def _second_of_day(rng: random.Random) -> int:
    """A second of the (UTC) day, hours weighted by HOUR_WEIGHTS, from one random number."""
    point = rng.random() * HOUR_DRAW.cumulative[-1]
    hour = bisect_right(HOUR_DRAW.cumulative, point)
    hour_start = HOUR_DRAW.cumulative[hour - 1] if hour else 0.0
    return hour * 3600 + min(3599, int((point - hour_start) / HOUR_WEIGHTS[hour] * 3600))


def _render_interaction(rng: random.Random, record: dict[str, Any], tag: str | None) -> str:
    """One JSON line; a missing-key copy drops a required key, a malformed copy is cut short."""
    if tag == MISSING_REQUIRED_KEY:
        dropped = rng.choice(INTERACTION_REQUIRED_KEYS)
        record = {key: value for key, value in record.items() if key != dropped}
    line = JSON_LINE.encode(record)
    return line[: rng.randint(1, len(line) - 1)] if tag == MALFORMED_LINE else line


def _plan_interaction_days(
    rng: random.Random, n_events: int, fans: list[Fan]
) -> tuple[list[int], list[list[int]], list[dict[int, str]]]:
    """Per day: how many weighted-random events, which fans' guaranteed events, which defects.

    Slots of a day are its random events first, then its guaranteed events. Future timestamps
    land only on random events, so every fan keeps at least one Silver interaction.
    """
    guaranteed: list[list[int]] = [[] for _ in range(WINDOW_DAYS)]
    for fan in fans:
        guaranteed[fan.first_day].append(fan.index)
    day_weights = [
        (WEEKEND_ACTIVITY_BOOST if _day(d).weekday() >= 5 else 1.0)
        * rng.uniform(1 - DAILY_VOLUME_NOISE, 1 + DAILY_VOLUME_NOISE)
        for d in range(WINDOW_DAYS)
    ]
    random_events = _apportion(n_events - len(fans), day_weights)
    n_random = sum(random_events)
    placed = place_defects(
        rng,
        n_events,
        defect_counts(DEFECT_RATES["fan_interactions"], n_events),
        limits={FUTURE_TIMESTAMP: n_random},
    )
    random_offsets = [0, *accumulate(random_events)]
    guaranteed_offsets = [0, *accumulate(len(g) for g in guaranteed)]
    defects: list[dict[int, str]] = [{} for _ in range(WINDOW_DAYS)]
    for position, kind in sorted(placed.items()):
        if position < n_random:
            day = bisect_right(random_offsets, position) - 1
            slot = position - random_offsets[day]
        else:
            day = bisect_right(guaranteed_offsets, position - n_random) - 1
            slot = random_events[day] + position - n_random - guaranteed_offsets[day]
        defects[day][slot] = kind
    return random_events, guaranteed, defects


def _write_fan_interactions(
    out_dir: Path,
    seed: int,
    scale: float,
    fans: list[Fan],
    titles: list[Title],
) -> tuple[list[dict[str, Any]], dict[str, Any], _SilverTally, _FanTally]:
    """Daily JSON Lines files, written one day at a time to keep memory bounded at any scale."""
    rng = _rng(seed, "fan_interactions")
    n_events = max(len(fans), _scaled(INTERACTION_EVENTS_PER_SCALE, scale))
    random_events, guaranteed, day_defects = _plan_interaction_days(rng, n_events, fans)
    activity = list(accumulate(fan.activity for fan in fans))
    catalog = _ReleasedTitles(titles)
    tally, fan_tally = _SilverTally(), _FanTally(len(fans))
    invalid_emails = purchases = 0
    interaction_number = INTERACTION_ID_START
    files = []
    for day in range(WINDOW_DAYS):
        catalog.advance_to(_day(day))
        day_fans = rng.choices(fans, cum_weights=activity, k=random_events[day])
        day_fans += [fans[i] for i in guaranteed[day]]
        seconds = [_second_of_day(rng) for _ in day_fans]
        tagged = []
        for slot in sorted(range(len(day_fans)), key=lambda s: (seconds[s], s)):
            fan, kind = day_fans[slot], day_defects[day].get(slot)
            profile = fan.profile_at(day * SECONDS_PER_DAY + seconds[slot])
            title = catalog.pick(rng, profile[1])
            record, cents = _interaction(
                rng, fan, profile, title, interaction_number, day, seconds[slot], kind
            )
            interaction_number += 1
            tagged.append((record, kind))
            if kind != FUTURE_TIMESTAMP:
                tally.add(title, day, profile[0], cents or 0)
                fan_tally.add(fan, profile, cents is not None)
                purchases += cents is not None
                invalid_emails += kind == MALFORMED_EMAIL
        delivered = interleave_copies(rng, tagged)
        text = "".join(_render_interaction(rng, rec, tag) + "\n" for rec, tag in delivered)
        relpath = f"fan_interactions/fan_interactions_{_day(day).isoformat()}.jsonl"
        sha = _write_file(out_dir, relpath, text.encode())
        files.append(_file_entry("fan_interactions", relpath, sha, delivered))
    silver = {
        "silver_records": tally.records,
        "silver_fans": sum(fan_tally.seen),
        "silver_purchases": purchases,
        "silver_amount_usd": tally.cents / 100,
        "silver_invalid_emails": invalid_emails,
        "silver_title_days": sum(len(day) for day in tally.title_days),
        "silver_franchise_regions": len(tally.franchise_regions),
    }
    return files, _feed_summary(files, n_events, silver), tally, fan_tally


# --- entry point -------------------------------------------------------------------------------


def generate_landing_data(out_dir: Path, scale: float = 1.0, seed: int = 42) -> dict:
    """Write the three feeds under out_dir (layout from the data contract) plus
    out_dir/_manifest.json; return the manifest."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    franchises, titles = _build_catalog(_rng(seed, "catalog"), scale)
    fans = _build_fans(_rng(seed, "fans"), scale)
    title_files, title_feed = _write_title_metadata(out_dir, seed, titles)
    box_files, box_feed, box_tally = _write_box_office(out_dir, seed, titles)
    fan_files, fan_feed, fan_event_tally, fan_tally = _write_fan_interactions(
        out_dir, seed, scale, fans, titles
    )
    verified = sum(fan.verified for fan in fans)
    entities = {
        "fans": len(fans),
        "verified_fans": verified,
        "guest_fans": len(fans) - verified,
        "titles": len(titles),
        "franchises": len(franchises),
        "theatrical_titles": sum(title.theatrical for title in titles),
        "fans_with_profile_change": sum(fan.changed_at is not None for fan in fans),
        "fans_with_observed_profile_change": sum(fan_tally.changed),
        "verified_fans_with_purchase": sum(
            fan_tally.purchased[fan.index] for fan in fans if fan.verified
        ),
        "fans_with_purchase": sum(fan_tally.purchased),
        "daily_performance_rows": sum(
            len(interacted | grossed)
            for interacted, grossed in zip(
                fan_event_tally.title_days, box_tally.title_days, strict=True
            )
        ),
        "franchise_regions": len(fan_event_tally.franchise_regions | box_tally.franchise_regions),
    }
    manifest = {
        "generator": "sony_de_platform.synthetic",
        "seed": seed,
        "scale": scale,
        "window": {
            "start": WINDOW_START.isoformat(),
            "days": WINDOW_DAYS,
            "end": _day(WINDOW_DAYS - 1).isoformat(),
        },
        "regions": list(REGIONS),
        "entities": entities,
        "feeds": {
            "fan_interactions": fan_feed,
            "title_metadata": title_feed,
            "box_office": box_feed,
        },
        "files": fan_files + title_files + box_files,
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
