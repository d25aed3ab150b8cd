"""Where injected defects go: the same mechanics for all three feeds.

Two families of defect, so that every defective record carries exactly one defect:

* value defects (malformed email, future timestamp, IMDB score out of range, non-positive
  revenue) change one field of a record that is delivered once;
* copy defects (duplicate, malformed line, missing required key) are an extra delivery of an
  earlier *clean* record, placed later in the same file: an exact copy, a copy broken so it
  cannot be parsed, or a copy that lacks one required key.

Because quarantined lines are always extra copies, no title, fan or event is lost to them:
Silver row counts follow from the clean records and the value defects alone.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TypeVar

MALFORMED_LINE = "malformed_line"
MISSING_REQUIRED_KEY = "missing_required_key"
DUPLICATE = "duplicate"
MALFORMED_EMAIL = "malformed_email"
FUTURE_TIMESTAMP = "future_timestamp"
IMDB_OUT_OF_RANGE = "imdb_out_of_range"
NON_POSITIVE_REVENUE = "non_positive_revenue"

COPY_DEFECTS = (DUPLICATE, MALFORMED_LINE, MISSING_REQUIRED_KEY)
QUARANTINED_DEFECTS = (MALFORMED_LINE, MISSING_REQUIRED_KEY)

Record = TypeVar("Record")


def defect_counts(rates: Mapping[str, float], records: int) -> dict[str, int]:
    """Exact count of each defect kind for `records` base records: rate x records, half up."""
    return {kind: int(rate * records + 0.5) for kind, rate in rates.items()}


def place_defects(
    rng: random.Random,
    records: int,
    counts: Mapping[str, int],
    limits: Mapping[str, int] | None = None,
) -> dict[int, str]:
    """Pick a distinct record position for every defect, so no record carries two.

    For a copy defect the position is the clean record that gets copied. `limits[kind]` keeps a
    kind on positions below that bound (e.g. future timestamps off a fan's guaranteed event).
    Limited kinds are placed first so that their smaller pool is never crowded out.
    """
    limits = limits or {}
    if sum(counts.values()) > records:
        raise ValueError(f"{sum(counts.values())} defects do not fit in {records} records")
    placed: dict[int, str] = {}
    ordered = sorted(counts, key=lambda kind: kind not in limits)  # stable: keeps dict order
    for kind in ordered:
        pool = limits.get(kind, records)
        free = pool - sum(1 for position in placed if position < pool)
        if counts[kind] > free:
            raise ValueError(f"{counts[kind]} x {kind} do not fit in {free} free positions")
        remaining = counts[kind]
        while remaining:
            position = rng.randrange(pool)
            if position not in placed:
                placed[position] = kind
                remaining -= 1
    return placed


def interleave_copies(
    rng: random.Random, tagged: list[tuple[Record, str | None]]
) -> list[tuple[Record, str | None]]:
    """Deliver each record once, plus one later copy of every record tagged with a copy defect.

    Input tags are the defects placed on each record. In the output the source of a copy is
    clean (tag None) and the copy carries the copy defect; value defects stay on their record.
    """
    copies: list[tuple[int, int, Record, str]] = []
    for source, (record, kind) in enumerate(tagged):
        if kind in COPY_DEFECTS:
            copies.append((rng.randint(source + 1, len(tagged)), source, record, kind))
    copies.sort(key=lambda copy: (copy[0], copy[1]))
    delivered: list[tuple[Record, str | None]] = []
    next_copy = 0
    for position, (record, kind) in enumerate(tagged):
        while next_copy < len(copies) and copies[next_copy][0] == position:
            delivered.append((copies[next_copy][2], copies[next_copy][3]))
            next_copy += 1
        delivered.append((record, None if kind in COPY_DEFECTS else kind))
    delivered.extend((record, kind) for _, _, record, kind in copies[next_copy:])
    return delivered
