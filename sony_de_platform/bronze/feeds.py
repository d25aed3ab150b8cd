"""The three landing feeds as data: where their files land, their fields, their keys.

Loaders, RAW table DDL and the Dagster Bronze assets are all derived from `FEEDS`.
See docs/data-contract.md for the fields' meaning and the defects each feed may carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

RAW_SCHEMA = "RAW"
LEDGER_TABLE = "LOAD_LEDGER"
QUARANTINE_TABLE = "LOAD_QUARANTINE"

# Load metadata columns appended to every RAW table, after the source fields.
LOAD_METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_file", "VARCHAR"),
    ("_line_number", "BIGINT"),
    ("_load_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
    ("_ingest_seq", "BIGINT"),
)


class FileFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


@dataclass(frozen=True)
class Feed:
    """One landing feed and the RAW table it lands in."""

    name: str
    table: str
    file_format: FileFormat
    fields: tuple[str, ...]
    required_keys: tuple[str, ...]
    description: str
    # Fields holding personal data in clear: masked on Snowflake, never copied past RAW
    # except into SECURE.
    pii_fields: tuple[str, ...] = ()

    @property
    def folder(self) -> str:
        return self.name

    @property
    def pattern(self) -> str:
        return f"*.{self.file_format.value}"

    @property
    def asset_name(self) -> str:
        return self.table.lower()


FAN_INTERACTIONS = Feed(
    name="fan_interactions",
    table="RAW_FAN_INTERACTIONS",
    file_format=FileFormat.JSONL,
    fields=(
        "interaction_id",
        "fan_id",
        "fan_type",
        "email",
        "full_name",
        "phone",
        "date_of_birth",
        "region",
        "preferred_genre",
        "title_id",
        "interaction_type",
        "amount_usd",
        "rating",
        "channel",
        "event_ts",
    ),
    required_keys=("interaction_id", "fan_id"),
    pii_fields=("email", "full_name", "phone", "date_of_birth"),
    description=(
        "Fan interactions (views, likes, reviews, purchases) as received, one JSON Lines "
        "file per day. Holds verified fans' PII: restricted schema."
    ),
)

TITLE_METADATA = Feed(
    name="title_metadata",
    table="RAW_TITLE_METADATA",
    file_format=FileFormat.CSV,
    fields=(
        "title_id",
        "title_name",
        "franchise",
        "genre",
        "release_date",
        "imdb_score",
        "runtime_minutes",
        "mpaa_rating",
        "budget_usd",
    ),
    required_keys=("title_id",),
    description="The studio's title catalog as received, one CSV file per month.",
)

BOX_OFFICE = Feed(
    name="box_office",
    table="RAW_BOX_OFFICE",
    file_format=FileFormat.PARQUET,
    fields=(
        "title_id",
        "report_date",
        "region",
        "screens",
        "tickets_sold",
        "gross_revenue_usd",
    ),
    required_keys=("title_id", "report_date", "region"),
    description="Daily box office by title and region as received, one Parquet file per week.",
)

FEEDS: tuple[Feed, ...] = (FAN_INTERACTIONS, TITLE_METADATA, BOX_OFFICE)
FEEDS_BY_NAME = {feed.name: feed for feed in FEEDS}
