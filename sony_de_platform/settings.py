"""Every setting of the platform, read in one place.

The engine switch, the data folders and the Snowflake credentials all come from the
environment here and nowhere else. Other modules receive a `Settings` object; Snowflake
secrets are handed to Dagster as `EnvVar`s so their values never pass through our code.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DATABASE_NAME = "SONY_DE"
DUCKDB_FILE_NAME = f"{DATABASE_NAME}.duckdb"
# The virtual warehouse `sony-de snowflake deploy` creates when SNOWFLAKE_WAREHOUSE is unset.
DEFAULT_SNOWFLAKE_WAREHOUSE = "SONY_DE_WH"

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
_UNQUOTED_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")

# On-call alerts for failing checks. The webhook URL (Slack's carries a token) and the
# PagerDuty routing key are secrets: only their variable names are kept, Dagster resolves them.
ALERT_WEBHOOK_URL_VAR = "SONY_DE_ALERT_WEBHOOK_URL"
PAGERDUTY_ROUTING_KEY_VAR = "SONY_DE_PAGERDUTY_ROUTING_KEY"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class AlertFormat(StrEnum):
    """What the alert webhook receives."""

    SLACK = "slack"  # Slack-compatible JSON (incoming webhooks, and most chat tools)
    PAGERDUTY = "pagerduty"  # PagerDuty Events API v2


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
    stream_poll_seconds: int = 30
    landing_poll_seconds: int = 30
    landing_settle_seconds: float = 5.0
    published_path: Path = Path(READER_COPY_FILE_NAME)
    dagster_url: str = "http://127.0.0.1:3000"
    monitor_role: str = "SONY_DE_MONITOR"
    snowflake_vars: Mapping[str, str] = field(default_factory=dict)
    snowflake_values: Mapping[str, str] = field(default_factory=dict)
    # Object names on Snowflake (not secrets): read whatever the engine, so that
    # `sony-de snowflake deploy --dry-run` prints the script without any credential.
    snowflake_database: str = DATABASE_NAME
    snowflake_warehouse: str = DEFAULT_SNOWFLAKE_WAREHOUSE
    alert_webhook_url_var: str | None = None
    alert_format: AlertFormat = AlertFormat.SLACK
    pagerduty_routing_key_var: str | None = None
    alert_suppression_seconds: float = 3600.0

    @property
    def dbt_target(self) -> str:
        return DBT_TARGETS[self.engine]

    @property
    def dbt_target_path(self) -> Path:
        """dbt artifacts per engine, so a DuckDB parse never serves a Snowflake run."""
        return DBT_PROJECT_DIR / "target" / self.dbt_target

    def dbt_env(self) -> dict[str, str]:
        if self.engine is Engine.SNOWFLAKE:
            return snowflake_dbt_profile_env(self.snowflake_database, self.snowflake_warehouse)
        return dbt_profile_env(self.engine, self.warehouse_path, self.lock_timeout_seconds)


def dbt_profile_env(
    engine: Engine, duckdb_path: Path | str | None = None, lock_wait_seconds: float = 0.0
) -> dict[str, str]:
    """Environment the committed dbt profiles.yml reads (it uses env_var only).

    `lock_wait_seconds`: how long dbt-duckdb may wait for another process to release the
    DuckDB file, as the platform's own sessions wait. dbt-duckdb retries its connect after
    1, 2, 4 ... seconds: the attempts whose waits add up to no more than this."""
    env = {"SONY_DE_DBT_TARGET": DBT_TARGETS[engine]}
    if engine is Engine.DUCKDB and duckdb_path is not None:
        env["SONY_DE_DUCKDB_PATH"] = str(duckdb_path)
        attempts = max(1, math.floor(math.log2(max(lock_wait_seconds, 0.0) + 1)))
        env["SONY_DE_DUCKDB_CONNECT_ATTEMPTS"] = str(attempts)
    return env


def snowflake_dbt_profile_env(database: str, warehouse: str) -> dict[str, str]:
    """The Snowflake target's environment: dbt builds in the database and warehouse the
    Python side uses, defaults included (profiles.yml cannot see Python's defaults)."""
    return {
        **dbt_profile_env(Engine.SNOWFLAKE),
        "SNOWFLAKE_DATABASE": database,
        "SNOWFLAKE_WAREHOUSE": warehouse,
    }


def _path(environ: Mapping[str, str], name: str, default: Path) -> Path:
    value = environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def _seconds(environ: Mapping[str, str], name: str, default: float, minimum: float = 0) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number of seconds") from None
    if value < minimum:
        raise SettingsError(f"{name}={text!r} must be at least {minimum:g} seconds")
    return value


def _object_name(environ: Mapping[str, str], name: str, default: str) -> str:
    """A Snowflake object name: an unquoted identifier, folded to upper case as Snowflake does."""
    value = (environ.get(name) or default).strip()
    if not _UNQUOTED_IDENTIFIER.match(value):
        raise SettingsError(
            f"{name}={value!r} is not an unquoted Snowflake identifier: use letters, digits "
            "and underscores, starting with a letter or underscore"
        )
    return value.upper()


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
    lock_timeout = _seconds(env, "SONY_DE_LOCK_TIMEOUT_SECONDS", 600.0)

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

    alert_format_text = env.get("SONY_DE_ALERT_FORMAT", AlertFormat.SLACK.value).strip().lower()
    if alert_format_text not in {f.value for f in AlertFormat}:
        raise SettingsError(
            f"SONY_DE_ALERT_FORMAT={alert_format_text!r} is not an alert format; use one of: "
            + ", ".join(f.value for f in AlertFormat)
        )
    alert_format = AlertFormat(alert_format_text)
    if alert_format is AlertFormat.PAGERDUTY and not env.get(PAGERDUTY_ROUTING_KEY_VAR):
        raise SettingsError(
            f"SONY_DE_ALERT_FORMAT=pagerduty needs {PAGERDUTY_ROUTING_KEY_VAR} (the integration's "
            "routing key of your PagerDuty service)"
        )
    suppression = _seconds(env, "SONY_DE_ALERT_SUPPRESSION_SECONDS", 3600.0)

    database = _object_name(env, "SNOWFLAKE_DATABASE", DATABASE_NAME)
    return Settings(
        engine=engine,
        snowflake_database=database,
        snowflake_warehouse=_object_name(env, "SNOWFLAKE_WAREHOUSE", DEFAULT_SNOWFLAKE_WAREHOUSE),
        data_dir=data_dir,
        landing_dir=_path(env, "SONY_DE_LANDING_DIR", data_dir / "landing"),
        warehouse_path=warehouse_path,
        dagster_home=_path(env, "DAGSTER_HOME", data_dir / "dagster_home"),
        lock_timeout_seconds=lock_timeout,
        # Sensors: how often the CDC stream and the landing folder are polled, and how long a
        # landing file must stay unchanged before it counts as fully written.
        stream_poll_seconds=int(_seconds(env, "SONY_DE_STREAM_POLL_SECONDS", 30, minimum=1)),
        landing_poll_seconds=int(_seconds(env, "SONY_DE_LANDING_POLL_SECONDS", 30, minimum=1)),
        landing_settle_seconds=_seconds(env, "SONY_DE_LANDING_SETTLE_SECONDS", 5.0),
        published_path=_path(
            env, "SONY_DE_PUBLISHED_PATH", data_dir / "published" / READER_COPY_FILE_NAME
        ),
        dagster_url=env.get("SONY_DE_DAGSTER_URL", "http://127.0.0.1:3000").rstrip("/"),
        # the deploy names roles after the database (governance/access.py role_name)
        monitor_role=env.get("SONY_DE_MONITOR_ROLE", f"{database}_MONITOR"),
        snowflake_vars=snowflake_vars,
        snowflake_values=snowflake_values,
        alert_webhook_url_var=ALERT_WEBHOOK_URL_VAR if env.get(ALERT_WEBHOOK_URL_VAR) else None,
        alert_format=alert_format,
        pagerduty_routing_key_var=(
            PAGERDUTY_ROUTING_KEY_VAR if env.get(PAGERDUTY_ROUTING_KEY_VAR) else None
        ),
        alert_suppression_seconds=suppression,
    )


@cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
