"""The exact SQL the platform sends to Snowflake for streams and the PII routing, recorded by
a fake connection (no Snowflake account is reachable here); plus a live test that runs when
Snowflake credentials are in the environment."""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime
from typing import Any

import pytest

from sony_de_platform.cdc.routing import VALID_EMAIL_PATTERN, route_fan_pii
from sony_de_platform.cdc.streams import FAN_INTERACTIONS_STREAM
from sony_de_platform.settings import Engine, load_settings
from sony_de_platform.warehouse.snowflake import SnowflakeSession
from sony_de_platform.warehouse.streams import SnowflakeStreams, Stream, streams

NOW = datetime(2026, 6, 2, 6, 0, 0)
SHOW_STREAMS_COLUMNS = [
    "created_on",
    "name",
    "database_name",
    "schema_name",
    "owner",
    "comment",
    "table_name",
    "source_type",
    "base_tables",
    "type",
    "stale",
    "mode",
    "stale_after",
    "invalid_reason",
    "owner_role_type",
]


def flat(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip().replace("( ", "(").replace(" )", ")")


class RecordingConnection:
    """Records every statement; answers the few queries whose results the code reads."""

    def __init__(self, answers: dict[str, list[tuple]] | None = None) -> None:
        self.statements: list[tuple[str, list[Any] | None]] = []
        self.answers = answers or {}

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)


class RecordingCursor:
    def __init__(self, connection: RecordingConnection) -> None:
        self.connection = connection
        self.rows: list[tuple] = []
        self.description: list[tuple] = []

    def __enter__(self) -> RecordingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: Any = None) -> None:
        statement = flat(sql)
        self.connection.statements.append((statement, list(params) if params else None))
        prefix = next((p for p in self.connection.answers if statement.startswith(p)), None)
        self.rows = self.connection.answers.get(prefix, [(0,)]) if prefix else [(0,)]
        if statement.startswith("SHOW STREAMS"):
            self.description = [(name.upper(),) for name in SHOW_STREAMS_COLUMNS]

    def fetchall(self) -> list[tuple]:
        return self.rows


SCHEMA_PROBE = (
    "SELECT COUNT(*) FROM information_schema.schemata WHERE upper(schema_name) = upper(?)"
)


def session_with(answers: dict[str, list[tuple]] | None = None) -> SnowflakeSession:
    return SnowflakeSession(RecordingConnection(answers))


def recorded(session: SnowflakeSession) -> list[tuple[str, list[Any] | None]]:
    return session.connection.statements  # type: ignore[attr-defined]


def test_streams_on_a_snowflake_session_are_the_native_ones() -> None:
    session = session_with()
    assert session.engine is Engine.SNOWFLAKE
    assert isinstance(streams(session), SnowflakeStreams)


def test_create_stream_sql() -> None:
    session = session_with()
    streams(session).create(FAN_INTERACTIONS_STREAM)
    assert recorded(session) == [
        # A schema is created only when missing (the pipeline's roles may lack CREATE SCHEMA).
        (SCHEMA_PROBE, ["GOVERNANCE"]),
        ("CREATE SCHEMA IF NOT EXISTS GOVERNANCE", None),
        (
            "CREATE TABLE IF NOT EXISTS GOVERNANCE.STREAM_CONSUMPTIONS (stream_name VARCHAR, "
            "consumed_at TIMESTAMP, change_rows BIGINT, run_id VARCHAR)",
            None,
        ),
        (
            "CREATE STREAM IF NOT EXISTS RAW.FAN_INTERACTIONS_STREAM "
            "ON TABLE RAW.RAW_FAN_INTERACTIONS APPEND_ONLY = TRUE SHOW_INITIAL_ROWS = TRUE "
            "COMMENT = 'New fan interactions, consumed by route_fan_pii "
            "(PII to SECURE, guests public).'",
            None,
        ),
    ]


# CREATE [ OR REPLACE ] STREAM [ IF NOT EXISTS ] <name> ON TABLE <table_name>
#   [ APPEND_ONLY = TRUE | FALSE ] [ SHOW_INITIAL_ROWS = TRUE | FALSE ] [ COMMENT = '<string>' ]
CREATE_STREAM_GRAMMAR = re.compile(
    r"CREATE (OR REPLACE )?STREAM (IF NOT EXISTS )?[A-Z_.]+ ON TABLE [A-Z_.]+"
    r"( APPEND_ONLY = (TRUE|FALSE))?( SHOW_INITIAL_ROWS = (TRUE|FALSE))?( COMMENT = '([^']|'')*')?"
)


