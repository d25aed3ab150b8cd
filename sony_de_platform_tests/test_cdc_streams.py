"""Streams on a real DuckDB file behave as Snowflake documents them: one test per rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from sony_de_platform.warehouse import DuckDBWarehouse, Session
from sony_de_platform.warehouse.streams import DuckDBStreams, Stream, streams

ITEMS = Stream(
    name="ITEMS_STREAM",
    schema="RAW",
    source_schema="RAW",
    source_table="ITEMS",
    append_only=False,
    show_initial_rows=False,
    row_key="item_id",
    comment="standard stream under test",
)
ITEMS_APPEND_ONLY = replace(
    ITEMS, name="ITEMS_APPEND_ONLY_STREAM", append_only=True, comment="append-only under test"
)
SEEN = "CDC_TEST.SEEN"


@pytest.fixture
def session(warehouse: DuckDBWarehouse) -> Iterator[Session]:
    with warehouse.session() as opened:
        opened.ensure_schema("RAW")
        opened.ensure_schema("CDC_TEST")
        opened.execute("CREATE TABLE RAW.ITEMS (item_id BIGINT, label VARCHAR)")
        opened.execute(
            f"CREATE TABLE {SEEN} (item_id BIGINT, label VARCHAR, action VARCHAR, "
            "is_update BOOLEAN, row_id VARCHAR)"
        )
        yield opened


def changes(session: Session, stream: Stream) -> list[tuple]:
    """The stream's change set, read by a plain SELECT (which must not move the offset)."""
    return session.fetchall(
        f"SELECT item_id, label, METADATA$ACTION, METADATA$ISUPDATE, METADATA$ROW_ID "
        f"FROM {stream.qualified_name} ORDER BY item_id, METADATA$ACTION"
    )


def consume(session: Session, stream: Stream) -> int:
    """DML that reads the stream, committed: the way Snowflake advances an offset."""
    insert = (
        f"INSERT INTO {SEEN} SELECT item_id, label, METADATA$ACTION, METADATA$ISUPDATE, "
        f"METADATA$ROW_ID FROM {stream.qualified_name}"
    )
    return streams(session).consume(stream, [(insert, [])]).change_rows


def test_stream_shows_inserts_with_snowflake_metadata_columns(session: Session) -> None:
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a'), (2, 'b')")
    assert changes(session, ITEMS) == [
        (1, "a", "INSERT", False, "1"),
        (2, "b", "INSERT", False, "2"),
    ]
    columns = [
        name
        for (name,) in session.fetchall(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'RAW' AND table_name = 'ITEMS_STREAM' ORDER BY ordinal_position"
        )
    ]
    metadata = ["METADATA$ACTION", "METADATA$ISUPDATE", "METADATA$ROW_ID"]
    assert columns == ["item_id", "label", *metadata]


def test_rows_present_at_creation_do_not_show(session: Session) -> None:
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'before')")
    streams(session).create(ITEMS)
    assert changes(session, ITEMS) == []
    assert not streams(session).has_data(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (2, 'after')")
    assert changes(session, ITEMS) == [(2, "after", "INSERT", False, "2")]


def test_show_initial_rows_returns_the_rows_present_at_creation_once(session: Session) -> None:
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'before'), (2, 'gone')")
    initial = replace(ITEMS, name="ITEMS_INITIAL", show_initial_rows=True)
    streams(session).create(ITEMS)  # a stream without initial rows on the same table
    streams(session).create(initial)
    # the rows present at creation are not copied: one marker row stands for them
    assert session.fetchall("SELECT _dml, _row_id FROM RAW.ITEMS_CHANGE_LOG") == [("INITIAL", None)]
    session.execute("DELETE FROM RAW.ITEMS WHERE item_id = 2")
    session.execute("INSERT INTO RAW.ITEMS VALUES (3, 'after')")
    assert changes(session, initial) == [
        (1, "before", "INSERT", False, "1"),
        (3, "after", "INSERT", False, "3"),
    ]
    # The other stream saw none of the initial rows: only what happened after its creation.
    assert changes(session, ITEMS) == [
        (2, "gone", "DELETE", False, "2"),
        (3, "after", "INSERT", False, "3"),
    ]
    assert consume(session, initial) == 2
    assert changes(session, initial) == []


def test_show_initial_rows_on_an_empty_table_has_no_data_until_a_change(
    session: Session,
) -> None:
    initial = replace(ITEMS, name="ITEMS_INITIAL", show_initial_rows=True)
    streams(session).create(initial)
    assert not streams(session).has_data(initial)
    assert changes(session, initial) == []
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'first')")
    assert streams(session).has_data(initial)
    assert changes(session, initial) == [(1, "first", "INSERT", False, "1")]


