"""Run a command as a child process and measure its wall time and peak memory.

Peak memory is taken two ways, because neither alone is right for a process tree, both
sampled from /proc every 50 ms over the child and every descendant (e.g. the `dbt`
processes Dagster starts while its own process stays resident):
- the kernel's high-water mark of each process's own memory (VmHWM): exact for one process
  up to its last sample, but for a tree the peak of its single largest process, not their
  sum;
- the resident set of the whole tree, summed: catches processes that overlap, may miss a
  spike shorter than the interval.
The peak reported is the larger of the two. The rusage of the child (os.wait4's ru_maxrss)
is not used: the kernel carries into it the high-water mark of the memory the child had
before its exec, which is a copy of this process's (a `true` started by a parent holding
800 MiB reports 800 MiB), so every child would show at least the benchmark runner's size.
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
    process_peak_bytes: int  # sampled high-water mark (VmHWM) of the largest single process
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


def _high_water_bytes(pid: int) -> int:
    """The kernel's high-water mark of the resident set of `pid`'s memory since its exec."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    return 0


def tree_memory_bytes(root: int) -> tuple[int, int]:
    """(summed resident set, largest single high-water mark) of `root` and its descendants."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    total, largest, pending = 0, 0, [root]
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, ()))
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_BYTES
            largest = max(largest, _high_water_bytes(pid))
    return total, largest


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
        tree_peak = process_peak = 0

        def sample() -> None:
            nonlocal tree_peak, process_peak
            while not done.is_set():
                resident, high_water = tree_memory_bytes(child.pid)
                tree_peak, process_peak = max(tree_peak, resident), max(process_peak, high_water)
                done.wait(_SAMPLE_SECONDS)

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            child.wait()
        finally:
            timer.cancel()
            done.set()
            sampler.join()
        seconds = time.monotonic() - started
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
        process_peak_bytes=process_peak,
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
