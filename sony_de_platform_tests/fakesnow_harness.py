"""A Snowflake wire-compatible server on loopback, with a recorder of every statement sent.

`python -m fakesnow -s` runs as a real subprocess; the platform (snowflake-connector-python
through dagster-snowflake, and dbt-snowflake) talks HTTP to a small proxy in front of it,
which records each statement's text and binds exactly as they crossed the wire.

fakesnow lacks some statements the platform issues on Snowflake (warehouses, roles,
grants, masking policies, managed access, streams, data metric functions). The proxy asks
fakesnow, at login, to answer those with success without running them (its `nop_regexes`
session parameter), so the platform's code path is the one a real account sees; the tests
assert their exact SQL from the recording. Everything else really runs on fakesnow's
engine.

The routing reads a stream, though. The proxy stands a twin in for it: the routing's
`CREATE STREAM ... SHOW_INITIAL_ROWS = TRUE` on an append-only table becomes a view of
every row of the table as an INSERT change, and SYSTEM$STREAM_HAS_DATA asks that view.
That is exactly what a real stream holds until its first consumption, which is as far as
an end-to-end run goes. fakesnow also rewrites some statements (MERGE, REGEXP_INSTR) into
SQL that repeats or drops their placeholders, so the proxy writes single-row bound values
in as literals (array binds, the bulk INSERTs, pass as they are). The recording keeps every
statement as the platform sent it. An error inside fakesnow comes back as the query's
error, not as HTTP 500, which the connector would retry for minutes.
"""

from __future__ import annotations

import datetime
import gzip
import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fakesnow.converter import from_binding

# Statement kinds fakesnow cannot run; matched at the start of the statement, any case.
FAKESNOW_LACKS: tuple[str, ...] = (
    r"CREATE WAREHOUSE ",
    r"CREATE ROLE ",
    r"GRANT ",
    r"CREATE MASKING POLICY ",
    r"ALTER MASKING POLICY ",
    r"ALTER TABLE \S+ MODIFY COLUMN \S+ SET MASKING POLICY ",
    r"CREATE SCHEMA IF NOT EXISTS \S+ WITH MANAGED ACCESS$",
    r"ALTER SCHEMA \S+ ENABLE MANAGED ACCESS$",
    # The deploy's streams and data metric functions. The routing's own CREATE STREAM, in
    # the session's database, gets the stream twin instead (see `substitute`).
    r"CREATE STREAM ",
    r"CREATE DATA METRIC FUNCTION ",
    # fakesnow runs a MERGE as several statements that also write its own catalog, which
    # DuckDB refuses inside a transaction that wrote elsewhere: transaction control is
    # answered as a no-op and every statement commits on its own. The platform's atomicity
    # is proven on DuckDB (crash tests); here the recording shows where it draws the lines.
    r"BEGIN$",
    r"COMMIT$",
    r"ROLLBACK$",
)
_LACKS = [re.compile(pattern, re.IGNORECASE) for pattern in FAKESNOW_LACKS]
START_TIMEOUT_SECONDS = 60.0

# The routing's stream, named SCHEMA.NAME in the session's database. The deploy names it
# DATABASE.SCHEMA.NAME; that one stays a no-op, so the twin is created by the routing only.
_CREATE_STREAM = re.compile(
    r"CREATE STREAM IF NOT EXISTS ([A-Z0-9_]+\.[A-Z0-9_]+) ON TABLE ([A-Z0-9_]+\.[A-Z0-9_]+) "
    r"APPEND_ONLY = TRUE SHOW_INITIAL_ROWS = TRUE .*",
    re.IGNORECASE | re.DOTALL,
)
_STREAM_HAS_DATA = "SELECT SYSTEM$STREAM_HAS_DATA(?)"
_IDENTIFIER = re.compile(r"[A-Z0-9_.]+", re.IGNORECASE)


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:  # the binding's wall clock, as TIMESTAMP_NTZ keeps it
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return f"'{value.isoformat(sep=' ')}'::TIMESTAMP_NTZ"
    if isinstance(value, datetime.date):
        return f"'{value.isoformat()}'::DATE"
    # A Snowflake string literal reads backslash escapes.
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def _with_literals(sql: str, bindings: dict[str, Any]) -> str:
    """`sql` with each ? outside quotes replaced by its bound value, in order."""
    values = iter(_literal(from_binding(bindings[str(n)])) for n in range(1, len(bindings) + 1))
    parts = re.split(r"('(?:[^']|'')*')", sql)  # odd parts are quoted literals
    return "".join(
        part if index % 2 else re.sub(r"\?", lambda _: next(values), part)
        for index, part in enumerate(parts)
    )