def test_initial_rows_changed_after_creation_show_as_each_mode_shows_them(
    session: Session,
) -> None:
    """Rows present at creation are logged as one marker; what the stream shows of them after
    an update or a delete is what Snowflake shows: an APPEND_ONLY stream their values at
    creation, deleted or not; a standard stream their net change (the new value, or
    nothing). A row inserted after creation shows once, as an insert, whatever happened to
    it since."""
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'before'), (2, 'gone'), (3, 'kept')")
    standard = replace(ITEMS, name="ITEMS_INITIAL", show_initial_rows=True)
    append_only = replace(ITEMS_APPEND_ONLY, name="ITEMS_INITIAL_AO", show_initial_rows=True)
    streams(session).create(standard)
    streams(session).create(append_only)
    session.execute("UPDATE RAW.ITEMS SET label = 'changed' WHERE item_id = 1")
    session.execute("UPDATE RAW.ITEMS SET label = 'changed again' WHERE item_id = 1")
    session.execute("DELETE FROM RAW.ITEMS WHERE item_id = 2")
    session.execute("INSERT INTO RAW.ITEMS VALUES (4, 'after'), (5, 'brief')")
    session.execute("UPDATE RAW.ITEMS SET label = 'briefly changed' WHERE item_id = 5")
    session.execute("DELETE FROM RAW.ITEMS WHERE item_id = 5")
    assert changes(session, append_only) == [
        (1, "before", "INSERT", False, "1"),
        (2, "gone", "INSERT", False, "2"),
        (3, "kept", "INSERT", False, "3"),
        (4, "after", "INSERT", False, "4"),
        (5, "brief", "INSERT", False, "5"),
    ]
    assert changes(session, standard) == [
        (1, "changed again", "INSERT", False, "1"),
        (3, "kept", "INSERT", False, "3"),
        (4, "after", "INSERT", False, "4"),
    ]
    assert consume(session, append_only) == 5
    assert changes(session, append_only) == []
    assert changes(session, standard)[0] == (1, "changed again", "INSERT", False, "1")


def test_select_does_not_advance_the_offset(session: Session) -> None:
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a')")
    first = changes(session, ITEMS)
    with session.transaction():  # even inside an explicit transaction that commits
        assert changes(session, ITEMS) == first
    assert changes(session, ITEMS) == first == [(1, "a", "INSERT", False, "1")]
    assert streams(session).has_data(ITEMS)


def test_rolled_back_consumption_does_not_advance_the_offset(session: Session) -> None:
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a')")
    failing = [
        (f"INSERT INTO {SEEN} SELECT item_id, label, NULL, NULL, NULL FROM RAW.ITEMS_STREAM", []),
        ("SELECT error('the routing failed half way')", []),
    ]
    with pytest.raises(Exception, match="the routing failed half way"):
        streams(session).consume(ITEMS, failing)
    assert changes(session, ITEMS) == [(1, "a", "INSERT", False, "1")]
    assert session.row_count("CDC_TEST", "SEEN") == 0  # the DML rolled back with it


def test_committed_consumption_advances_the_offset(session: Session) -> None:
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a'), (2, 'b')")
    assert consume(session, ITEMS) == 2
    assert changes(session, ITEMS) == []
    assert not streams(session).has_data(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (3, 'c')")
    assert consume(session, ITEMS) == 1
    assert session.fetchall(f"SELECT item_id FROM {SEEN} ORDER BY 1") == [(1,), (2,), (3,)]


def test_consumption_must_read_the_stream(session: Session) -> None:
    streams(session).create(ITEMS)
    with pytest.raises(ValueError, match="none of the statements reads RAW.ITEMS_STREAM"):
        streams(session).consume(ITEMS, [("DELETE FROM CDC_TEST.SEEN", [])])


def test_insert_then_delete_nets_to_nothing(session: Session) -> None:
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a'), (2, 'b')")
    session.execute("DELETE FROM RAW.ITEMS WHERE item_id = 1")
    assert changes(session, ITEMS) == [(2, "b", "INSERT", False, "2")]
    session.execute("DELETE FROM RAW.ITEMS")
    assert changes(session, ITEMS) == []
    # SYSTEM$STREAM_HAS_DATA may report changes that net to nothing; it never misses any.
    assert streams(session).has_data(ITEMS)


def test_update_is_a_delete_insert_pair_flagged_isupdate(session: Session) -> None:
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'old'), (2, 'kept')")
    streams(session).create(ITEMS)
    session.execute("UPDATE RAW.ITEMS SET label = 'mid' WHERE item_id = 1")
    session.execute("UPDATE RAW.ITEMS SET label = 'new' WHERE item_id = 1")
    assert changes(session, ITEMS) == [
        (1, "old", "DELETE", True, "1"),  # the row as it was at the offset
        (1, "new", "INSERT", True, "1"),  # and as it is now
    ]


def test_inserted_then_updated_is_one_insert(session: Session) -> None:
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'first')")
    session.execute("UPDATE RAW.ITEMS SET label = 'second' WHERE item_id = 1")
    assert changes(session, ITEMS) == [(1, "second", "INSERT", False, "1")]