def test_create_stream_follows_snowflakes_documented_grammar() -> None:
    session = session_with()
    streams(session).create(FAN_INTERACTIONS_STREAM)
    assert CREATE_STREAM_GRAMMAR.fullmatch(recorded(session)[-1][0])


def test_routing_dml_parses_as_snowflake_sql() -> None:
    """sqlglot's Snowflake dialect reads each statement as what it is, not an opaque command."""
    import sqlglot
    from sqlglot import expressions

    kinds = {
        VAULT_MERGE: expressions.Merge,
        GUEST_MERGE: expressions.Merge,
        "DELETE FROM STG.GUEST_FANS WHERE fan_id IN (SELECT fan_id FROM SECURE.FAN_PII_VAULT)": (
            expressions.Delete
        ),
        "SELECT SYSTEM$STREAM_HAS_DATA(?)": expressions.Select,
    }
    for sql, kind in kinds.items():
        assert isinstance(sqlglot.parse_one(flat(sql), read="snowflake"), kind), sql


def test_create_standard_stream_sql_quotes_its_comment() -> None:
    stream = Stream("T_STREAM", "RAW", "RAW", "T", False, False, "id", "the fan's stream")
    session = session_with()
    streams(session).create(stream)
    assert recorded(session)[-1] == (
        "CREATE STREAM IF NOT EXISTS RAW.T_STREAM ON TABLE RAW.T APPEND_ONLY = FALSE "
        "SHOW_INITIAL_ROWS = FALSE COMMENT = 'the fan''s stream'",
        None,
    )


def test_has_data_sql() -> None:
    session = session_with({"SELECT SYSTEM$STREAM_HAS_DATA": [(True,)]})
    assert streams(session).has_data(FAN_INTERACTIONS_STREAM) is True
    assert recorded(session) == [
        ("SELECT SYSTEM$STREAM_HAS_DATA(?)", ["RAW.FAN_INTERACTIONS_STREAM"])
    ]


def test_status_sql_reads_show_streams() -> None:
    shown = dict.fromkeys(SHOW_STREAMS_COLUMNS)
    shown.update(
        created_on=NOW,
        name="FAN_INTERACTIONS_STREAM",
        database_name="SONY_DE",
        schema_name="RAW",
        table_name="SONY_DE.RAW.RAW_FAN_INTERACTIONS",
        source_type="Table",
        base_tables="SONY_DE.RAW.RAW_FAN_INTERACTIONS",
        type="DELTA",
        stale="false",
        mode="APPEND_ONLY",
        stale_after=NOW,
    )
    session = session_with(
        {
            "SHOW STREAMS": [
                # LIKE's _ matches any character: a look-alike must not be taken.
                tuple({**shown, "name": "FAN_INTERACTIONSXSTREAM"}.values()),
                tuple(shown.values()),
            ],
            "SELECT SYSTEM$STREAM_HAS_DATA": [(True,)],
            "SELECT COUNT(*) FROM RAW.FAN_INTERACTIONS_STREAM": [(42,)],
            "SELECT MAX(consumed_at)": [(NOW,)],
        }
    )
    status = streams(session).status(FAN_INTERACTIONS_STREAM)
    assert status is not None
    assert (status.name, status.mode, status.stale, status.stale_after) == (
        "FAN_INTERACTIONS_STREAM",
        "APPEND_ONLY",
        False,
        NOW,
    )
    assert (status.has_data, status.pending_rows, status.last_consumed_at) == (True, 42, NOW)
    assert recorded(session) == [
        ("SHOW STREAMS LIKE 'FAN_INTERACTIONS_STREAM' IN SCHEMA RAW", None),
        ("SELECT SYSTEM$STREAM_HAS_DATA(?)", ["RAW.FAN_INTERACTIONS_STREAM"]),
        ("SELECT COUNT(*) FROM RAW.FAN_INTERACTIONS_STREAM", None),
        (
            "SELECT MAX(consumed_at) FROM GOVERNANCE.STREAM_CONSUMPTIONS WHERE stream_name = ?",
            ["RAW.FAN_INTERACTIONS_STREAM"],
        ),
    ]


