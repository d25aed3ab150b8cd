"""Event log storage of the local Dagster instance (`make dev`, `make demo`): Dagster's own
SQLite storage, with each database's connection kept open in the process.

Dagster's SqliteEventLogStorage builds a new engine for every read and write, opens a new
SQLite connection on it and closes it after (NullPool). On SQLite the first statement on a
new connection (reading the schema, mapping the write-ahead log's index) and the close
cost about 2 ms on a 2-core machine, and a stored event takes several of them: about 15 ms
an event, for the ~500 events of a daily build at scale 1 (benchmarks: section
orchestration). Here each database keeps one engine per process, whose pool keeps its
connections open.
Files, schema, migrations, write-ahead log, busy timeout and watchers are Dagster's, so an
instance can switch between this class and Dagster's default and keep its history.

Configured in deploy/dagster.dev.yaml; production uses PostgreSQL (deploy/dagster.prod.yaml).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import DagsterInstance, Field, StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

# Engines kept open besides the index's: one per run database, the most recently used. A run
# writes only its own; the webserver reads a few at a time.
KEPT_RUN_ENGINES = 8


def event_log_dir(instance_dir: str) -> str:
    """Where Dagster's default SQLite storage keeps an instance's event logs."""
    return os.path.join(instance_dir, "history", "runs", "")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose connections outlive one read or write.

    Without `base_dir` in its configuration it keeps the event logs where Dagster's default
    would, in the folder of the instance that registers it (which dagster.yaml cannot name:
    `DagsterInstance.from_config(folder)` need not be $DAGSTER_HOME).
    """

    def __init__(
        self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None
    ) -> None:
        # Dagster's constructor may already connect (a new instance builds its index)
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._engines_lock = threading.Lock()
        self._inst_data = inst_data
        if base_dir is not None:
            super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(base_dir=config_value.get("base_dir"), inst_data=inst_data)

    def register_instance(self, instance: DagsterInstance) -> None:
        if not hasattr(self, "_base_dir"):  # configured without one: the instance's folder
            super().__init__(event_log_dir(instance.root_directory), self._inst_data)
        super().register_instance(instance)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine in this process. A forked child never uses its parent's
        connections (SQLite's rule): it drops them unclosed and opens its own."""
        with self._engines_lock:
            if self._engines_pid != os.getpid():
                for engine in self._engines.values():
                    engine.dispose(close=False)
                self._engines.clear()
                self._engines_pid = os.getpid()
            engine = self._engines.get(shard)
            if engine is None:
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=QueuePool,
                    # two: Dagster asks has_table while it holds the index's connection
                    pool_size=2,
                    max_overflow=4,
                    connect_args={
                        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                        # one thread at a time holds it (Dagster's _db_lock), not always the same
                        "check_same_thread": False,
                    },
                )
                self._engines[shard] = engine
                self._forget_old_run_engines()
            self._engines.move_to_end(shard)
            return engine

    def _forget_old_run_engines(self) -> None:
        runs = [shard for shard in self._engines if shard != INDEX_SHARD_NAME]
        for shard in runs[: max(0, len(runs) - KEPT_RUN_ENGINES)]:
            self._engines.pop(shard).dispose()

    def _dispose_engines(self, keep_index: bool) -> None:
        with self._engines_lock:
            for shard in list(self._engines):
                if not (keep_index and shard == INDEX_SHARD_NAME):
                    self._engines.pop(shard).dispose()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # as SqliteEventLogStorage._connect, without building and disposing of an engine
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Dagster asks before storing each asset event with tags, on a new engine each time
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def wipe(self) -> None:
        # the run databases' files are deleted: close their connections first
        self._dispose_engines(keep_index=True)
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines(keep_index=False)
