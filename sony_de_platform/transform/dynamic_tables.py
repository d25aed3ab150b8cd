"""Dynamic tables in Dagster: target lag as a freshness policy, and the refresh automation.

A dbt model materialized as `dynamic_table` declares `target_lag` (dbt-snowflake's config
key): how far its contents may trail its inputs. Dagster shows it as a FreshnessPolicy, and
on DuckDB, where nothing refreshes the table by itself, an automation condition plays
Snowflake's scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from dagster import AutomationCondition, FreshnessPolicy

DYNAMIC_TABLE = "dynamic_table"
DOWNSTREAM = "downstream"
# Snowflake's grammar for TARGET_LAG; the DuckDB twin validates the same one
# (dbt_project/macros/dynamic_table/dynamic_table_settings.sql).
_TARGET_LAG = re.compile(r"^(\d+) *(second|minute|hour|day)s?$")
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MIN_TARGET_LAG = timedelta(seconds=60)  # Snowflake's minimum, and Dagster's smallest window


class TargetLagError(ValueError):
    """A target_lag Snowflake would reject; the message names the model and the fix."""


def parse_target_lag(text: str, where: str = "target_lag") -> timedelta | None:
    """'<n> seconds|minutes|hours|days' as a timedelta; None for 'downstream'."""
    normalized = str(text).strip().lower()
    if normalized == DOWNSTREAM:
        return None
    match = _TARGET_LAG.match(normalized)
    if not match:
        raise TargetLagError(
            f"{where}: target_lag {text!r} is not '<n> seconds|minutes|hours|days' or 'downstream'"
        )
    lag = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if lag < MIN_TARGET_LAG:
        raise TargetLagError(f"{where}: target_lag {text!r} is below Snowflake's 60 s minimum")
    return lag


def dynamic_table_lag(props: Mapping[str, Any]) -> timedelta | None:
    """The target lag of a dbt node materialized as a dynamic table (None otherwise, or
    for a 'downstream' lag, which has no time of its own)."""
    config = props.get("config", {})
    if config.get("materialized") != DYNAMIC_TABLE or not config.get("target_lag"):
        return None
    return parse_target_lag(config["target_lag"], props.get("original_file_path", props["name"]))


def lag_freshness_policy(lag: timedelta) -> FreshnessPolicy:
    """Fail once a whole target lag has passed without a refresh; warn at half of it, the
    point where the automation refreshes a table whose inputs changed."""
    half = lag / 2
    return FreshnessPolicy.time_window(
        fail_window=lag, warn_window=half if half >= MIN_TARGET_LAG else None
    )


def refresh_within_target_lag() -> AutomationCondition:
    """Snowflake's scheduler for the DuckDB twin, in terms of the lag freshness policy.

    Requested when an input changed since the last refresh and half the target lag has
    passed (freshness WARN), so new data shows within the lag without refreshing on every
    upstream run; or when a whole lag passed with no change (freshness FAIL), which
    records a NO_DATA refresh, as Snowflake's scheduler does. Never while the table or an
    input is being materialized, nor while an input is missing, nor while an input's
    blocking checks have not passed: Gold is never refreshed on Silver that failed one.
    """
    changed_since_refresh = (
        AutomationCondition.newly_missing() | AutomationCondition.any_deps_updated()
    ).since_last_handled()
    half_lag_passed = (
        AutomationCondition.missing()
        | AutomationCondition.freshness_warned()
        | AutomationCondition.freshness_failed()
    ).with_label("missing or half the target lag passed")
    lag_exceeded = (
        AutomationCondition.freshness_failed().newly_true().since_last_handled()
    ).with_label("target lag exceeded")
    return (
        AutomationCondition.in_latest_time_window()
        & ((changed_since_refresh & half_lag_passed) | lag_exceeded)
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
        & AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("refresh within target lag")
