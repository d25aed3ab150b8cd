"""The platform's streams, declared once. Snowflake DDL, the DuckDB twin, the routing and the
stream sensors all follow from `STREAMS`."""

from __future__ import annotations

from sony_de_platform.bronze.feeds import FAN_INTERACTIONS, RAW_SCHEMA
from sony_de_platform.warehouse.streams import Stream, create_stream_sql

# RAW is append-only, so an APPEND_ONLY stream says all there is to say (and is the cheaper
# kind on Snowflake). SHOW_INITIAL_ROWS: the stream is created by the first routing, possibly
# after Bronze already loaded rows; its first consumption must route those rows too.
FAN_INTERACTIONS_STREAM = Stream(
    name="FAN_INTERACTIONS_STREAM",
    schema=RAW_SCHEMA,
    source_schema=RAW_SCHEMA,
    source_table=FAN_INTERACTIONS.table,
    append_only=True,
    show_initial_rows=True,
    row_key="_ingest_seq",
    comment="New fan interactions, consumed by route_fan_pii (PII to SECURE, guests public).",
)

STREAMS: tuple[Stream, ...] = (FAN_INTERACTIONS_STREAM,)


def stream_deploy_statements(database: str) -> list[str]:
    """The deploy's "streams" section: every stream of the registry, created in `database`
    with the very statement the routing issues (which is then a no-op). It runs after the
    RAW tables exist, so SHOW_INITIAL_ROWS covers whatever Bronze loads before the first
    routing."""
    return [create_stream_sql(stream, database) for stream in STREAMS]
