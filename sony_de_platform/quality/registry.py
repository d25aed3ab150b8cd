"""The DMF registry (dmfs.yml) as typed, validated objects.

Snowflake DDL, the DuckDB evaluation, the Dagster checks and Key Stats all read these
objects, so a Data Metric Function is written once. Errors name the file, the function or
attachment, and what to change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REGISTRY_FILE = Path(__file__).with_name("dmfs.yml")
SYSTEM_DATABASE, SYSTEM_SCHEMA = "SNOWFLAKE", "CORE"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COUNT_BODY = re.compile(
    r"^\s*SELECT\s+COUNT\(\*\)\s+FROM\s+arg_t\s+WHERE\s+(?P<violation>.+?)\s*$",
    re.IGNORECASE | re.DOTALL,
)
# A share of the rows, in percent: NULL (not a division by zero) on an empty table.
_PERCENT_BODY = re.compile(
    r"^\s*SELECT\s+COUNT_IF\((?P<violation>.+)\)\s*\*\s*100\.0\s*/\s*"
    r"NULLIF\(\s*COUNT\(\*\)\s*,\s*0\s*\)\s+FROM\s+arg_t\s*$",
    re.IGNORECASE | re.DOTALL,
)
COUNT_BODY_FORM = "SELECT COUNT(*) FROM arg_t WHERE <violation>"
PERCENT_BODY_FORM = "SELECT COUNT_IF(<violation>) * 100.0 / NULLIF(COUNT(*), 0) FROM arg_t"
_TYPES = {"NUMBER", "FLOAT", "VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ"}


class RegistryError(ValueError):
    """dmfs.yml is invalid; the message names the entry and the fix."""


class Severity(StrEnum):
    ERROR = "ERROR"
    WARN = "WARN"


class Measure(StrEnum):
    """What VALUE is: a number of violating rows, or their share of the rows in percent."""

    ROWS = "rows"
    PERCENT = "percent of rows"


# --- expectations -------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<value>VALUE\b)|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><=|>=|<>|!=|=|<|>)"
    r"|(?P<word>AND\b|OR\b|NOT\b)|(?P<paren>[()]))",
    re.IGNORECASE,
)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
Predicate = Callable[[float], bool]


class _ExpectationParser:
    """Snowflake's EXPECTATION grammar: comparisons over VALUE joined by AND / OR / NOT."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise ValueError(f"unexpected {text[position:].strip()!r}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind).upper()))
            position = match.end()
        self.position = 0

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.position != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.position][1]!r}")
        return predicate

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("", "")

    def _take(self, kind: str, text: str | None = None) -> str:
        token = self._peek()
        if token[0] != kind or (text is not None and token[1] != text):
            raise ValueError(f"expected {text or kind} at {token[1] or 'the end'!r}")
        self.position += 1
        return token[1]

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek() == ("word", "OR"):
            self.position += 1
            right = self._and()
            left = (lambda a, b: lambda v: a(v) or b(v))(left, right)
        return left

    def _and(self) -> Predicate:
        left = self._not()
        while self._peek() == ("word", "AND"):
            self.position += 1
            right = self._not()
            left = (lambda a, b: lambda v: a(v) and b(v))(left, right)
        return left

    def _not(self) -> Predicate:
        if self._peek() == ("word", "NOT"):
            self.position += 1
            inner = self._not()
            return lambda v: not inner(v)
        if self._peek() == ("paren", "("):
            self.position += 1
            inner = self._or()
            self._take("paren", ")")
            return inner
        left = self._operand()
        compare = _COMPARE[self._take("op")]
        right = self._operand()
        return lambda v: compare(left(v), right(v))

    def _operand(self) -> Callable[[float], float]:
        kind, text = self._peek()
        if kind == "value":
            self.position += 1
            return lambda v: v
        number = float(self._take("number"))
        return lambda v: number


@dataclass(frozen=True)
class Expectation:
    """A Boolean expression over VALUE; a missing VALUE never meets it."""

    text: str
    _predicate: Predicate = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> Expectation:
        return cls(" ".join(str(text).split()), _ExpectationParser(str(text)).parse())

    def holds(self, value: float | None) -> bool:
        return value is not None and bool(self._predicate(float(value)))


