"""Data Metric Functions on each engine, side by side.

Snowflake runs DMFs natively: deployment creates the custom DMFs, sets the table's
DATA_METRIC_SCHEDULE and attaches each DMF with its EXPECTATION (only where not attached
yet), a check calls the DMF ad hoc (`SELECT db.schema.DMF(SELECT col FROM table)`), and the
scheduled results are read from SNOWFLAKE.LOCAL.DATA_QUALITY_MONITORING_RESULTS.

DuckDB has no DMFs: the same body runs with `arg_t` bound to the attached columns (a CTE),
and each evaluation appends a row to GOVERNANCE.DATA_QUALITY_MONITORING_RESULTS, whose
columns carry Snowflake's names, so the history reads the same on both engines.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sony_de_platform.quality.registry import Attachment, DataMetricFunction, Registry
from sony_de_platform.settings import Engine
from sony_de_platform.warehouse.base import Session, identifier, qualified

GOVERNANCE_SCHEMA = "GOVERNANCE"
RESULTS_TABLE = "DATA_QUALITY_MONITORING_RESULTS"
EXAMPLE_ROWS = 10


@dataclass(frozen=True)
class MetricCall:
    """A DMF applied to a table: the attached columns, or (ad hoc) any SQL expressions."""

    function: DataMetricFunction
    schema: str
    table: str
    arguments: tuple[str, ...]

    @classmethod
    def of(cls, attachment: Attachment) -> MetricCall:
        return cls(attachment.function, attachment.schema, attachment.table, attachment.columns)


@dataclass(frozen=True)
class MetricResult:
    """One row of DATA_QUALITY_MONITORING_RESULTS, as far as checks and Key Stats need it."""

    value: float | None
    measurement_time: datetime | None


@dataclass(frozen=True)
class ResultRow:
    """What an evaluation appends to the results table (DuckDB; Snowflake records its own)."""

    attachment: Attachment
    value: float | None
    scheduled_time: datetime
    change_commit_time: datetime | None
    measurement_time: datetime


def result_key(schema: str, table: str, metric: str, arguments: Sequence[str]) -> tuple[str, ...]:
    """How a results row is matched to its attachment: table, DMF and argument names."""
    return (schema.upper(), table.upper(), metric.upper(), ",".join(a.upper() for a in arguments))


def attachment_result_key(attachment: Attachment) -> tuple[str, ...]:
    return result_key(
        attachment.schema,
        attachment.table,
        attachment.function.qualified_name,
        attachment.argument_names,
    )


def _number(value: Any) -> float | None:
    """Snowflake returns VALUE as VARIANT (JSON text); DuckDB as a number."""
    if value is None:
        return None
    if isinstance(value, str):
        value = json.loads(value)
    return None if value is None else float(value)


class DataMetricEngine:
    """The DMF operations one engine performs; subclasses give the dialect."""

    engine: Engine
    records_results: bool

    # --- names ---
    def relation(self, database: str, schema: str, table: str) -> str:
        raise NotImplementedError

    @property
    def results_table(self) -> str:
        raise NotImplementedError

    # --- evaluation ---
    def prepare(self, session: Session) -> None:
        """Make the functions DMF bodies use available to the session."""

    def value_sql(self, database: str, call: MetricCall) -> str:
        raise NotImplementedError

    def argument_relation(
        self, database: str, call: MetricCall, extra_columns: Sequence[str] = ()
    ) -> str:
        """The rows a DMF body sees as `arg_t`: each argument under its signature name."""
        projected = [
            f"{expression} AS {name}"
            for expression, (name, _) in zip(call.arguments, call.function.arguments, strict=True)
        ]
        projected += [identifier(column) for column in extra_columns]
        table = self.relation(database, call.schema, call.table)
        return f"SELECT {', '.join(projected) or '*'} FROM {table}"

    def measure(self, session: Session, database: str, call: MetricCall) -> float | None:
        return _number(session.scalar(self.value_sql(database, call)))

    def violating_keys_sql(
        self, database: str, call: MetricCall, key_columns: Sequence[str], limit: int
    ) -> str | None:
        """Key columns of up to `limit` rows the metric counts (never the values)."""
        if call.function.violating_rows is None or not key_columns:
            return None
        keys = ", ".join(identifier(column) for column in key_columns)
        rows = call.function.violating_rows
        return (
            f"WITH arg_t AS ({self.argument_relation(database, call, key_columns)}) "
            f"SELECT {keys} FROM ({rows}) AS violations ORDER BY {keys} LIMIT {int(limit)}"
        )

    def violating_keys(
        self,
        session: Session,
        database: str,
        call: MetricCall,
        key_columns: Sequence[str],
        limit: int = EXAMPLE_ROWS,
    ) -> list[dict[str, Any]]:
        sql = self.violating_keys_sql(database, call, key_columns, limit)
        if sql is None:
            return []
        return [
            {column: _plain(value) for column, value in zip(key_columns, row, strict=True)}
            for row in session.fetchall(sql)
        ]

    # --- results ---
    def latest_results_sql(self) -> str:
        """The newest row per (table, DMF, arguments) of the results table, same on both."""
        arguments = "ARRAY_TO_STRING(argument_names, ',')"
        metric = "metric_database || '.' || metric_schema || '.' || metric_name"
        return (
            f"SELECT UPPER(table_schema), UPPER(table_name), UPPER({metric}), UPPER({arguments}), "
            f"value, measurement_time FROM {self.results_table} WHERE UPPER(table_database) = ? "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY UPPER(table_schema), UPPER(table_name), "
            f"UPPER({metric}), UPPER({arguments}) ORDER BY measurement_time DESC) = 1"
        )

    def has_results(self, session: Session) -> bool:
        return True

    def latest_results(
        self, session: Session, database: str
    ) -> dict[tuple[str, ...], MetricResult]:
        if not self.has_results(session):
            return {}
        return {
            (schema, table, metric, arguments): MetricResult(_number(value), measured)
            for schema, table, metric, arguments, value, measured in session.fetchall(
                self.latest_results_sql(), [database.upper()]
            )
        }

    def record(self, session: Session, database: str, rows: Sequence[ResultRow]) -> int:
        """Append evaluations to the results table where the engine does not do it itself."""
        return 0

    # --- deployment ---
    def deploy(
        self, session: Session, registry: Registry, tables: Sequence[tuple[str, str]] | None = None
    ) -> list[str]:
        """Create what the registry needs on this engine; returns the statements issued."""
        raise NotImplementedError


def _plain(value: Any) -> Any:
    """Key values as JSON-friendly scalars (dates as ISO text)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


