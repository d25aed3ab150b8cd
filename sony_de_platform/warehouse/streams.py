"""Table streams (change data capture): Snowflake's native streams and their DuckDB twin.

Every operation has the two dialects side by side: `SnowflakeStreams` issues Snowflake's own
SQL, `DuckDBStreams` emulates it with Snowflake's documented semantics (see
shared/snowflake-semantics.md, "Streams"), so what a developer sees locally is what
production does:

- a stream is queried by name and returns the source's columns plus METADATA$ACTION
  (INSERT | DELETE), METADATA$ISUPDATE and METADATA$ROW_ID;
- standard streams return the net change since the offset (a row inserted then deleted does
  not appear; an update is a DELETE+INSERT pair with ISUPDATE TRUE; inserted then updated is
  one INSERT); APPEND_ONLY streams return every inserted row and ignore updates and deletes;
- the offset moves only when the stream is read by DML in a transaction that commits
  (`consume`); a plain SELECT, in or out of a transaction, or a rolled-back consumption
  leaves it where it was; every statement of the consuming transaction sees the same change
  set; streams on one table keep independent offsets;
- `has_data` answers like SYSTEM$STREAM_HAS_DATA: it never misses a change, may report one
  that nets to nothing, and polling it moves nothing;
- SHOW_INITIAL_ROWS = TRUE makes the first consumption return the rows present at creation.

How the twin works. The first stream on a table installs change capture on it: statement
level AFTER INSERT / UPDATE / DELETE triggers (DuckDB runs them inside the writing
transaction, so a rollback drops the captured changes too) append every before- and
after-image to `<table>_CHANGE_LOG`, numbered by statement. `STREAM_OFFSETS`, beside the
table, holds each stream's offset (the last statement number it consumed). A stream is a
view over the change log above its offset, so it is queried by name as on Snowflake.
`consume` runs the caller's DML and moves the offset in the same transaction, then drops
the changes every stream of the table has consumed. SHOW_INITIAL_ROWS logs one marker row
for the rows present at creation; while it is pending, the view takes those rows from the
table where no later statement changed them, and from the before-image of their first later
change where one did.

Where the twin cannot match Snowflake (also in the README):
- Only `consume` advances a DuckDB offset: DML that reads the stream view outside it does
  not (Snowflake advances on any committed DML read). `consume` refuses statements that do
  not read the stream, so both engines agree on what a consumption is.
- METADATA$ROW_ID is the stream's declared row key (an immutable unique column), as text.
  Deleting a row and inserting another with the same key therefore looks like an update.
- Changes are numbered by a sequence; this relies on the platform's single DuckDB writer
  (the warehouse writer lock), so no two writing transactions interleave.
- A DuckDB stream is never stale: the change log keeps every change until all streams of
  the table consumed it (Snowflake's retention period does not apply). `stale_after` is NULL.
- Within one consuming transaction, changes the transaction itself makes to the source table
  show in its later statements (on Snowflake they do not); they stay pending either way.
- A column added to the source table after capture was installed is not captured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sony_de_platform.settings import DATABASE_NAME, Engine
from sony_de_platform.warehouse.base import Session, identifier, qualified

# Every consumption, on both engines, beside the dbt test results: when each stream was last
# consumed, by which run, and how many change rows it carried.
CONSUMPTIONS_SCHEMA = "GOVERNANCE"
CONSUMPTIONS_TABLE = "STREAM_CONSUMPTIONS"
CONSUMPTIONS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("stream_name", "VARCHAR"),
    ("consumed_at", "TIMESTAMP"),
    ("change_rows", "BIGINT"),
    ("run_id", "VARCHAR"),
)

Statement = tuple[str, Sequence[Any]]

# The DuckDB change log's own columns, before the source table's.
_LOG_META = ("_change_stmt", "_image", "_action", "_dml", "_for_stream", "_row_id")


@dataclass(frozen=True)
class Stream:
    """A stream on a table, as declared in the registry (sony_de_platform/cdc/streams.py)."""

    name: str
    schema: str
    source_schema: str
    source_table: str
    append_only: bool
    show_initial_rows: bool
    row_key: str  # immutable, unique column of the source: the DuckDB twin's METADATA$ROW_ID
    comment: str

    @property
    def qualified_name(self) -> str:
        return qualified(self.schema, self.name)

    @property
    def source(self) -> str:
        return qualified(self.source_schema, self.source_table)

    @property
    def mode(self) -> str:
        """SHOW STREAMS `mode`."""
        return "APPEND_ONLY" if self.append_only else "DEFAULT"


@dataclass(frozen=True)
class StreamStatus:
    """A stream's state: SHOW STREAMS columns, then what SHOW STREAMS does not say."""

    created_on: datetime | None
    name: str
    database_name: str
    schema_name: str
    owner: str | None
    comment: str | None
    table_name: str
    source_type: str
    base_tables: str
    type: str
    stale: bool
    mode: str
    stale_after: datetime | None
    invalid_reason: str | None
    owner_role_type: str | None
    has_data: bool
    pending_rows: int
    last_consumed_at: datetime | None