def test_delete_of_a_row_present_at_the_offset(session: Session) -> None:
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a')")
    streams(session).create(ITEMS)
    session.execute("TRUNCATE RAW.ITEMS")
    assert changes(session, ITEMS) == [(1, "a", "DELETE", False, "1")]


def test_append_only_keeps_every_insert_and_ignores_deletes_and_updates(
    session: Session,
) -> None:
    streams(session).create(ITEMS_APPEND_ONLY)
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS SELECT range, 'v' || range FROM range(10)")
    session.execute("DELETE FROM RAW.ITEMS WHERE item_id < 5")
    session.execute("UPDATE RAW.ITEMS SET label = 'changed' WHERE item_id = 9")
    appended = changes(session, ITEMS_APPEND_ONLY)
    assert len(appended) == 10  # 10 inserted, 5 deleted -> 10 rows
    assert {row[2] for row in appended} == {"INSERT"}
    assert (9, "v9", "INSERT", False, "9") in appended  # as inserted
    assert len(changes(session, ITEMS)) == 5  # the standard stream nets the deletes out


def test_two_streams_on_one_table_have_independent_offsets(session: Session) -> None:
    other = replace(ITEMS, name="ITEMS_OTHER_STREAM")
    streams(session).create(ITEMS)
    streams(session).create(other)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a')")
    consume(session, ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (2, 'b')")
    assert changes(session, ITEMS) == [(2, "b", "INSERT", False, "2")]
    assert changes(session, other) == [
        (1, "a", "INSERT", False, "1"),
        (2, "b", "INSERT", False, "2"),
    ]
    # METADATA$ROW_ID is the same across streams on one table.
    assert changes(session, ITEMS)[0][4] == changes(session, other)[1][4]
    consume(session, other)
    assert changes(session, other) == []
    assert changes(session, ITEMS) == [(2, "b", "INSERT", False, "2")]


def test_every_statement_of_a_consumption_sees_the_same_change_set(session: Session) -> None:
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a'), (2, 'b')")
    insert = f"INSERT INTO {SEEN} SELECT item_id, label, NULL, NULL, NULL FROM RAW.ITEMS_STREAM"
    assert streams(session).consume(ITEMS, [(insert, []), (insert, [])]).change_rows == 2
    assert session.row_count("CDC_TEST", "SEEN") == 4


def test_create_is_idempotent_and_keeps_the_offset(session: Session) -> None:
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a')")
    streams(session).create(ITEMS)  # CREATE STREAM IF NOT EXISTS
    assert changes(session, ITEMS) == [(1, "a", "INSERT", False, "1")]


def test_consumed_changes_leave_the_change_log(session: Session) -> None:
    streams(session).create(ITEMS)
    streams(session).create(ITEMS_APPEND_ONLY)
    session.execute("INSERT INTO RAW.ITEMS SELECT range, 'x' FROM range(5)")
    log = DuckDBStreams.change_log(ITEMS)
    consume(session, ITEMS)
    assert session.scalar(f"SELECT COUNT(*) FROM {log}") == 5  # the other stream needs them
    consume(session, ITEMS_APPEND_ONLY)
    assert session.scalar(f"SELECT COUNT(*) FROM {log}") == 0


def test_status_in_the_shape_of_show_streams(session: Session) -> None:
    assert streams(session).status(ITEMS) is None
    streams(session).create(ITEMS_APPEND_ONLY)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a'), (2, 'b')")
    status = streams(session).status(ITEMS_APPEND_ONLY)
    assert status is not None
    assert (status.name, status.schema_name, status.database_name) == (
        "ITEMS_APPEND_ONLY_STREAM",
        "RAW",
        "SONY_DE",
    )
    assert (status.table_name, status.source_type, status.type, status.mode) == (
        "SONY_DE.RAW.ITEMS",
        "Table",
        "DELTA",
        "APPEND_ONLY",
    )
    assert (status.stale, status.has_data, status.pending_rows) == (False, True, 2)
    assert status.last_consumed_at is None
    consume(session, ITEMS_APPEND_ONLY)
    after = streams(session).status(ITEMS_APPEND_ONLY)
    assert after is not None and (after.has_data, after.pending_rows) == (False, 0)
    assert after.last_consumed_at is not None and after.created_on <= after.last_consumed_at


def test_offsets_survive_a_new_connection(warehouse: DuckDBWarehouse, session: Session) -> None:
    streams(session).create(ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (1, 'a')")
    consume(session, ITEMS)
    session.execute("INSERT INTO RAW.ITEMS VALUES (2, 'b')")
    session.connection.close()  # type: ignore[attr-defined]
    with warehouse.session(read_only=True) as reopened:
        assert changes(reopened, ITEMS) == [(2, "b", "INSERT", False, "2")]
