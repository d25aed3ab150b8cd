"""The bad-input corpus: generated landing files, each with what the loader must do.

Every case is built from one clean record by a mutation, so the corpus grows by adding a
line here, not by hand-typing files. `README.md`'s Reliability table is rendered from it
(`python -m sony_de_platform_tests.bad_input_corpus`) and a test keeps the two equal.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sony_de_platform.bronze.feeds import BOX_OFFICE, FAN_INTERACTIONS, TITLE_METADATA, Feed


def interaction(n: int, **changes: object) -> dict:
    record: dict[str, object] = {
        "interaction_id": f"INT-{n:010d}",
        "fan_id": f"FAN-{n % 97:07d}",
        "fan_type": "verified",
        "email": f"fan{n}@example.com",
        "full_name": f"Fan Number{n}",
        "phone": "+1 555 0100",
        "date_of_birth": "1990-04-01",
        "region": "NA",
        "preferred_genre": "Drama",
        "title_id": "TT-100001",
        "interaction_type": "ticket_purchase",
        "amount_usd": 14.5,
        "rating": None,
        "channel": "web",
        "event_ts": "2026-06-01T10:00:00Z",
    }
    record.update(changes)
    return record


def title_row(n: int, **changes: str) -> dict[str, str]:
    row = {
        "title_id": f"TT-{100000 + n}",
        "title_name": f"Title {n}",
        "franchise": "Nightfall",
        "genre": "Drama",
        "release_date": "2026-05-01",
        "imdb_score": "7.1",
        "runtime_minutes": "112",
        "mpaa_rating": "PG-13",
        "budget_usd": "1000000",
    }
    row.update(changes)
    return row


def jsonl(*lines: str, newline_at_end: bool = True) -> bytes:
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    return text.encode()


def good_lines(count: int, start: int = 1) -> list[str]:
    return [json.dumps(interaction(n)) for n in range(start, start + count)]


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def titles(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    columns = header or list(TITLE_METADATA.fields)
    return csv_bytes(columns, [[row.get(c, "") for c in columns] for row in rows])


@dataclass(frozen=True)
class Case:
    """One bad input: the files dropped (in order, each loaded by its own run) and outcome."""

    name: str
    feed: Feed
    files: tuple[tuple[str, bytes], ...]
    loaded: int
    quarantined: int
    reasons: tuple[str, ...] = ()  # reason prefixes of the quarantined records, in line order
    skipped_files: int = 0
    what_happens: str = ""
    check: Callable[[list[tuple]], bool] | None = field(default=None, compare=False)


LONG_TEXT = "x" * 2_000_000

CASES: tuple[Case, ...] = (
    Case(
        "malformed JSON lines",
        FAN_INTERACTIONS,
        (("a.jsonl", jsonl(good_lines(1)[0], '{"interaction_id": "INT-1", ', "not json", "{}}")),),
        loaded=1,
        quarantined=3,
        reasons=("malformed JSON", "malformed JSON", "malformed JSON"),
        what_happens="good line loaded; each broken line quarantined with the parser's message",
    ),
    Case(
        "truncated last line (no newline)",
        FAN_INTERACTIONS,
        (("a.jsonl", jsonl(*good_lines(2), good_lines(3)[2][:40], newline_at_end=False)),),
        loaded=2,
        quarantined=1,
        reasons=("malformed JSON",),
        what_happens="complete lines loaded; the cut line quarantined",
    ),
    Case(
        "JSON value that is not an object",
        FAN_INTERACTIONS,
        (("a.jsonl", jsonl("[1, 2]", '"text"', "42", *good_lines(1))),),
        loaded=1,
        quarantined=3,
        reasons=("malformed JSON",) * 3,
        what_happens="quarantined: expected an object",
    ),
    Case(
        "wrong types",
        FAN_INTERACTIONS,
        (
            (
                "a.jsonl",
                jsonl(
                    json.dumps(interaction(1, amount_usd="twelve", rating=[5], fan_type=7)),
                    json.dumps(interaction(2, channel={"app": "ios"}, event_ts=1751364000)),
                ),
            ),
        ),
        loaded=2,
        quarantined=0,
        what_happens="loaded as received text; Silver's TRY_CAST leaves what cannot be read NULL",
    ),
    Case(
        "missing required key",
        FAN_INTERACTIONS,
        (
            (
                "a.jsonl",
                jsonl(
                    json.dumps({k: v for k, v in interaction(1).items() if k != "fan_id"}),
                    json.dumps(interaction(2, interaction_id="")),
                    json.dumps(interaction(3, fan_id=None)),
                    *good_lines(1, start=4),
                ),
            ),
        ),
        loaded=1,
        quarantined=3,
        reasons=("missing required key",) * 3,
        what_happens="quarantined naming the key (absent, null or blank)",
    ),
    Case(
        "missing optional and extra columns",
        FAN_INTERACTIONS,
        (
            (
                "a.jsonl",
                jsonl(
                    json.dumps({k: v for k, v in interaction(1).items() if k != "region"}),
                    json.dumps(interaction(2, utm_source="newsletter")),
                ),
            ),
        ),
        loaded=2,
        quarantined=0,
        what_happens="loaded; a missing field is NULL, an unknown field is ignored",
    ),
    Case(
        "empty file",
        FAN_INTERACTIONS,
        (("a.jsonl", b""),),
        loaded=0,
        quarantined=0,
        what_happens="recorded in the ledger with 0 lines, never re-read",
    ),
    Case(
        "blank lines",
        FAN_INTERACTIONS,
        (("a.jsonl", jsonl(good_lines(1)[0], "", "   ", *good_lines(1, start=2))),),
        loaded=2,
        quarantined=2,
        reasons=("empty line", "empty line"),
        what_happens="quarantined as empty lines, so line counts still reconcile",
    ),
    Case(
        "UTF-8 byte-order mark",
        FAN_INTERACTIONS,
        (("a.jsonl", b"\xef\xbb\xbf" + jsonl(*good_lines(2))),),
        loaded=2,
        quarantined=0,
        what_happens="loaded; the BOM is dropped",
    ),
    Case(
        "invalid UTF-8 bytes",
        FAN_INTERACTIONS,
        (
            (
                "a.jsonl",
                good_lines(1)[0].encode() + b"\n" + b'{"interaction_id": "INT-\xff\xfe"}\n',
            ),
        ),
        loaded=1,
        quarantined=1,
        reasons=("invalid UTF-8",),
        what_happens="the line is quarantined with the byte position; the rest loads",
    ),
    Case(
        "JSON number of 5,000 digits",
        FAN_INTERACTIONS,
        (
            (
                "a.jsonl",
                jsonl(
                    good_lines(1)[0],
                    '{"interaction_id": "INT-2", "fan_id": "FAN-2", "amount_usd": '
                    + "7" * 5000
                    + "}",
                ),
            ),
        ),
        loaded=1,
        quarantined=1,
        reasons=("malformed JSON: a number of more than 4300 digits",),
        what_happens="quarantined (Python reads no integer that long); the rest loads",
    ),
    Case(
        "very long lines (2 MB)",
        FAN_INTERACTIONS,
        (
            (
                "a.jsonl",
                jsonl(json.dumps(interaction(1, full_name=LONG_TEXT)), "{" + LONG_TEXT),
            ),
        ),
        loaded=1,
        quarantined=1,
        reasons=("malformed JSON",),
        what_happens="a valid long line loads whole; a broken one is quarantined, raw text clipped",
    ),
    Case(
        "CSV with embedded newlines and quotes",
        TITLE_METADATA,
        (
            (
                "t.csv",
                titles(
                    [
                        title_row(1, title_name='He said "run"\nthen ran'),
                        title_row(2, title_name="Comma, inside"),
                    ]
                ),
            ),
        ),
        loaded=2,
        quarantined=0,
        what_happens="loaded with the quotes and newline kept inside the value",
        check=lambda rows: {r[1] for r in rows} == {'He said "run"\nthen ran', "Comma, inside"},
    ),
    Case(
        "CSV headers only",
        TITLE_METADATA,
        (("t.csv", titles([])),),
        loaded=0,
        quarantined=0,
        what_happens="recorded in the ledger with 0 records",
    ),
    Case(
        "CSV row with the wrong number of fields",
        TITLE_METADATA,
        (
            (
                "t.csv",
                titles([title_row(1)])
                + b"TT-100002,Short row\n"
                + b"TT-100003,a,b,c,d,e,f,g,h,i,j\n",
            ),
        ),
        loaded=1,
        quarantined=2,
        reasons=("malformed CSV row", "malformed CSV row"),
        what_happens="quarantined with the file line and the expected field count",
    ),
    Case(
        "CSV row with bytes that are not UTF-8",
        TITLE_METADATA,
        (
            (
                "t.csv",
                titles([title_row(1), title_row(3)])
                + b"TT-100002,Caf\xe9 Noir,,Drama,2026-05-01,7.0,100,R,500000\n",
            ),
        ),
        loaded=2,
        quarantined=1,
        reasons=("invalid UTF-8 bytes (file line 4)",),
        what_happens="the row is quarantined with its file line; the rest loads",
    ),
    Case(
        "CSV without a required column",
        TITLE_METADATA,
        (("t.csv", titles([title_row(1), title_row(2)], header=["title_name", "genre"])),),
        loaded=0,
        quarantined=2,
        reasons=("missing required key", "missing required key"),
        what_happens="every row quarantined: missing required key: title_id",
    ),
    Case(
        "unreadable Parquet file",
        BOX_OFFICE,
        (("b.parquet", b"PAR1 this is not really parquet"),),
        loaded=0,
        quarantined=1,
        reasons=("unreadable Parquet file",),
        what_happens="one quarantine record for the whole file; re-export it",
    ),
    Case(
        "duplicate file under a new name",
        FAN_INTERACTIONS,
        (("a.jsonl", jsonl(*good_lines(3))), ("a_copy.jsonl", jsonl(*good_lines(3)))),
        loaded=3,
        quarantined=0,
        skipped_files=1,
        what_happens="the copy is skipped: same SHA-256 as a loaded file",
    ),
    Case(
        "same name, new content",
        FAN_INTERACTIONS,
        (("a.jsonl", jsonl(*good_lines(2))), ("a.jsonl", jsonl(*good_lines(3, start=10)))),
        loaded=5,
        quarantined=0,
        what_happens="new content is a new file: its rows are appended (RAW is append-only)",
    ),
)


def reliability_table() -> str:
    """The README's bad-input table, rendered from the corpus."""
    lines = [
        "| Bad input | Records | Loaded | Quarantined | Files skipped | What happens |",
        "|---|---|---|---|---|---|",
    ]
    for case in CASES:
        records = case.loaded + case.quarantined
        lines.append(
            f"| {case.name} | {records} | {case.loaded} | {case.quarantined} | "
            f"{case.skipped_files} | {case.what_happens} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(reliability_table())
