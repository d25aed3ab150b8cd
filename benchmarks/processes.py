"""Run a command as a child process and measure its wall time and peak memory.

Peak memory is taken two ways, because neither alone is right for a process tree:
- the kernel's high-water mark (ru_maxrss) of the child, from os.wait4 on that child alone:
  exact, but for a tree it is the peak of its single largest process, not their sum (a
  `getrusage(RUSAGE_CHILDREN)` delta would be wrong too: ru_maxrss is a maximum over every
  child ever waited for, not a sum, so a smaller later child shows no change);
- the resident set of the whole tree (the child and every descendant, e.g. the `dbt`
  processes Dagster starts while its own process stays resident), summed from /proc every
  50 ms: catches processes that overlap, may miss a spike shorter than the interval.
The peak reported is the larger of the two.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sony_de_platform.settings import REPO_ROOT

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_SAMPLE_SECONDS = 0.05


@dataclass(frozen=True)
class ChildRun:
    argv: tuple[str, ...]
    seconds: float
    process_peak_bytes: int  # kernel high-water mark of the largest single process
    tree_peak_bytes: int  # sampled peak of the whole tree's summed resident set
    stdout: str

    @property
    def peak_bytes(self) -> int:
        return max(self.process_peak_bytes, self.tree_peak_bytes)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now."""
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            # the command name (field 2) is in parentheses and may hold spaces
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def tree_rss_bytes(root: int) -> int:
    """Summed resident set of `root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, ()))
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_BYTES
    return total


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    timeout: float = 7200.0,
) -> ChildRun:
    """Run `argv` to completion; raise with its output's tail if it fails."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        child = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its descendants share its process group, for a kill
        )
        done = threading.Event()
        tree_peak = 0

        def sample() -> None:
            nonlocal tree_peak
            while not done.is_set():
                tree_peak = max(tree_peak, tree_rss_bytes(child.pid))
                done.wait(_SAMPLE_SECONDS)

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
            done.set()
            sampler.join()
        seconds = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not Popen
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {child.returncode} after {seconds:.0f}s:\n"
            f"{stdout[-3000:]}\n{stderr[-3000:]}"
        )
    return ChildRun(
        argv=tuple(argv),
        seconds=seconds,
        process_peak_bytes=usage.ru_maxrss * 1024,  # KiB on Linux
        tree_peak_bytes=tree_peak,
        stdout=stdout,
    )


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a child started with start_new_session=True and everything it started (its
    process group), whatever state it is in."""
    for stop in (signal.SIGTERM, signal.SIGKILL):  # SIGKILL: whatever SIGTERM left running
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, stop)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)


def start_daemon(env: Mapping[str, str], log: IO[str]) -> subprocess.Popen:
    """`dagster-daemon run` on the platform's workspace, in its own process group (its code
    server and run workers join it), so that `stop_process_group` stops all of them."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
