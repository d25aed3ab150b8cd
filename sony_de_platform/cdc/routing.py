"""PII routing: the fan-interactions stream split into the SECURE vault and a public table.

The Snowflake demo does this with a Task that fires when the stream has data; here the
stream sensor launches the `route_fan_pii` asset, which calls `route_fan_pii` below.

One consuming transaction (see warehouse/streams.py) holds every write:
1. verified fans' identity (e-mail, full name, phone, date of birth) and e-mail hash are
   upserted into SECURE.FAN_PII_VAULT, one row per fan;
2. other fans (guests) are upserted into STG.GUEST_FANS with the e-mail hash only;
3. a guest who has since verified leaves STG.GUEST_FANS (the vault holds them now);
4. the stream's offset moves past the change set, and the consumption is recorded.
A crash anywhere before COMMIT leaves none of it, so the next run routes the same changes
again; after COMMIT the changes are gone from the stream. Either way every fan is routed
exactly once.

Which record's identity a fan keeps: the newest (highest _ingest_seq) record whose e-mail is
valid, or the newest record when none is. The upsert compares the incoming record with the
one already kept by that same order, so the outcome depends only on which records were
routed, not on how they were batched.

The e-mail hash and validity rule are the data contract's, computed exactly as the dbt macros
`hashed_valid_email` / `email_hash` do (sha2(lower(trim(email)), 256), NULL for an invalid
e-mail), so Silver can join routed fans to its own hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sony_de_platform.bronze.feeds import FAN_INTERACTIONS
from sony_de_platform.bronze.loader import ensure_bronze_tables
from sony_de_platform.cdc.streams import FAN_INTERACTIONS_STREAM
from sony_de_platform.warehouse import Session, qualified
from sony_de_platform.warehouse.streams import Statement, streams

# The data contract's e-mail rule (dbt macro `valid_email_pattern` in macros/email.sql).
VALID_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"

SECURE_SCHEMA = "SECURE"
VAULT_TABLE = "FAN_PII_VAULT"
GUEST_SCHEMA = "STG"
GUEST_TABLE = "GUEST_FANS"
VAULT = qualified(SECURE_SCHEMA, VAULT_TABLE)
GUESTS = qualified(GUEST_SCHEMA, GUEST_TABLE)

_KEEP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("email_hash", "VARCHAR"),
    ("source_ingest_seq", "BIGINT"),  # the RAW record the row was taken from
    ("routed_at", "TIMESTAMP"),
)
VAULT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("fan_id", "VARCHAR NOT NULL PRIMARY KEY"),
    ("email", "VARCHAR"),
    ("full_name", "VARCHAR"),
    ("phone", "VARCHAR"),
    ("date_of_birth", "DATE"),
    *_KEEP_COLUMNS,
)
GUEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("fan_id", "VARCHAR NOT NULL PRIMARY KEY"),
    *_KEEP_COLUMNS,
)


@dataclass(frozen=True)
class RoutingResult:
    change_rows: int  # 0 when the stream had nothing pending (nothing was consumed)
    vault_fans: int
    guest_fans: int
    consumed_at: datetime | None


def ensure_routing_tables(session: Session) -> None:
    """The RAW table, its stream and both routed tables, created if missing (idempotent)."""
    ensure_bronze_tables(session, [FAN_INTERACTIONS])
    streams(session).create(FAN_INTERACTIONS_STREAM)
    for schema, table, columns in (
        (SECURE_SCHEMA, VAULT_TABLE, VAULT_COLUMNS),
        (GUEST_SCHEMA, GUEST_TABLE, GUEST_COLUMNS),
    ):
        session.ensure_schema(schema)
        body = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
        session.execute(f"CREATE TABLE IF NOT EXISTS {qualified(schema, table)} ({body})")


def _upsert(
    session: Session, target: str, fans: str, identity: tuple[str, ...], extra_filter: str = ""
) -> str:
    """MERGE one row per fan of the change set into `target`: the fan's newest record with a
    valid e-mail, else its newest record; an existing row is replaced only by a record that
    comes later in that order. Binds: e-mail pattern, then routed_at twice."""
    stream = FAN_INTERACTIONS_STREAM.qualified_name
    read = ", ".join(dict.fromkeys(["fan_id", "email", *identity, "_ingest_seq"]))
    columns_kept = ", ".join(
        [
            "fan_id",
            *(
                "TRY_CAST(date_of_birth AS DATE) AS date_of_birth" if c == "date_of_birth" else c
                for c in identity
            ),
        ]
    )
    updated = [*identity, "email_hash", "source_ingest_seq"]
    inserted = ["fan_id", *updated, "routed_at"]
    return f"""
        MERGE INTO {target} AS kept
        USING (
            SELECT {columns_kept},
                CASE WHEN has_valid_email THEN {session.email_hash_sql("email")} END AS email_hash,
                _ingest_seq AS source_ingest_seq
            FROM (
                SELECT {read},
                    COALESCE({session.regex_full_match_sql("TRIM(email)")}, FALSE)
                        AS has_valid_email
                FROM {stream}
                WHERE METADATA$ACTION = 'INSERT' AND {fans}{extra_filter}
            ) AS changes
            QUALIFY ROW_NUMBER() OVER (
                PARTITION BY fan_id ORDER BY has_valid_email DESC, _ingest_seq DESC
            ) = 1
        ) AS incoming
        ON kept.fan_id = incoming.fan_id
        WHEN MATCHED AND (
            (incoming.email_hash IS NOT NULL AND kept.email_hash IS NULL)
            OR ((incoming.email_hash IS NULL) = (kept.email_hash IS NULL)
                AND incoming.source_ingest_seq > kept.source_ingest_seq)
        ) THEN UPDATE SET
            {", ".join(f"{column} = incoming.{column}" for column in updated)}, routed_at = ?
        WHEN NOT MATCHED THEN INSERT ({", ".join(inserted)})
            VALUES ({", ".join(f"incoming.{column}" for column in inserted[:-1])}, ?)
    """


def routing_statements(session: Session, routed_at: datetime) -> list[Statement]:
    """The DML of one consumption, in order (all of it reads the stream or the vault)."""
    binds = [VALID_EMAIL_PATTERN, routed_at, routed_at]
    identity = ("email", "full_name", "phone", "date_of_birth")
    return [
        (_upsert(session, VAULT, "fan_type = 'verified'", identity), binds),
        (
            _upsert(
                session,
                GUESTS,
                "COALESCE(fan_type, '') <> 'verified'",
                (),
                f" AND fan_id NOT IN (SELECT fan_id FROM {VAULT})",
            ),
            binds,
        ),
        (f"DELETE FROM {GUESTS} WHERE fan_id IN (SELECT fan_id FROM {VAULT})", []),
    ]


def route_fan_pii(session: Session, run_id: str = "") -> RoutingResult:
    """Consume the fan-interactions stream into the vault and the guest table, exactly once."""
    ensure_routing_tables(session)
    stream = streams(session)
    change_rows, consumed_at = 0, None
    if stream.has_data(FAN_INTERACTIONS_STREAM):  # like a Task's WHEN SYSTEM$STREAM_HAS_DATA
        routed_at = datetime.now(UTC).replace(tzinfo=None)
        consumption = stream.consume(
            FAN_INTERACTIONS_STREAM, routing_statements(session, routed_at), run_id
        )
        change_rows, consumed_at = consumption.change_rows, consumption.consumed_at
    return RoutingResult(
        change_rows=change_rows,
        vault_fans=session.row_count(SECURE_SCHEMA, VAULT_TABLE),
        guest_fans=session.row_count(GUEST_SCHEMA, GUEST_TABLE),
        consumed_at=consumed_at,
    )
