"""Evaluating attached DMFs and reading their history, the same way on both engines.

An evaluation measures VALUE (DuckDB: the body over the attached columns; Snowflake: an ad
hoc call of the deployed DMF), judges it against the attachment's expectation, lists up to
ten violating rows by their keys, and appends to the results history where the engine does
not record it itself. Key Stats read the latest result of every attachment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sony_de_platform.quality.registry import Attachment, Registry, load_registry
from sony_de_platform.warehouse.base import Session
from sony_de_platform.warehouse.data_metrics import (
    DATA_METRIC_ENGINES,
    DataMetricEngine,
    MetricCall,
    MetricResult,
    ResultRow,
    attachment_result_key,
)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Measurement:
    """One evaluation of one attachment."""

    attachment: Attachment
    value: float | None
    measured_at: datetime
    violating_keys: list[dict[str, Any]] = field(default_factory=list)
    latest_recorded: MetricResult | None = None  # newest row of the results history

    @property
    def passed(self) -> bool:
        return self.attachment.passes(self.value)


def engine_for(session: Session) -> DataMetricEngine:
    return DATA_METRIC_ENGINES[session.engine]


def measure(
    session: Session,
    registry: Registry,
    attachments: Sequence[Attachment],
    scheduled_time: datetime | None = None,
    change_commit_time: datetime | None = None,
) -> list[Measurement]:
    """Evaluate attachments now; record them (DuckDB) and return them with their history."""
    engine = engine_for(session)
    engine.prepare(session)
    database = registry.database
    measured: list[tuple[Attachment, float | None, datetime, list[dict[str, Any]]]] = []
    for attachment in attachments:
        call = MetricCall.of(attachment)
        value = engine.measure(session, database, call)
        measured_at = utc_now()
        examples = []
        if not attachment.passes(value):
            examples = engine.violating_keys(session, database, call, attachment.key_columns)
        measured.append((attachment, value, measured_at, examples))
    engine.record(
        session,
        database,
        [
            ResultRow(a, value, scheduled_time or at, change_commit_time, at)
            for a, value, at, _ in measured
        ],
    )
    latest = engine.latest_results(session, database)
    return [
        Measurement(a, value, at, examples, latest.get(attachment_result_key(a)))
        for a, value, at, examples in measured
    ]


def latest_dmf_outcome(session: Session, registry: Registry | None = None) -> tuple[int, int]:
    """(passing, evaluated) attachments: the latest recorded result of each against its
    expectation. Attachments never evaluated are not counted."""
    registry = registry or load_registry()
    latest = engine_for(session).latest_results(session, registry.database)
    results = [
        (attachment, latest[attachment_result_key(attachment)])
        for attachment in registry.attachments
        if attachment_result_key(attachment) in latest
    ]
    passing = sum(1 for attachment, result in results if attachment.passes(result.value))
    return passing, len(results)
