"""dbt run inside the step's own process, through dbt's programmatic entry point.

dagster-dbt starts a `dbt` process for every dbt command: a new interpreter that imports
dbt-core and its adapter again (5 to 7 s per step on 2 cores) and takes about a second to
exit, in a step whose process has already imported dbt-core through dagster-dbt
(benchmarks: section orchestration). `InProcessDbt` runs the same command line with
`dbtRunner` on a thread of the step's process instead, and looks like the
`subprocess.Popen` dagster-dbt reads: dbt's structured events arrive on `stdout` as the
JSON lines `dbt --log-format json` prints, so dagster-dbt turns them into materializations
and check results exactly as it does for a subprocess.

What differs from a subprocess:
- dbt reads its flags and `env_var()` from the process environment: the invocation's
  environment is set for its duration and restored after it (one invocation at a time per
  process, which dbt requires of programmatic invocations anyway);
- interrupting the step raises KeyboardInterrupt in dbt's thread, which dbt answers as it
  answers Ctrl-C (it cancels its open queries);
- dbt-duckdb keeps its database open between invocations in one process (the profile's
  `keep_open`, which spares it reopening the file between nodes): it is closed after each
  one, so the warehouse file is free again for the platform's own sessions and for other
  processes, even when a failed invocation's traceback still references dbt's handle;
- a command that runs nodes (build, run, test, seed, snapshot) writes its run_results.json
  and not manifest.json: dbt writes the 1 MB manifest twice per invocation (after parsing
  and at the end), about 0.35 s in all, and dagster-dbt reads the manifest it loaded
  with the definitions, never the copy in the invocation's folder;
- the objects the process held before dbt started (Dagster's, the definitions', dbt's
  modules: about 300,000) are frozen out of the garbage collector while dbt runs: each full
  collection during the run scanned them all again (0.15 to 0.2 s each, one or two per
  step at scale 1), and none of them becomes garbage because dbt ran.
"""

from __future__ import annotations

import ctypes
import gc
import json
import queue
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sony_de_platform.transform.project import scoped_environment

_ONE_AT_A_TIME = threading.Lock()  # dbt's global state holds one invocation per process
_END = object()
_LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3, "none": 4}  # dbt's log levels
NODE_COMMANDS = frozenset({"build", "run", "test", "seed", "snapshot"})  # give run results
RUN_RESULTS = "run_results.json"


class _EventLines:
    """The `stdout` of the invocation: dbt's events as JSON lines (bytes), then the end."""

    def __init__(self) -> None:
        self.lines: queue.Queue[Any] = queue.Queue()
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.closed:
            line = self.lines.get()
            if line is _END:
                self.closed = True
                return
            yield line

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> _EventLines:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class InProcessDbt:
    """`dbt <args>` on a thread of this process, with the `subprocess.Popen` interface
    dagster-dbt uses (args, stdout, wait, poll, returncode, send_signal). The exit code is
    the CLI's: 0 success, 1 a node failed, 2 dbt itself failed."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        self.args = list(args)
        command = next((arg for arg in self.args[1:] if not arg.startswith("-")), "")
        # where dbt would write run_results.json (DBT_TARGET_PATH, set by the resource)
        self._run_results: Path | None = None
        if command in NODE_COMMANDS and "DBT_TARGET_PATH" in env:
            self._run_results = Path(env["DBT_TARGET_PATH"]) / RUN_RESULTS
        self.stdout = _EventLines()
        self.returncode: int | None = None
        self._env = dict(env)
        self._stdout_level = _LEVELS.get(self._env.get("DBT_LOG_LEVEL", "info").lower(), 1)
        self._thread = threading.Thread(target=self._invoke, name="dbt", daemon=True)
        self._thread.start()

    def _emit(self, message: Any) -> None:
        """One dbt event, as the line a `dbt` process would print: only events at or above
        the stdout log level (DBT_LOG_LEVEL, default info), as there. The debug events (every
        SQL statement, connection and cache step: nine in ten) stay in dbt.log."""
        from dbt_common.events.functions import msg_to_dict

        if _LEVELS.get(message.info.level, 0) < self._stdout_level:
            return
        self.stdout.lines.put(json.dumps(msg_to_dict(message), default=str).encode())

    def _invoke(self) -> None:
        from dbt.cli.main import dbtRunner

        code = 2
        try:
            with _ONE_AT_A_TIME, scoped_environment(self._env), long_lived_objects_frozen():
                dbt_args = self.args[1:]
                if self._run_results is not None:
                    dbt_args = [*dbt_args, "--no-write-json"]  # run results written below
                try:
                    result = dbtRunner(callbacks=[self._emit]).invoke(dbt_args)
                finally:
                    release_adapter_connections()
                if self._run_results is not None:
                    write_run_results(result.result, self._run_results)
            if result.success:
                code = 0
            elif result.exception is None:
                code = 1  # dbt ran, and a model, test or snapshot failed
            else:
                self.stdout.lines.put(f"dbt failed: {result.exception!r}".encode())
        except BaseException:  # reported like a crashed process: its traceback, exit code 2
            self.stdout.lines.put(traceback.format_exc().encode())
        finally:
            self.returncode = code
            self.stdout.lines.put(_END)

    def poll(self) -> int | None:
        return None if self._thread.is_alive() else self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"dbt {' '.join(self.args[1:3])} still running after {timeout}s")
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, _signal: int) -> None:
        """Interrupt dbt as Ctrl-C does: KeyboardInterrupt in its thread."""
        if self._thread.ident is not None and self._thread.is_alive():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread.ident), ctypes.py_object(KeyboardInterrupt)
            )


@contextmanager
def long_lived_objects_frozen() -> Iterator[None]:
    """Keep the objects alive now out of the garbage collector's full collections until the
    block ends (gc.freeze), so that collections during a dbt run scan only dbt's objects."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def write_run_results(result: Any, path: Path) -> bool:
    """Write the run results of a command that ran nodes (even if a node failed) to `path`;
    False, and nothing written, when dbt itself failed (a dbt process leaves none then)."""
    from dbt.artifacts.schemas.run import RunExecutionResult

    if not isinstance(result, RunExecutionResult):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    result.write(str(path))
    return True


def release_adapter_connections() -> None:
    """Close the database dbt-duckdb keeps open after an invocation (no-op elsewhere).

    Closed, not only dropped as dbt-duckdb's own close_all_connections does: after a failed
    invocation the exception's traceback references the environment in a cycle, and the
    file stayed locked for other processes until a full garbage collection."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb is not installed
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
    DuckDBConnectionManager.close_all_connections()