# --- DuckDB -------------------------------------------------------------------------------------

RESULTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("scheduled_time", "TIMESTAMP"),
    ("change_commit_time", "TIMESTAMP"),
    ("measurement_time", "TIMESTAMP"),
    ("table_id", "BIGINT"),
    ("table_name", "VARCHAR"),
    ("table_schema", "VARCHAR"),
    ("table_database", "VARCHAR"),
    ("metric_id", "BIGINT"),
    ("metric_name", "VARCHAR"),
    ("metric_schema", "VARCHAR"),
    ("metric_database", "VARCHAR"),
    ("metric_return_type", "VARCHAR"),
    ("argument_ids", "BIGINT[]"),
    ("argument_types", "VARCHAR[]"),
    ("argument_names", "VARCHAR[]"),
    ("reference_id", "VARCHAR"),
    ("value", "DOUBLE"),
)  # Snowflake's column names and order; times are UTC (Snowflake: TIMESTAMP_LTZ)

# Snowflake functions DMF bodies use, with Snowflake's semantics (REGEXP_LIKE matches the
# whole string, as DuckDB's regexp_full_match does).
DUCKDB_SNOWFLAKE_MACROS = (
    "CREATE OR REPLACE TEMP MACRO regexp_like(s, p) AS regexp_full_match(s, p)",
)