VAULT_MERGE = """
MERGE INTO SECURE.FAN_PII_VAULT AS kept USING (
  SELECT fan_id, email, full_name, phone, TRY_CAST(date_of_birth AS DATE) AS date_of_birth,
    CASE WHEN has_valid_email THEN SHA2(LOWER(TRIM(email)), 256) END AS email_hash,
    _ingest_seq AS source_ingest_seq
  FROM (
    SELECT fan_id, email, full_name, phone, date_of_birth, _ingest_seq,
      COALESCE(REGEXP_LIKE(TRIM(email), ?), FALSE) AS has_valid_email
    FROM RAW.FAN_INTERACTIONS_STREAM
    WHERE METADATA$ACTION = 'INSERT' AND fan_type = 'verified'
  ) AS changes
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY fan_id ORDER BY has_valid_email DESC, _ingest_seq DESC) = 1
) AS incoming
ON kept.fan_id = incoming.fan_id
WHEN MATCHED AND (
  (incoming.email_hash IS NOT NULL AND kept.email_hash IS NULL)
  OR ((incoming.email_hash IS NULL) = (kept.email_hash IS NULL)
      AND incoming.source_ingest_seq > kept.source_ingest_seq)
) THEN UPDATE SET email = incoming.email, full_name = incoming.full_name, phone = incoming.phone,
  date_of_birth = incoming.date_of_birth, email_hash = incoming.email_hash,
  source_ingest_seq = incoming.source_ingest_seq, routed_at = ?
WHEN NOT MATCHED THEN INSERT
  (fan_id, email, full_name, phone, date_of_birth, email_hash, source_ingest_seq, routed_at)
  VALUES (incoming.fan_id, incoming.email, incoming.full_name, incoming.phone,
    incoming.date_of_birth, incoming.email_hash, incoming.source_ingest_seq, ?)
"""
GUEST_MERGE = """
MERGE INTO STG.GUEST_FANS AS kept USING (
  SELECT fan_id,
    CASE WHEN has_valid_email THEN SHA2(LOWER(TRIM(email)), 256) END AS email_hash,
    _ingest_seq AS source_ingest_seq
  FROM (
    SELECT fan_id, email, _ingest_seq,
      COALESCE(REGEXP_LIKE(TRIM(email), ?), FALSE) AS has_valid_email
    FROM RAW.FAN_INTERACTIONS_STREAM
    WHERE METADATA$ACTION = 'INSERT' AND COALESCE(fan_type, '') <> 'verified'
      AND fan_id NOT IN (SELECT fan_id FROM SECURE.FAN_PII_VAULT)
  ) AS changes
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY fan_id ORDER BY has_valid_email DESC, _ingest_seq DESC) = 1
) AS incoming
ON kept.fan_id = incoming.fan_id
WHEN MATCHED AND (
  (incoming.email_hash IS NOT NULL AND kept.email_hash IS NULL)
  OR ((incoming.email_hash IS NULL) = (kept.email_hash IS NULL)
      AND incoming.source_ingest_seq > kept.source_ingest_seq)
) THEN UPDATE SET email_hash = incoming.email_hash,
  source_ingest_seq = incoming.source_ingest_seq, routed_at = ?
WHEN NOT MATCHED THEN INSERT (fan_id, email_hash, source_ingest_seq, routed_at)
  VALUES (incoming.fan_id, incoming.email_hash, incoming.source_ingest_seq, ?)
"""


def test_routing_sql_consumes_the_stream_in_one_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sony_de_platform.cdc.routing.datetime", _FrozenClock)
    monkeypatch.setattr("sony_de_platform.warehouse.streams._utc_now", lambda: NOW)
    session = session_with(
        {
            "SELECT SYSTEM$STREAM_HAS_DATA": [(True,)],
            "SELECT COUNT(*) FROM RAW.FAN_INTERACTIONS_STREAM": [(7,)],
            "SELECT COUNT(*) FROM SECURE.FAN_PII_VAULT": [(4,)],
            "SELECT COUNT(*) FROM STG.GUEST_FANS": [(3,)],
        }
    )
    result = route_fan_pii(session, "run-1")
    assert (result.change_rows, result.vault_fans, result.guest_fans) == (7, 4, 3)

    statements = recorded(session)
    create = statements.index(
        next(s for s in statements if s[0].startswith("CREATE STREAM IF NOT EXISTS"))
    )
    # Before the stream: the Bronze table it watches (idempotent DDL of the loader).
    assert all(
        sql.startswith(("CREATE SCHEMA IF NOT EXISTS ", "CREATE TABLE IF NOT EXISTS "))
        or sql == SCHEMA_PROBE
        for sql, _ in statements[:create]
    )
    binds = [VALID_EMAIL_PATTERN, NOW, NOW]
    assert statements[create + 1 :] == [
        (SCHEMA_PROBE, ["SECURE"]),
        ("CREATE SCHEMA IF NOT EXISTS SECURE", None),
        (
            "CREATE TABLE IF NOT EXISTS SECURE.FAN_PII_VAULT (fan_id VARCHAR NOT NULL PRIMARY KEY, "
            "email VARCHAR, full_name VARCHAR, phone VARCHAR, date_of_birth DATE, "
            "email_hash VARCHAR, source_ingest_seq BIGINT, routed_at TIMESTAMP)",
            None,
        ),
        (SCHEMA_PROBE, ["STG"]),
        ("CREATE SCHEMA IF NOT EXISTS STG", None),
        (
            "CREATE TABLE IF NOT EXISTS STG.GUEST_FANS (fan_id VARCHAR NOT NULL PRIMARY KEY, "
            "email_hash VARCHAR, source_ingest_seq BIGINT, routed_at TIMESTAMP)",
            None,
        ),
        ("SELECT SYSTEM$STREAM_HAS_DATA(?)", ["RAW.FAN_INTERACTIONS_STREAM"]),
        ("BEGIN", None),
        ("SELECT COUNT(*) FROM RAW.FAN_INTERACTIONS_STREAM", None),
        (flat(VAULT_MERGE), binds),
        (flat(GUEST_MERGE), binds),
        (
            "DELETE FROM STG.GUEST_FANS WHERE fan_id IN (SELECT fan_id FROM SECURE.FAN_PII_VAULT)",
            None,
        ),
        (
            "INSERT INTO GOVERNANCE.STREAM_CONSUMPTIONS (stream_name, consumed_at, change_rows, "
            "run_id) VALUES (?, ?, ?, ?)",
            ["RAW.FAN_INTERACTIONS_STREAM", NOW, 7, "run-1"],
        ),
        ("COMMIT", None),
        ("SELECT COUNT(*) FROM SECURE.FAN_PII_VAULT", None),
        ("SELECT COUNT(*) FROM STG.GUEST_FANS", None),
    ]


