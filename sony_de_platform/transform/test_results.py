"""dbt test outcomes kept in the warehouse (GOVERNANCE.DBT_TEST_RESULTS), run after run.

Key Stats, the dashboard and analysts read the outcomes from here rather than from a
dbt target folder that the next invocation overwrites.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sony_de_platform.warehouse import Session, qualified

GOVERNANCE_SCHEMA = "GOVERNANCE"
TEST_RESULTS_TABLE = "DBT_TEST_RESULTS"
TEST_RESULTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR"),
    ("invocation_id", "VARCHAR"),
    ("unique_id", "VARCHAR"),
    ("test_kind", "VARCHAR"),
    ("test_name", "VARCHAR"),
    ("attached_node", "VARCHAR"),
    ("severity", "VARCHAR"),
    ("status", "VARCHAR"),
    ("failures", "BIGINT"),
    ("message", "VARCHAR"),
    ("execution_time_s", "DOUBLE"),
    ("recorded_at", "TIMESTAMP"),
)


def configured_data_tests(manifest: Mapping[str, Any]) -> int:
    """Data tests (generic and singular) defined in the project."""
    return sum(1 for node in manifest["nodes"].values() if node["resource_type"] == "test")


def test_result_rows(
    run_results: Mapping[str, Any], manifest: Mapping[str, Any], run_id: str
) -> dict[str, list]:
    """Column-wise rows for every data test and unit test in one dbt invocation."""
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    recorded_at = datetime.now(UTC).replace(tzinfo=None)
    invocation_id = run_results.get("metadata", {}).get("invocation_id", "")
    columns: dict[str, list] = {name: [] for name, _ in TEST_RESULTS_COLUMNS}
    for result in run_results.get("results", []):
        unique_id = result["unique_id"]
        kind = unique_id.split(".", 1)[0]
        if kind not in ("test", "unit_test"):
            continue
        node = nodes.get(unique_id, {})
        columns["run_id"].append(run_id)
        columns["invocation_id"].append(invocation_id)
        columns["unique_id"].append(unique_id)
        columns["test_kind"].append("data_test" if kind == "test" else "unit_test")
        columns["test_name"].append(node.get("name", unique_id))
        columns["attached_node"].append(node.get("attached_node") or node.get("model"))
        columns["severity"].append(str(node.get("config", {}).get("severity", "ERROR")).upper())
        columns["status"].append(result.get("status"))
        columns["failures"].append(result.get("failures"))
        columns["message"].append(result.get("message"))
        columns["execution_time_s"].append(result.get("execution_time"))
        columns["recorded_at"].append(recorded_at)
    return columns


def record_test_results(session: Session, rows: Mapping[str, list]) -> int:
    session.ensure_schema(GOVERNANCE_SCHEMA)
    table = qualified(GOVERNANCE_SCHEMA, TEST_RESULTS_TABLE)
    session.create_table_if_missing(table, TEST_RESULTS_COLUMNS)
    return session.append_columns(table, rows)