class DuckDBDataMetrics(DataMetricEngine):
    engine = Engine.DUCKDB
    records_results = True

    def relation(self, database: str, schema: str, table: str) -> str:
        return qualified(schema, table)  # the session's database is the SONY_DE file

    @property
    def results_table(self) -> str:
        return qualified(GOVERNANCE_SCHEMA, RESULTS_TABLE)

    def prepare(self, session: Session) -> None:
        for statement in DUCKDB_SNOWFLAKE_MACROS:
            session.execute(statement)

    def value_sql(self, database: str, call: MetricCall) -> str:
        return f"WITH arg_t AS ({self.argument_relation(database, call)}) {call.function.body}"

    def has_results(self, session: Session) -> bool:
        return session.table_exists(GOVERNANCE_SCHEMA, RESULTS_TABLE)

    def deploy(
        self, session: Session, registry: Registry, tables: Sequence[tuple[str, str]] | None = None
    ) -> list[str]:
        """DuckDB has no DMF objects: only the results table is needed."""
        return self.ensure_results_table(session)

    def ensure_results_table(self, session: Session) -> list[str]:
        return session.ensure_table(GOVERNANCE_SCHEMA, RESULTS_TABLE, RESULTS_COLUMNS)

    def _catalog_ids(self, session: Session, schema: str, table: str) -> tuple[int | None, dict]:
        table_id = session.scalar(
            "SELECT table_oid FROM duckdb_tables() WHERE upper(schema_name) = upper(?) "
            "AND upper(table_name) = upper(?) UNION ALL "
            "SELECT view_oid FROM duckdb_views() WHERE upper(schema_name) = upper(?) "
            "AND upper(view_name) = upper(?) LIMIT 1",
            [schema, table, schema, table],
        )
        columns = dict(
            session.fetchall(
                "SELECT upper(column_name), column_index FROM duckdb_columns() "
                "WHERE upper(schema_name) = upper(?) AND upper(table_name) = upper(?)",
                [schema, table],
            )
        )
        return table_id, columns

    def record(self, session: Session, database: str, rows: Sequence[ResultRow]) -> int:
        self.ensure_results_table(session)
        columns: dict[str, list] = {name: [] for name, _ in RESULTS_COLUMNS}
        for row in rows:
            attachment, function = row.attachment, row.attachment.function
            table_id, column_ids = self._catalog_ids(session, attachment.schema, attachment.table)
            values = {
                "scheduled_time": row.scheduled_time,
                "change_commit_time": row.change_commit_time,
                "measurement_time": row.measurement_time,
                "table_id": table_id,
                "table_name": attachment.table.upper(),
                "table_schema": attachment.schema.upper(),
                "table_database": database.upper(),
                "metric_id": zlib.crc32(function.qualified_name.encode()),
                "metric_name": function.name,
                "metric_schema": function.schema,
                "metric_database": function.database,
                "metric_return_type": "NUMBER",
                "argument_ids": [column_ids.get(name) for name in attachment.argument_names],
                "argument_types": ["COLUMN"] * len(attachment.columns),
                "argument_names": list(attachment.argument_names),
                "reference_id": attachment.reference_id(database),
                "value": row.value,
            }
            for name, value in values.items():
                columns[name].append(value)
        return session.append_columns(self.results_table, columns)


