"""Other processes that hold the warehouse while a test checks who keeps working."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sony_de_platform.settings import REPO_ROOT

# A platform writer: holds the writer lock (and the DuckDB file) of the data folder argv[1].
HOLD_WRITER_LOCK = """
import sys, time
from sony_de_platform.settings import load_settings
from sony_de_platform.warehouse import build_warehouse
with build_warehouse(load_settings({"SONY_DE_DATA_DIR": sys.argv[1]})).session():
    print("holding", flush=True)
    time.sleep(300)
"""
# A process outside the platform (no writer lock) with the DuckDB file argv[1] open to write,
# as a long run has it: DuckDB then refuses every other process, readers too.
HOLD_DUCKDB_FILE = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(300)
"""

# The DuckDB file argv[1] open read-only, as the platform's checks have it: other readers
# may open it, no writer may.
HOLD_DUCKDB_FILE_READ_ONLY = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(300)
"""


@contextmanager
def holding(script: str, *args: str) -> Iterator[int]:
    """A separate process that holds a lock until the block ends; yields its pid."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "holding"
        yield process.pid
    finally:
        process.kill()
        process.wait(timeout=30)