def test_routing_issues_no_transaction_when_the_stream_is_empty() -> None:
    session = session_with({"SELECT SYSTEM$STREAM_HAS_DATA": [(False,)]})
    assert route_fan_pii(session).change_rows == 0
    assert not any(sql in ("BEGIN", "COMMIT") for sql, _ in recorded(session))
    assert not any(sql.startswith("MERGE") for sql, _ in recorded(session))


def test_a_failed_consumption_rolls_back() -> None:
    class FailingConnection(RecordingConnection):
        def cursor(self) -> RecordingCursor:
            cursor = super().cursor()
            execute = cursor.execute

            def failing(sql: str, params: Any = None) -> None:
                execute(sql, params)
                if flat(sql).startswith("MERGE INTO STG.GUEST_FANS"):
                    raise RuntimeError("warehouse suspended")

            cursor.execute = failing  # type: ignore[method-assign]
            return cursor

    session = SnowflakeSession(FailingConnection())
    with pytest.raises(RuntimeError, match="warehouse suspended"):
        streams(session).consume(
            FAN_INTERACTIONS_STREAM, [(flat(GUEST_MERGE), [VALID_EMAIL_PATTERN, NOW, NOW])]
        )
    assert [sql for sql, _ in recorded(session)][-2:] == [flat(GUEST_MERGE), "ROLLBACK"]


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return NOW.replace(tzinfo=tz)


@pytest.mark.snowflake_live
@pytest.mark.skipif(
    not os.environ.get("SNOWFLAKE_ACCOUNT"), reason="no Snowflake credentials in the environment"
)
def test_live_snowflake_stream_offset_moves_only_on_committed_dml() -> None:
    from sony_de_platform.warehouse import build_warehouse

    settings = load_settings({**os.environ, "SONY_DE_TARGET": "snowflake"})
    schema = f"SONY_DE_TEST_{uuid.uuid4().hex[:8].upper()}"
    stream = Stream("ITEMS_STREAM", schema, schema, "ITEMS", False, False, "item_id", "live test")
    with build_warehouse(settings).session() as session:
        session.execute(f"CREATE SCHEMA {schema}")
        try:
            session.execute(f"CREATE TABLE {schema}.ITEMS (item_id NUMBER, label VARCHAR)")
            session.execute(f"CREATE TABLE {schema}.SEEN (item_id NUMBER)")
            streams(session).create(stream)
            session.execute(f"INSERT INTO {schema}.ITEMS VALUES (1, 'a'), (2, 'b')")
            assert streams(session).has_data(stream)
            session.fetchall(f"SELECT * FROM {stream.qualified_name}")  # a SELECT moves nothing
            assert streams(session).has_data(stream)
            consumption = streams(session).consume(
                stream,
                [(f"INSERT INTO {schema}.SEEN SELECT item_id FROM {stream.qualified_name}", [])],
            )
            assert consumption.change_rows == 2
            assert not streams(session).has_data(stream)
        finally:
            session.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