# --- functions and attachments ------------------------------------------------------------------


@dataclass(frozen=True)
class DataMetricFunction:
    """A DMF: its Snowflake name, its table argument, and its body over `arg_t`.

    `violating_rows` selects the rows of `arg_t` the metric counts (None when the metric
    counts no particular rows, e.g. ROW_COUNT). `callable_directly` is False for system DMFs
    Snowflake only runs when attached; elsewhere `body` states their documented semantics.
    """

    name: str
    database: str
    schema: str
    arguments: tuple[tuple[str, str], ...]
    body: str
    violating_rows: str | None
    system: bool = False
    callable_directly: bool = True
    description: str = ""
    measure: Measure = Measure.ROWS

    @property
    def qualified_name(self) -> str:
        return f"{self.database}.{self.schema}.{self.name}"

    @property
    def check_name(self) -> str:
        return self.name.lower()

    @property
    def signature(self) -> str:
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in self.arguments)
        return f"arg_t TABLE({columns})"


# Snowflake's system DMFs used here. Their bodies restate the documented semantics
# (docs.snowflake.com/sql-reference/functions/dmf_*) so DuckDB evaluates them the same way.
SYSTEM_FUNCTIONS: Mapping[str, DataMetricFunction] = {
    function.name: function
    for function in (
        DataMetricFunction(
            name="NULL_COUNT",
            database=SYSTEM_DATABASE,
            schema=SYSTEM_SCHEMA,
            arguments=(("arg_c", "ANY"),),
            body="SELECT COUNT(*) FROM arg_t WHERE arg_c IS NULL",
            violating_rows="SELECT * FROM arg_t WHERE arg_c IS NULL",
            system=True,
            description="Number of NULL values in the column.",
        ),
        DataMetricFunction(
            name="DUPLICATE_COUNT",
            database=SYSTEM_DATABASE,
            schema=SYSTEM_SCHEMA,
            arguments=(("arg_c", "ANY"),),
            # "the count of column values that have duplicates, including NULL values":
            # every row whose value occurs more than once counts (NULLs form one value).
            body=(
                "SELECT COUNT(*) FROM (SELECT arg_c FROM arg_t "
                "QUALIFY COUNT(*) OVER (PARTITION BY arg_c) > 1)"
            ),
            violating_rows="SELECT * FROM arg_t QUALIFY COUNT(*) OVER (PARTITION BY arg_c) > 1",
            system=True,
            description="Number of rows whose value occurs more than once (NULL included).",
        ),
        DataMetricFunction(
            name="ROW_COUNT",
            database=SYSTEM_DATABASE,
            schema=SYSTEM_SCHEMA,
            arguments=(),
            body="SELECT COUNT(*) FROM arg_t",
            violating_rows=None,
            system=True,
            callable_directly=False,  # Snowflake runs it only when attached: ON ()
            description="Number of rows in the table.",
        ),
    )
}


