"""Silver follows its inputs: a Silver dbt model is built when one of its inputs changed.

A landing file loads its Bronze table (and, for fan interactions, the routing of the fans
it brings). The automation then requests the Silver models that read what changed, and only
those: a new day of interactions does not rebuild the title catalog. Gold, downstream,
refreshes within its target lag (dynamic_tables.py), so new data reaches Gold without
waiting for the daily build. Snapshots keep their own schedule.
"""

from dagster import AutomationCondition

BUILD_WHEN_INPUTS_CHANGE = "build when an input changes"


def build_when_inputs_change() -> AutomationCondition:
    """Dagster's eager condition: requested when an input was materialized since the last
    build (or is requested on the same tick), never while an input is missing or being
    built, nor while the model itself is. The daily full build, which builds a model with
    its inputs, does not request it again. And never on an input whose blocking checks
    (ERROR data metric functions and dbt tests) did not pass: bad rows stop where found."""
    return (
        AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label(BUILD_WHEN_INPUTS_CHANGE)
