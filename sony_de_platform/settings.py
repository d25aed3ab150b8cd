"""Every setting of the platform, read in one place.

The engine switch, the data folders and the Snowflake credentials all come from the
environment here and nowhere else. Other modules receive a `Settings` object; Snowflake
secrets are handed to Dagster as `EnvVar`s so their values never pass through our code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DATABASE_NAME = "SONY_DE"
DUCKDB_FILE_NAME = f"{DATABASE_NAME}.duckdb"
# The copy readers open on DuckDB (Silver, Gold, GOVERNANCE; no RAW, no SECURE).
READER_COPY_FILE_NAME = f"{DATABASE_NAME}_READER.duckdb"


class Engine(StrEnum):
    """The warehouse the platform runs on."""

    DUCKDB = "duckdb"
    SNOWFLAKE = "snowflake"


# dbt target per engine (both live in the one committed dbt_project/profiles.yml).
DBT_TARGETS: Mapping[Engine, str] = {Engine.DUCKDB: "local", Engine.SNOWFLAKE: "snowflake"}

# Snowflake connection settings: field of the connection -> environment variable.
SNOWFLAKE_REQUIRED_VARS: Mapping[str, str] = {
    "account": "SNOWFLAKE_ACCOUNT",
    "user": "SNOWFLAKE_USER",
}
SNOWFLAKE_OPTIONAL_VARS: Mapping[str, str] = {
    "password": "SNOWFLAKE_PASSWORD",
    "private_key_path": "SNOWFLAKE_PRIVATE_KEY_PATH",
    "private_key_password": "SNOWFLAKE_PRIVATE_KEY_PASSWORD",
    "role": "SNOWFLAKE_ROLE",
    "warehouse": "SNOWFLAKE_WAREHOUSE",
    "database": "SNOWFLAKE_DATABASE",
    "host": "SNOWFLAKE_HOST",
    "port": "SNOWFLAKE_PORT",
    "protocol": "SNOWFLAKE_PROTOCOL",
}
SNOWFLAKE_SECRET_FIELDS = frozenset({"password", "private_key_password"})


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Paths are absolute; secrets are only variable names."""

    engine: Engine
    data_dir: Path
    landing_dir: Path
    warehouse_path: Path
    dagster_home: Path
    lock_timeout_seconds: float = 600.0
    published_path: Path = Path(READER_COPY_FILE_NAME)
    dagster_url: str = "http://127.0.0.1:3000"
    monitor_role: str = "SONY_DE_MONITOR"
    snowflake_vars: Mapping[str, str] = field(default_factory=dict)
    snowflake_values: Mapping[str, str] = field(default_factory=dict)

    @property
    def dbt_target(self) -> str:
        return DBT_TARGETS[self.engine]

    @property
    def dbt_target_path(self) -> Path:
        """dbt artifacts per engine, so a DuckDB parse never serves a Snowflake run."""
        return DBT_PROJECT_DIR / "target" / self.dbt_target

    def dbt_env(self) -> dict[str, str]:
        return dbt_profile_env(self.engine, self.warehouse_path)


def dbt_profile_env(engine: Engine, duckdb_path: Path | str | None = None) -> dict[str, str]:
    """Environment the committed dbt profiles.yml reads (it uses env_var only)."""
    env = {"SONY_DE_DBT_TARGET": DBT_TARGETS[engine]}
    if engine is Engine.DUCKDB and duckdb_path is not None:
        env["SONY_DE_DUCKDB_PATH"] = str(duckdb_path)
    return env


def _path(environ: Mapping[str, str], name: str, default: Path) -> Path:
    value = environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (the process environment by default)."""
    env = os.environ if environ is None else environ
    raw_engine = env.get("SONY_DE_TARGET", Engine.DUCKDB.value).strip().lower()
    try:
        engine = Engine(raw_engine)
    except ValueError:
        choices = ", ".join(e.value for e in Engine)
        raise SettingsError(
            f"SONY_DE_TARGET={raw_engine!r} is not an engine; set it to one of: {choices}"
        ) from None

    data_dir = _path(env, "SONY_DE_DATA_DIR", REPO_ROOT / "data")
    timeout_text = env.get("SONY_DE_LOCK_TIMEOUT_SECONDS", "600")
    try:
        lock_timeout = float(timeout_text)
    except ValueError:
        raise SettingsError(
            f"SONY_DE_LOCK_TIMEOUT_SECONDS={timeout_text!r} is not a number of seconds"
        ) from None

    snowflake_vars: dict[str, str] = {}
    snowflake_values: dict[str, str] = {}
    if engine is Engine.SNOWFLAKE:
        missing = [var for var in SNOWFLAKE_REQUIRED_VARS.values() if not env.get(var)]
        if not env.get("SNOWFLAKE_PASSWORD") and not env.get("SNOWFLAKE_PRIVATE_KEY_PATH"):
            missing.append("SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY_PATH)")
        if missing:
            raise SettingsError(
                "SONY_DE_TARGET=snowflake needs these environment variables: " + ", ".join(missing)
            )
        for fld, var in {**SNOWFLAKE_REQUIRED_VARS, **SNOWFLAKE_OPTIONAL_VARS}.items():
            if env.get(var):
                snowflake_vars[fld] = var
                if fld not in SNOWFLAKE_SECRET_FIELDS:
                    snowflake_values[fld] = env[var]

    warehouse_path = _path(env, "SONY_DE_DUCKDB_PATH", data_dir / "warehouse" / DUCKDB_FILE_NAME)
    if warehouse_path.name != DUCKDB_FILE_NAME:
        raise SettingsError(
            f"SONY_DE_DUCKDB_PATH={warehouse_path} must name a file called {DUCKDB_FILE_NAME} "
            f"(DuckDB names the database after the file, and the platform's database is "
            f"{DATABASE_NAME}); point it at <folder>/{DUCKDB_FILE_NAME}"
        )

    return Settings(
        engine=engine,
        data_dir=data_dir,
        landing_dir=_path(env, "SONY_DE_LANDING_DIR", data_dir / "landing"),
        warehouse_path=warehouse_path,
        dagster_home=_path(env, "DAGSTER_HOME", data_dir / "dagster_home"),
        lock_timeout_seconds=lock_timeout,
        published_path=_path(
            env, "SONY_DE_PUBLISHED_PATH", data_dir / "published" / READER_COPY_FILE_NAME
        ),
        dagster_url=env.get("SONY_DE_DAGSTER_URL", "http://127.0.0.1:3000").rstrip("/"),
        monitor_role=env.get("SONY_DE_MONITOR_ROLE", "SONY_DE_MONITOR"),
        snowflake_vars=snowflake_vars,
        snowflake_values=snowflake_values,
    )


@cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