@dataclass(frozen=True)
class Attachment:
    """One DMF attached to one table's columns, with its expectation: one asset check."""

    function: DataMetricFunction
    schema: str
    table: str
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    expectation: Expectation
    severity: Severity
    owner: str
    runbook: str

    @property
    def check_name(self) -> str:
        return self.function.check_name

    @property
    def table_label(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def label(self) -> str:
        """`DIMS.dim_titles:valid_imdb_score`, how logs and errors name an attachment."""
        return f"{self.table_label}:{self.check_name}"

    def passes(self, value: float | None) -> bool:
        """VALUE meets the expectation. A percentage over no rows is NULL: nothing to judge,
        so it passes, as in Snowflake, where only an expectation that is FALSE is a violation.
        A count is never NULL, so a missing count (no measurement) fails."""
        if value is None:
            return self.function.measure is Measure.PERCENT
        return self.expectation.holds(value)

    @property
    def argument_names(self) -> tuple[str, ...]:
        """Attached column names as Snowflake reports them (upper case)."""
        return tuple(column.upper() for column in self.columns)

    def reference_id(self, database: str) -> str:
        """A stable id for the attachment (Snowflake's REFERENCE_ID plays this role)."""
        key = "|".join(
            [f"{database}.{self.schema}.{self.table}".upper(), self.function.qualified_name]
            + list(self.argument_names)
        )
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sony_de:dmf:{key}"))


@dataclass(frozen=True)
class Registry:
    database: str
    schema: str
    schedule: str
    functions: tuple[DataMetricFunction, ...]
    attachments: tuple[Attachment, ...]
    source: Path

    @property
    def custom_functions(self) -> tuple[DataMetricFunction, ...]:
        return tuple(f for f in self.functions if not f.system)

    def tables(self) -> list[tuple[str, str]]:
        """(schema, table) of every attached table, in registry order."""
        return list(dict.fromkeys((a.schema, a.table) for a in self.attachments))

    def attachments_on(self, schema: str, table: str) -> list[Attachment]:
        return [a for a in self.attachments if (a.schema, a.table) == (schema, table)]

    def in_database(self, database: str) -> Registry:
        """The same registry with its custom DMFs and attached tables in `database` (the
        deploy target, e.g. a per-run test database); system DMFs stay in SNOWFLAKE.CORE."""
        database = database.upper()
        if database == self.database:
            return self
        moved = {
            f.qualified_name: f if f.system else replace(f, database=database)
            for f in self.functions
        }
        return replace(
            self,
            database=database,
            functions=tuple(moved.values()),
            attachments=tuple(
                replace(a, function=moved[a.function.qualified_name]) for a in self.attachments
            ),
        )


# --- loading ------------------------------------------------------------------------------------


def _identifier(value: Any, where: str) -> str:
    text = str(value)
    if not _NAME.match(text):
        raise RegistryError(f"{where}: {text!r} is not a plain SQL identifier")
    return text


def _table_ref(value: Any, where: str) -> tuple[str, str]:
    parts = str(value).split(".")
    if len(parts) != 2:
        raise RegistryError(f"{where}: table {value!r} must read SCHEMA.table (e.g. DIMS.dim_fans)")
    return _identifier(parts[0], where).upper(), _identifier(parts[1], where)


def _balanced(text: str) -> bool:
    """Parentheses pair up outside string literals (the violation sits inside COUNT_IF)."""
    depth = 0
    for part in re.split(r"'(?:[^']|'')*'", text):
        for char in part:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                return False
    return depth == 0


def _body_form(body: str, where: str) -> tuple[Measure, str]:
    """The measure and the violating-row condition of a custom body, which must have one of
    the two forms from which the violating rows can be listed."""
    count = _COUNT_BODY.match(body)
    if count:
        return Measure.ROWS, count.group("violation")
    percent = _PERCENT_BODY.match(body)
    if percent and _balanced(percent.group("violation")):
        return Measure.PERCENT, percent.group("violation")
    if re.match(r"^\s*SELECT\s+COUNT_IF\b", body, re.IGNORECASE):
        raise RegistryError(
            f"{where}: a percentage body must read exactly `{PERCENT_BODY_FORM}` "
            f"(got {body!r}): 100.0 keeps the division decimal and NULLIF makes an empty "
            "table NULL rather than a division by zero"
        )
    raise RegistryError(
        f"{where}: body must read `{COUNT_BODY_FORM}` (a number of rows) or "
        f"`{PERCENT_BODY_FORM}` (their percentage), got {body!r}, so the violating rows "
        "can be listed"
    )


def _custom_function(entry: Mapping[str, Any], database: str, schema: str, where: str):
    name = _identifier(entry["name"], where).upper()
    arguments = tuple(
        (_identifier(arg, where), str(sql_type).upper())
        for arg, sql_type in (entry.get("arguments") or {}).items()
    )
    if not arguments:
        raise RegistryError(f"{where}: give the table argument's columns under `arguments`")
    for arg, sql_type in arguments:
        if sql_type not in _TYPES:
            raise RegistryError(f"{where}: argument {arg} has type {sql_type}; use one of {_TYPES}")
    body = " ".join(str(entry.get("body", "")).split())
    if "$$" in body:
        raise RegistryError(f"{where}: body may not contain $$ (Snowflake's body delimiter)")
    measure, violation = _body_form(body, where)
    return DataMetricFunction(
        name=name,
        database=database,
        schema=schema,
        arguments=arguments,
        body=body,
        violating_rows=f"SELECT * FROM arg_t WHERE {violation}",
        description=str(entry.get("description", "")),
        measure=measure,
    )


def _attachment(
    function: DataMetricFunction,
    entry: Mapping[str, Any],
    item: Mapping[str, Any],
    keys: Mapping[tuple[str, str], tuple[str, ...]],
    where: str,
) -> Attachment:
    schema, table = _table_ref(item.get("table"), where)
    columns = tuple(_identifier(c, where) for c in item.get("columns") or [])
    if len(columns) != len(function.arguments):
        raise RegistryError(
            f"{where}: {function.name} takes {len(function.arguments)} column(s) "
            f"({', '.join(a for a, _ in function.arguments) or 'none'}), got {list(columns)}"
        )
    if (schema, table) not in keys:
        raise RegistryError(f"{where}: add {schema}.{table} and its key columns under `tables:`")

    def setting(name: str) -> str:
        value = item.get(name, entry.get(name))
        if value in (None, ""):
            raise RegistryError(f"{where}: set `{name}` on the function or the attachment")
        return " ".join(str(value).split())

    try:
        expectation = Expectation.parse(setting("expectation"))
    except ValueError as error:
        raise RegistryError(f"{where}: expectation: {error}") from None
    try:
        severity = Severity(setting("severity").upper())
    except ValueError:
        raise RegistryError(f"{where}: severity must be ERROR or WARN") from None
    return Attachment(
        function=function,
        schema=schema,
        table=table,
        columns=columns,
        key_columns=keys[(schema, table)],
        expectation=expectation,
        severity=severity,
        owner=setting("owner"),
        runbook=setting("runbook"),
    )


def parse_registry(document: Mapping[str, Any], source: Path) -> Registry:
    """Build the registry from the YAML document read from `source`."""
    database = _identifier(document.get("database", ""), f"{source}: database").upper()
    schema = _identifier(document.get("schema", ""), f"{source}: schema").upper()
    keys = {
        _table_ref(table, f"{source}: tables"): tuple(
            _identifier(c, f"{source}: tables: {table}") for c in columns
        )
        for table, columns in (document.get("tables") or {}).items()
    }
    functions: list[DataMetricFunction] = []
    attachments: list[Attachment] = []
    seen_checks: set[tuple[str, str, str]] = set()
    for number, entry in enumerate(document.get("functions") or [], start=1):
        name = str(entry.get("name", f"#{number}"))
        where = f"{source}: function {name}"
        if name.upper().startswith(f"{SYSTEM_DATABASE}.{SYSTEM_SCHEMA}."):
            system_name = name.split(".")[-1].upper()
            if system_name not in SYSTEM_FUNCTIONS:
                raise RegistryError(
                    f"{where}: unknown system DMF; use one of {sorted(SYSTEM_FUNCTIONS)}"
                )
            function = SYSTEM_FUNCTIONS[system_name]
        else:
            function = _custom_function(entry, database, schema, where)
        if any(f.qualified_name == function.qualified_name for f in functions):
            raise RegistryError(f"{where}: defined twice; keep one entry")
        functions.append(function)
        for position, item in enumerate(entry.get("attached_to") or [], start=1):
            attachment = _attachment(function, entry, item, keys, f"{where}, attachment {position}")
            check = (attachment.schema, attachment.table, attachment.check_name)
            if check in seen_checks:
                raise RegistryError(
                    f"{where}, attachment {position}: {function.name} is already attached to "
                    f"{attachment.table_label}; checks are named after the DMF, one per table"
                )
            seen_checks.add(check)
            attachments.append(attachment)
    return Registry(
        database=database,
        schema=schema,
        schedule=" ".join(str(document.get("schedule", "60 MINUTE")).split()),
        functions=tuple(functions),
        attachments=tuple(attachments),
        source=source,
    )


@cache
def load_registry(path: Path = REGISTRY_FILE) -> Registry:
    """The registry in `path` (dmfs.yml beside this module by default), read once."""
    try:
        # libyaml's loader where PyYAML has it: a tenth of the pure-Python one's time
        document = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise RegistryError(f"{path}: not valid YAML: {error}") from None
    return parse_registry(document or {}, path)