@dataclass(frozen=True)
class Consumption:
    """What one committed consumption carried."""

    stream: str
    change_rows: int
    consumed_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _sql_text(value: str) -> str:
    """A string literal, for DDL where values cannot be bound."""
    return "'" + value.replace("'", "''") + "'"


def create_stream_sql(stream: Stream, database: str | None = None) -> str:
    """Snowflake's CREATE STREAM IF NOT EXISTS for `stream`: the routing issues it in the
    session's database, `sony-de snowflake deploy` with the target database named."""
    prefix = f"{identifier(database)}." if database else ""
    return (
        f"CREATE STREAM IF NOT EXISTS {prefix}{stream.qualified_name} "
        f"ON TABLE {prefix}{stream.source} "
        f"APPEND_ONLY = {str(stream.append_only).upper()} "
        f"SHOW_INITIAL_ROWS = {str(stream.show_initial_rows).upper()} "
        f"COMMENT = {_sql_text(stream.comment)}"
    )


class StreamOperations:
    """What both engines do alike: the consumption log and the consuming transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, stream: Stream) -> None:
        """CREATE STREAM IF NOT EXISTS: creating an existing stream keeps its offset."""
        raise NotImplementedError

    def exists(self, stream: Stream) -> bool:
        raise NotImplementedError

    def has_data(self, stream: Stream) -> bool:
        """SYSTEM$STREAM_HAS_DATA: may say TRUE for changes that net to nothing."""
        raise NotImplementedError

    def status(self, stream: Stream) -> StreamStatus | None:
        """The stream's state, or None when it does not exist."""
        raise NotImplementedError

    def consume(
        self, stream: Stream, statements: Sequence[Statement], run_id: str = ""
    ) -> Consumption:
        """Run `statements` (DML reading the stream) in one transaction that also records the
        consumption; on commit the stream's offset moves past the change set they read."""
        if not any(stream.qualified_name.upper() in sql.upper() for sql, _ in statements):
            raise ValueError(
                f"none of the statements reads {stream.qualified_name}: a stream's offset only "
                "moves when DML reads it, so this would consume nothing on Snowflake"
            )
        consumed_at = _utc_now()
        with self.session.transaction():
            horizon = self._consumption_horizon(stream)
            change_rows = int(self.session.scalar(f"SELECT COUNT(*) FROM {stream.qualified_name}"))
            for sql, params in statements:
                self.session.execute(sql, params)
            self._advance_offset(stream, horizon)
            self.session.execute(
                f"INSERT INTO {qualified(CONSUMPTIONS_SCHEMA, CONSUMPTIONS_TABLE)} "
                f"({', '.join(name for name, _ in CONSUMPTIONS_COLUMNS)}) VALUES (?, ?, ?, ?)",
                [stream.qualified_name, consumed_at, change_rows, run_id],
            )
        return Consumption(stream.qualified_name, change_rows, consumed_at)

    def _consumption_horizon(self, stream: Stream) -> int | None:
        """First thing in the consuming transaction: where the offset will move on commit
        (Snowflake keeps this itself)."""
        return None

    def _advance_offset(self, stream: Stream, horizon: int | None) -> None:
        """Last thing before COMMIT (Snowflake moves the offset itself on commit)."""

    def _ensure_consumption_log(self) -> None:
        self.session.ensure_schema(CONSUMPTIONS_SCHEMA)
        body = ", ".join(f"{name} {sql_type}" for name, sql_type in CONSUMPTIONS_COLUMNS)
        self.session.execute(
            "CREATE TABLE IF NOT EXISTS "
            f"{qualified(CONSUMPTIONS_SCHEMA, CONSUMPTIONS_TABLE)} ({body})"
        )

    def _last_consumed_at(self, stream: Stream) -> datetime | None:
        return self.session.scalar(
            f"SELECT MAX(consumed_at) FROM {qualified(CONSUMPTIONS_SCHEMA, CONSUMPTIONS_TABLE)} "
            "WHERE stream_name = ?",
            [stream.qualified_name],
        )

    def _pending_rows(self, stream: Stream) -> int:
        """A plain SELECT: reading a stream outside DML never moves its offset."""
        return int(self.session.scalar(f"SELECT COUNT(*) FROM {stream.qualified_name}"))


