"""A Snowflake wire-compatible server on loopback, with a recorder of every statement sent.

`python -m fakesnow -s` runs as a real subprocess; the platform (snowflake-connector-python
through dagster-snowflake, and dbt-snowflake) talks HTTP to a small proxy in front of it,
which records each statement's text and binds exactly as they crossed the wire.

fakesnow lacks some statements the platform issues on Snowflake (warehouses, roles,
grants, masking policies, managed access). The proxy asks fakesnow, at login, to answer
those with success without running them (its `nop_regexes` session parameter), so the
platform's code path is the one a real account sees; the tests assert their exact SQL
from the recording. Everything else really runs on fakesnow's engine.
"""

from __future__ import annotations

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
)
_LACKS = [re.compile(pattern, re.IGNORECASE) for pattern in FAKESNOW_LACKS]
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class SentStatement:
    """One statement as the client sent it."""

    sql: str
    bindings: dict[str, Any] | None
    executed: bool  # False: a kind fakesnow lacks, answered as a no-op

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
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
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
        if path.startswith("/session/v1/login-request"):
            login = _decode(body, headers)
            login["data"].setdefault("SESSION_PARAMETERS", {})["nop_regexes"] = list(FAKESNOW_LACKS)
            encoded = json.dumps(login).encode()
            return gzip.compress(encoded) if headers.get("Content-Encoding") == "gzip" else encoded
        if path.startswith("/queries/v1/query-request"):
            query = _decode(body, headers)
            sql = query["sqlText"]
            sent = SentStatement(sql, query.get("bindings"), not any(p.match(sql) for p in _LACKS))
            with self._lock:
                self._statements.append(sent)
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