# --- Snowflake ----------------------------------------------------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SnowflakeDataMetrics(DataMetricEngine):
    engine = Engine.SNOWFLAKE
    records_results = False  # Snowflake writes its scheduled results itself

    def relation(self, database: str, schema: str, table: str) -> str:
        return f"{identifier(database)}.{qualified(schema, table)}".upper()

    @property
    def results_table(self) -> str:
        return f"SNOWFLAKE.LOCAL.{RESULTS_TABLE}"

    def value_sql(self, database: str, call: MetricCall) -> str:
        table = self.relation(database, call.schema, call.table)
        if call.function.callable_directly:
            columns = ", ".join(call.arguments)
            return f"SELECT {call.function.qualified_name}(SELECT {columns} FROM {table})"
        # Not callable ad hoc (ROW_COUNT): its documented semantics, over the same rows.
        return f"WITH arg_t AS ({self.argument_relation(database, call)}) {call.function.body}"

    def functions_sql(
        self, registry: Registry, functions: Sequence[DataMetricFunction], schema: bool = True
    ) -> list[str]:
        """The registry's schema (unless `schema` is False: created already), then the custom
        DMFs among `functions`, each once, in order."""
        statements = (
            [f"CREATE SCHEMA IF NOT EXISTS {registry.database}.{registry.schema}"] if schema else []
        )
        return statements + [
            self.create_function_sql(function)
            for function in dict.fromkeys(f for f in functions if not f.system)
        ]

    def create_function_sql(self, function: DataMetricFunction) -> str:
        return (
            f"CREATE DATA METRIC FUNCTION IF NOT EXISTS {function.qualified_name}"
            f"({function.signature}) RETURNS NUMBER COMMENT = {_literal(function.description)} "
            f"AS $${function.body}$$"
        )

    def add_sql(self, database: str, kind: str, attachment: Attachment) -> str:
        table = self.relation(database, attachment.schema, attachment.table)
        return (
            f"ALTER {kind} {table} ADD DATA METRIC FUNCTION "
            f"{attachment.function.qualified_name} ON ({', '.join(attachment.columns)}) "
            f"EXPECTATION {attachment.check_name}_expectation ({attachment.expectation.text})"
        )

    def object_kinds(
        self, session: Session, database: str, tables: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """ALTER TABLE or ALTER VIEW, per attached object (dbt may build either)."""
        schemas = sorted({schema.upper() for schema, _ in tables})
        rows = session.fetchall(
            f"SELECT table_schema, table_name, table_type FROM "
            f"{identifier(database).upper()}.INFORMATION_SCHEMA.TABLES "
            f"WHERE table_schema IN ({', '.join('?' for _ in schemas)})",
            schemas,
        )
        found = {(s.upper(), t.upper()): kind for s, t, kind in rows}
        kinds = {}
        for schema, table in tables:
            kind = found.get((schema.upper(), table.upper()))
            if kind is None:
                raise LookupError(
                    f"{database}.{schema}.{table} does not exist: build the dbt models "
                    "(job medallion_full_build) before attaching its Data Metric Functions"
                )
            kinds[(schema, table)] = "VIEW" if "VIEW" in kind.upper() else "TABLE"
        return kinds

    def attached(
        self, session: Session, database: str, schema: str, table: str, kind: str
    ) -> set[tuple[str, tuple[str, ...]]]:
        """(DMF, columns) attached now (INFORMATION_SCHEMA.DATA_METRIC_FUNCTION_REFERENCES)."""
        name = self.relation(database, schema, table)
        rows = session.fetchall(
            "SELECT metric_database_name, metric_schema_name, metric_name, ref_arguments FROM "
            f"TABLE({identifier(database).upper()}.INFORMATION_SCHEMA."
            f"DATA_METRIC_FUNCTION_REFERENCES(REF_ENTITY_NAME => {_literal(name)}, "
            f"REF_ENTITY_DOMAIN => {_literal(kind)}))"
        )
        attached = set()
        for metric_database, metric_schema, metric_name, ref_arguments in rows:
            arguments = (
                json.loads(ref_arguments) if isinstance(ref_arguments, str) else ref_arguments
            )
            columns = tuple(str(argument["name"]).upper() for argument in arguments or [])
            attached.add((f"{metric_database}.{metric_schema}.{metric_name}".upper(), columns))
        return attached

    def deploy(
        self, session: Session, registry: Registry, tables: Sequence[tuple[str, str]] | None = None
    ) -> list[str]:
        """Idempotent: creates missing DMFs, sets each table's schedule, adds only what is
        not attached yet (dbt's CREATE OR REPLACE drops attachments, so this runs per build)."""
        issued: list[str] = []

        def run(statement: str) -> None:
            session.execute(statement)
            issued.append(statement)

        database = registry.database
        targets = list(tables) if tables is not None else registry.tables()
        attachments = [
            a for schema, table in targets for a in registry.attachments_on(schema, table)
        ]
        for statement in self.functions_sql(registry, [a.function for a in attachments]):
            run(statement)
        kinds = self.object_kinds(session, database, targets)
        for schema, table in targets:
            kind = kinds[(schema, table)]
            existing = self.attached(session, database, schema, table, kind)
            table_name = self.relation(database, schema, table)
            schedule = _literal(registry.schedule)
            run(f"ALTER {kind} {table_name} SET DATA_METRIC_SCHEDULE = {schedule}")
            for attachment in registry.attachments_on(schema, table):
                if (attachment.function.qualified_name, attachment.argument_names) not in existing:
                    run(self.add_sql(database, kind, attachment))
        return issued


DATA_METRIC_ENGINES: dict[Engine, DataMetricEngine] = {
    Engine.DUCKDB: DuckDBDataMetrics(),
    Engine.SNOWFLAKE: SnowflakeDataMetrics(),
}