def substitute(query: dict[str, Any]) -> dict[str, Any] | None:
    """The query fakesnow runs in place of one it lacks or cannot bind (see the module
    docstring), or None to run the query as sent."""
    sql, bindings = query["sqlText"], query.get("bindings") or {}
    unbound = {key: value for key, value in query.items() if key != "bindings"}
    if sql == _STREAM_HAS_DATA:
        stream = str(from_binding(bindings["1"]))
        if not _IDENTIFIER.fullmatch(stream):
            raise ValueError(f"unexpected stream name {stream!r}")
        return {**unbound, "sqlText": f"SELECT EXISTS (SELECT 1 FROM {stream})"}
    if created := _CREATE_STREAM.fullmatch(sql):
        stream, table = created.groups()
        twin = (
            f"CREATE VIEW IF NOT EXISTS {stream} AS SELECT *, 'INSERT' AS METADATA$ACTION, "
            f"FALSE AS METADATA$ISUPDATE FROM {table}"
        )
        return {**query, "sqlText": twin}
    if bindings and not any(isinstance(b.get("value"), list) for b in bindings.values()):
        return {**unbound, "sqlText": _with_literals(sql, bindings)}
    return None


@dataclass(frozen=True)
class SentStatement:
    """One statement as the client sent it."""

    sql: str
    bindings: dict[str, Any] | None
    executed: bool  # False: a kind fakesnow lacks, answered as a no-op
    ran_instead: str | None = None  # what fakesnow ran in its place, if anything

    @property
    def rows_bound(self) -> int:
        """Rows in an array bind (executemany), 1 for single binds, 0 without binds."""
        if not self.bindings:
            return 0
        first = next(iter(self.bindings.values()))["value"]
        return len(first) if isinstance(first, list) else 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _decode(body: bytes, headers: Any) -> Any:
    if headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)


class _RecordingProxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = self.server.harness.on_request(self.path, self.headers, body)
        headers = {
            key: value
            for key, value in self.headers.items()
            if key.lower() not in {"host", "content-length", "connection"}
        }
        headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.harness.server_port, 300)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        status, reason, response_headers = response.status, response.reason, response.getheaders()
        if status == 500 and self.path.startswith("/queries/v1/query-request"):
            # fakesnow failed inside: answer as Snowflake answers a failed query.
            message = f"fakesnow could not run this statement (see {self.server.harness.log_path})"
            data = json.dumps(
                {
                    "data": {"errorCode": "000001", "sqlState": "XX000"},
                    "code": "000001",
                    "message": message,
                    "success": False,
                }
            ).encode()
            status, reason, response_headers = 200, "OK", [("Content-Type", "application/json")]
        self.send_response(status, reason)
        for key, value in response_headers:
            if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the recording is the log."""


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    harness: FakeSnowflake


class FakeSnowflake:
    """fakesnow in a subprocess on 127.0.0.1, reached through the recording proxy."""

    account = "fakesnow"
    user = "fake"

    def __init__(self, workdir: Path) -> None:
        self.log_path = workdir / "fakesnow.log"
        self.server_port = _free_port()
        self._statements: list[SentStatement] = []
        self._lock = threading.Lock()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "fakesnow", "-s", "-p", str(self.server_port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_until_accepting()
            self._proxy = _ProxyServer(("127.0.0.1", 0), _RecordingProxy)
        except BaseException:
            self._stop_server()
            raise
        self._proxy.harness = self
        self.port = self._proxy.server_address[1]
        self._proxy_thread = threading.Thread(target=self._proxy.serve_forever, daemon=True)
        self._proxy_thread.start()

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"fakesnow exited with {self._process.returncode}: "
                    f"{self.log_path.read_text()[-2000:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.server_port), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"fakesnow did not accept connections in {START_TIMEOUT_SECONDS}s")

    def on_request(self, path: str, headers: Any, body: bytes) -> bytes:
        def encode(document: Any) -> bytes:
            encoded = json.dumps(document).encode()
            return gzip.compress(encoded) if headers.get("Content-Encoding") == "gzip" else encoded

        if path.startswith("/session/v1/login-request"):
            login = _decode(body, headers)
            login["data"].setdefault("SESSION_PARAMETERS", {})["nop_regexes"] = list(FAKESNOW_LACKS)
            return encode(login)
        if path.startswith("/queries/v1/query-request"):
            query = _decode(body, headers)
            sql, bindings = query["sqlText"], query.get("bindings")
            ran_instead = substitute(query)
            sent = SentStatement(
                sql,
                bindings,
                ran_instead is not None or not any(p.match(sql) for p in _LACKS),
                ran_instead["sqlText"] if ran_instead else None,
            )
            with self._lock:
                self._statements.append(sent)
            if ran_instead is not None:
                return encode(ran_instead)
        return body

    def environment(self, password: str, database: str) -> dict[str, str]:
        """The settings that point the platform's Snowflake target at this server."""
        return {
            "SONY_DE_TARGET": "snowflake",
            "SNOWFLAKE_ACCOUNT": self.account,
            "SNOWFLAKE_USER": self.user,
            "SNOWFLAKE_PASSWORD": password,
            "SNOWFLAKE_DATABASE": database,
            "SNOWFLAKE_HOST": "127.0.0.1",
            "SNOWFLAKE_PORT": str(self.port),
            "SNOWFLAKE_PROTOCOL": "http",
        }

    def mark(self) -> int:
        with self._lock:
            return len(self._statements)

    def sent_since(self, mark: int) -> list[SentStatement]:
        with self._lock:
            return list(self._statements[mark:])

    def _stop_server(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def close(self) -> None:
        self._proxy.shutdown()
        self._proxy.server_close()
        self._stop_server()
