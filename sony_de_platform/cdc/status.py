"""The streams' state for operators (`sony-de streams`): SHOW STREAMS plus what is pending."""

from __future__ import annotations

from sony_de_platform.cdc.streams import STREAMS
from sony_de_platform.settings import Engine, Settings
from sony_de_platform.warehouse import build_warehouse
from sony_de_platform.warehouse.streams import streams

COLUMNS = ("stream", "table", "mode", "stale", "has data", "pending rows", "last consumed")


def streams_report(settings: Settings) -> str:
    """A markdown table, one row per stream of the registry (`not created` until its first
    consumer runs)."""
    if settings.engine is Engine.DUCKDB and not settings.warehouse_path.exists():
        return f"no warehouse yet at {settings.warehouse_path}: nothing has been loaded"
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    with build_warehouse(settings).session(read_only=True) as session:
        for stream in STREAMS:
            status = streams(session).status(stream)
            cells = (
                [stream.qualified_name, stream.source, stream.mode, "not created", "", "", ""]
                if status is None
                else [
                    stream.qualified_name,
                    status.table_name,
                    status.mode,
                    str(status.stale).lower(),
                    str(status.has_data).lower(),
                    f"{status.pending_rows:,}",
                    f"{status.last_consumed_at:%Y-%m-%d %H:%M:%S} UTC"
                    if status.last_consumed_at
                    else "never",
                ]
            )
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