class SnowflakeStreams(StreamOperations):
    """Native streams: Snowflake keeps the offsets and the change data."""

    def create(self, stream: Stream) -> None:
        self._ensure_consumption_log()
        self.session.execute(create_stream_sql(stream))

    def _show(self, stream: Stream) -> dict[str, Any] | None:
        rows = self.session.fetch_records(
            f"SHOW STREAMS LIKE {_sql_text(identifier(stream.name))} "
            f"IN SCHEMA {identifier(stream.schema)}"
        )
        # LIKE treats _ as a wildcard: keep the exact name only.
        return next((row for row in rows if row["name"].upper() == stream.name.upper()), None)

    def exists(self, stream: Stream) -> bool:
        return self._show(stream) is not None

    def has_data(self, stream: Stream) -> bool:
        return bool(
            self.session.scalar("SELECT SYSTEM$STREAM_HAS_DATA(?)", [stream.qualified_name])
        )

    def status(self, stream: Stream) -> StreamStatus | None:
        shown = self._show(stream)
        if shown is None:
            return None
        return StreamStatus(
            created_on=shown["created_on"],
            name=shown["name"],
            database_name=shown["database_name"],
            schema_name=shown["schema_name"],
            owner=shown["owner"],
            comment=shown["comment"],
            table_name=shown["table_name"],
            source_type=shown["source_type"],
            base_tables=shown["base_tables"],
            type=shown["type"],
            stale=str(shown["stale"]).lower() == "true",
            mode=shown["mode"],
            stale_after=shown["stale_after"],
            invalid_reason=shown["invalid_reason"],
            owner_role_type=shown["owner_role_type"],
            has_data=self.has_data(stream),
            pending_rows=self._pending_rows(stream),
            last_consumed_at=self._last_consumed_at(stream),
        )


