"""The benchmarks' peak memory of a child process tree (benchmarks/processes.py): its own
memory and its descendants', never the memory of the process that started it."""

from __future__ import annotations

import sys

from benchmarks.processes import run_child

MIB = 2**20

# Allocates and touches N MiB, then stays alive long enough to be sampled.
HOLD = (
    "import sys, time; size = int(sys.argv[1]) * 2**20; held = bytearray(size); "
    "held[::4096] = b'x' * len(range(0, size, 4096)); time.sleep(0.6)"
)


def _touched(mib: int) -> bytearray:
    held = bytearray(mib * MIB)
    held[::4096] = b"x" * len(range(0, len(held), 4096))
    return held


def test_a_small_child_of_a_large_parent_is_measured_small() -> None:
    parent_memory = _touched(600)
    child = run_child([sys.executable, "-c", "import time; time.sleep(0.6)"])
    assert len(parent_memory) == 600 * MIB
    # a bare interpreter: tens of MiB, not the 600 MiB its parent holds
    assert 0 < child.peak_bytes < 150 * MIB, child
    assert 0 < child.process_peak_bytes < 150 * MIB, child


def test_a_child_is_measured_with_its_own_memory_and_its_descendants() -> None:
    alone = run_child([sys.executable, "-c", HOLD, "300"])
    assert 300 * MIB <= alone.process_peak_bytes < 450 * MIB, alone
    assert alone.peak_bytes >= 300 * MIB
    # the child holds 200 MiB while its own child holds 250 MiB: the tree holds both
    tree = run_child(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; "
            f"grandchild = subprocess.Popen([sys.executable, '-c', {HOLD!r}, '250']); "
            f"exec({HOLD!r}.replace('int(sys.argv[1])', '200')); grandchild.wait()",
        ]
    )
    assert 250 * MIB <= tree.process_peak_bytes < 400 * MIB, tree
    assert tree.tree_peak_bytes >= 450 * MIB, tree
    assert tree.peak_bytes == max(tree.process_peak_bytes, tree.tree_peak_bytes)