class DuckDBStreams(StreamOperations):
    """The twin: change capture by triggers, offsets in a table, the stream as a view."""

    @staticmethod
    def change_log(stream: Stream) -> str:
        return qualified(stream.source_schema, f"{stream.source_table}_CHANGE_LOG")

    @staticmethod
    def _sequence(stream: Stream) -> str:
        return qualified(stream.source_schema, f"{stream.source_table}_CHANGE_SEQ")

    @staticmethod
    def offsets(stream: Stream) -> str:
        return qualified(stream.source_schema, "STREAM_OFFSETS")

    def _source_columns(self, stream: Stream) -> dict[str, str]:
        """The source table's columns in order, each with its SQL type."""
        described = self.session.fetchall(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE upper(table_schema) = upper(?) AND upper(table_name) = upper(?) "
            "ORDER BY ordinal_position",
            [stream.source_schema, stream.source_table],
        )
        if not described:
            raise ValueError(
                f"cannot create stream {stream.qualified_name}: table {stream.source} does not "
                "exist yet (create it first, e.g. by loading its Bronze feed)"
            )
        columns = {identifier(name): str(sql_type) for name, sql_type in described}
        if stream.row_key not in columns:
            raise ValueError(
                f"stream {stream.qualified_name}: row key {stream.row_key!r} is not a column of "
                f"{stream.source}; declare an immutable unique column of the table"
            )
        return columns

    def _ensure_change_capture(self, stream: Stream, columns: dict[str, str]) -> None:
        """Change log, statement sequence and the three capture triggers of the table."""
        log = self.change_log(stream)
        table = stream.source_table
        if self.session.table_exists(stream.source_schema, f"{table}_CHANGE_LOG"):
            return
        cols = ", ".join(columns)
        meta = ", ".join(_LOG_META)
        self.session.execute(f"CREATE SEQUENCE IF NOT EXISTS {self._sequence(stream)}")
        self.session.execute(
            f"CREATE TABLE {log} AS SELECT CAST(NULL AS BIGINT) AS _change_stmt, "
            "CAST(NULL AS TINYINT) AS _image, CAST(NULL AS VARCHAR) AS _action, "
            "CAST(NULL AS VARCHAR) AS _dml, CAST(NULL AS VARCHAR) AS _for_stream, "
            f"CAST(NULL AS VARCHAR) AS _row_id, {cols} FROM {stream.source} LIMIT 0"
        )
        # One number per statement (the single-row subquery is evaluated once); within an
        # UPDATE the before-image (_image 0) precedes the after-image (_image 1).
        statement_number = f"(SELECT nextval('{self._sequence(stream)}') AS n) AS statement"
        images = {
            "INSERT": f"SELECT 1 AS _image, 'INSERT' AS _action, {cols} FROM new_rows",
            "DELETE": f"SELECT 0 AS _image, 'DELETE' AS _action, {cols} FROM old_rows",
            "UPDATE": f"SELECT 0 AS _image, 'DELETE' AS _action, {cols} FROM old_rows "
            f"UNION ALL SELECT 1, 'INSERT', {cols} FROM new_rows",
        }
        referencing = {
            "INSERT": "NEW TABLE AS new_rows",
            "DELETE": "OLD TABLE AS old_rows",
            "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        }
        for dml, image_rows in images.items():
            self.session.execute(
                f"CREATE TRIGGER {identifier(f'{table}_CAPTURE_{dml}')} AFTER {dml} "
                f"ON {stream.source} REFERENCING {referencing[dml]} FOR EACH STATEMENT "
                f"INSERT INTO {log} ({meta}, {cols}) "
                f"SELECT statement.n, images._image, images._action, '{dml}', NULL, "
                f"CAST(images.{stream.row_key} AS VARCHAR), {cols} "
                f"FROM {statement_number}, ({image_rows}) AS images"
            )

    def _ensure_offsets(self, stream: Stream) -> None:
        self.session.execute(
            f"CREATE TABLE IF NOT EXISTS {self.offsets(stream)} ("
            "stream_name VARCHAR PRIMARY KEY, database_name VARCHAR, schema_name VARCHAR, "
            "source_schema VARCHAR, table_name VARCHAR, mode VARCHAR, comment VARCHAR, "
            "created_on TIMESTAMP, offset_stmt BIGINT)"
        )

    def _offset_sql(self, stream: Stream) -> str:
        """The stream's offset, as a scalar subquery."""
        return (
            f"(SELECT offset_stmt FROM {self.offsets(stream)} "
            f"WHERE stream_name = {_sql_text(stream.qualified_name)})"
        )

    def _pending_filter(self, stream: Stream) -> str:
        """Change-log rows above the stream's offset that belong to it."""
        name = _sql_text(stream.qualified_name)
        inserts_only = " AND _dml IN ('INSERT', 'INITIAL')" if stream.append_only else ""
        return (
            f"_change_stmt > {self._offset_sql(stream)} "
            f"AND (_for_stream IS NULL OR _for_stream = {name}){inserts_only}"
        )

    def _pending_sql(self, stream: Stream, columns: dict[str, str]) -> str:
        """The stream's change-log rows above its offset, with their columns.

        The rows present at creation (SHOW_INITIAL_ROWS) are logged as one marker row, not
        one row each: logging every key of RAW and joining the keys back to RAW by text was
        most of the first routing (at scale 30, 4.8 s to log 5.4 million keys, then about
        2 s for each read of the stream against 0.3 s for RAW itself). While the marker is
        pending, the stream shows every row the source had at creation: the rows no later
        statement changed, as they are now, and for the others the before-image of their
        first later change (an update or delete is logged), unless a later statement
        inserted them. Rows are matched to their changes by key, in the key's own type."""
        log = self.change_log(stream)
        pending = f"SELECT * FROM {log} WHERE {self._pending_filter(stream)}"
        if not stream.show_initial_rows:
            return pending
        since_offset = f"_for_stream IS NULL AND _change_stmt > {self._offset_sql(stream)}"
        key, key_type = stream.row_key, columns[stream.row_key]
        marker = ", ".join(f"marker.{column}" for column in _LOG_META[:-1])  # all but _row_id
        return f"""
            SELECT * FROM ({pending}) WHERE _dml <> 'INITIAL'
            UNION ALL
            SELECT {marker}, at_creation.*
            FROM ({pending}) AS marker, (
                SELECT CAST(now.{key} AS VARCHAR) AS _row_id, {", ".join(columns)}
                FROM {stream.source} AS now
                ANTI JOIN (
                    SELECT TRY_CAST(_row_id AS {key_type}) AS row_key FROM {log}
                    WHERE {since_offset}
                ) AS changed ON changed.row_key = now.{key}
                UNION ALL
                SELECT before._row_id, {", ".join(f"before.{column}" for column in columns)}
                FROM {log} AS before
                ANTI JOIN (
                    SELECT _row_id FROM {log} WHERE _dml = 'INSERT' AND {since_offset}
                ) AS inserted ON inserted._row_id = before._row_id
                WHERE before._image = 0 AND {since_offset}
                QUALIFY row_number() OVER (
                    PARTITION BY before._row_id ORDER BY before._change_stmt
                ) = 1
            ) AS at_creation
            WHERE marker._dml = 'INITIAL'
        """

    def _view_sql(self, stream: Stream, columns: dict[str, str]) -> str:
        cols = ", ".join(columns)
        pending = self._pending_sql(stream, columns)
        if stream.append_only:
            return (
                f'SELECT {cols}, \'INSERT\' AS "METADATA$ACTION", FALSE AS "METADATA$ISUPDATE", '
                f'_row_id AS "METADATA$ROW_ID" FROM ({pending})'
            )
        # Net change per row: it existed at the offset if its first change is a DELETE, and
        # exists now if its last change is an INSERT. Existed and exists: an update pair.
        return f"""
            WITH pending AS ({pending}),
            ranked AS (
                SELECT *,
                    row_number() OVER row_history AS _nth,
                    count(*) OVER row_history AS _changes,
                    first_value(_action) OVER row_history AS _first_action,
                    last_value(_action) OVER row_history AS _last_action
                FROM pending
                WINDOW row_history AS (
                    PARTITION BY _row_id ORDER BY _change_stmt, _image
                    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                )
            )
            SELECT {cols}, 'DELETE' AS "METADATA$ACTION",
                _last_action = 'INSERT' AS "METADATA$ISUPDATE", _row_id AS "METADATA$ROW_ID"
            FROM ranked WHERE _nth = 1 AND _first_action = 'DELETE'
            UNION ALL
            SELECT {cols}, 'INSERT', _first_action = 'DELETE', _row_id
            FROM ranked WHERE _nth = _changes AND _last_action = 'INSERT'
        """

    def create(self, stream: Stream) -> None:
        self._ensure_consumption_log()
        self.session.ensure_schema(stream.schema)
        with self.session.transaction():
            if self.exists(stream):
                return
            columns = self._source_columns(stream)
            self._ensure_change_capture(stream, columns)
            self._ensure_offsets(stream)
            # The offset starts at the latest change already captured: nothing before
            # creation shows, unless SHOW_INITIAL_ROWS logs the marker of the current rows
            # for this stream alone.
            self.session.execute(
                f"INSERT INTO {self.offsets(stream)} VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                f"(SELECT COALESCE(MAX(_change_stmt), 0) FROM {self.change_log(stream)}))",
                [
                    stream.qualified_name,
                    DATABASE_NAME,
                    stream.schema,
                    stream.source_schema,
                    stream.source_table,
                    stream.mode,
                    stream.comment,
                    _utc_now(),
                ],
            )
            if stream.show_initial_rows:  # one marker: the view reads the rows (above)
                self.session.execute(
                    f"INSERT INTO {self.change_log(stream)} ({', '.join(_LOG_META)}) "
                    f"SELECT nextval('{self._sequence(stream)}'), 1, 'INSERT', 'INITIAL', ?, "
                    f"NULL WHERE EXISTS (SELECT 1 FROM {stream.source})",
                    [stream.qualified_name],
                )
            self.session.execute(
                f"CREATE OR REPLACE VIEW {stream.qualified_name} AS "
                f"{self._view_sql(stream, columns)}"
            )

    def exists(self, stream: Stream) -> bool:
        if not self.session.table_exists(stream.source_schema, "STREAM_OFFSETS"):
            return False
        return bool(
            self.session.scalar(
                f"SELECT COUNT(*) FROM {self.offsets(stream)} WHERE stream_name = ?",
                [stream.qualified_name],
            )
        ) and self.session.table_exists(stream.schema, stream.name)

    def has_data(self, stream: Stream) -> bool:
        return bool(
            self.session.scalar(
                f"SELECT EXISTS (SELECT 1 FROM {self.change_log(stream)} "
                f"WHERE {self._pending_filter(stream)})"
            )
        )

    def status(self, stream: Stream) -> StreamStatus | None:
        if not self.exists(stream):
            return None
        created_on, comment = self.session.fetchone(
            f"SELECT created_on, comment FROM {self.offsets(stream)} WHERE stream_name = ?",
            [stream.qualified_name],
        )
        return StreamStatus(
            created_on=created_on,
            name=stream.name,
            database_name=DATABASE_NAME,
            schema_name=stream.schema,
            owner=None,
            comment=comment,
            table_name=f"{DATABASE_NAME}.{stream.source}",
            source_type="Table",
            base_tables=f"{DATABASE_NAME}.{stream.source}",
            type="DELTA",
            stale=False,
            mode=stream.mode,
            stale_after=None,
            invalid_reason=None,
            owner_role_type=None,
            has_data=self.has_data(stream),
            pending_rows=self._pending_rows(stream),
            last_consumed_at=self._last_consumed_at(stream),
        )

    def _consumption_horizon(self, stream: Stream) -> int:
        # The newest change the transaction sees at its start (DuckDB's snapshot isolation
        # keeps later commits out of it), as Snowflake moves the offset to the start.
        return int(
            self.session.scalar(
                f"SELECT COALESCE(MAX(_change_stmt), 0) FROM {self.change_log(stream)} "
                "WHERE _for_stream IS NULL OR _for_stream = ?",
                [stream.qualified_name],
            )
        )

    def _advance_offset(self, stream: Stream, horizon: int | None) -> None:
        """Move the offset to the horizon, then drop what every stream of the table consumed."""
        self.session.execute(
            f"UPDATE {self.offsets(stream)} SET offset_stmt = GREATEST(offset_stmt, ?) "
            "WHERE stream_name = ?",
            [horizon, stream.qualified_name],
        )
        self.session.execute(
            f"DELETE FROM {self.change_log(stream)} WHERE _change_stmt <= "
            f"(SELECT MIN(offset_stmt) FROM {self.offsets(stream)} "
            "WHERE source_schema = ? AND table_name = ?)",
            [stream.source_schema, stream.source_table],
        )


def streams(session: Session) -> StreamOperations:
    """The stream operations of the session's engine."""
    if session.engine is Engine.SNOWFLAKE:
        return SnowflakeStreams(session)
    return DuckDBStreams(session)
