"""Recent runs and asset-check outcomes, read through the Dagster webserver's GraphQL API.

The monitor does not open Dagster's instance storage itself: it asks the webserver an
operator already runs (`make dev`), so it shows what the Dagster UI shows. When no
webserver answers, callers say so instead of showing stale or empty figures.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pandas as pd

TIMEOUT_SECONDS = 5.0

RECENT_RUNS = """
query RecentRuns($limit: Int) {
  runsOrError(limit: $limit) {
    __typename
    ... on Runs { results { runId jobName status creationTime startTime endTime } }
    ... on PythonError { message }
  }
}
"""

ASSET_CHECKS = """
query AssetChecks {
  assetNodes {
    assetKey { path }
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name
          executionForLatestMaterialization {
            status
            timestamp
            evaluation { severity }
          }
        }
      }
    }
  }
}
"""


class DagsterUnavailable(RuntimeError):
    """No Dagster webserver answered at the configured URL (or it answered with an error)."""


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as error:
        reason = getattr(error, "reason", error)
        raise DagsterUnavailable(f"no Dagster webserver answered at {url} ({reason})") from None
    if body.get("errors"):
        raise DagsterUnavailable(f"Dagster at {url} refused the query: {body['errors'][0]}")
    return body["data"]


def _time(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def recent_runs(url: str, limit: int = 20) -> pd.DataFrame:
    """The latest runs, newest first: id, job, status, start, duration."""
    runs = graphql(url, RECENT_RUNS, {"limit": limit})["runsOrError"]
    if runs["__typename"] != "Runs":
        raise DagsterUnavailable(f"Dagster at {url} could not list runs: {runs.get('message')}")
    rows = [
        {
            "run_id": run["runId"],
            "job": run["jobName"],
            "status": run["status"],
            "started": _time(run["startTime"] or run["creationTime"]),
            "duration_s": round(run["endTime"] - run["startTime"], 1)
            if run["endTime"] and run["startTime"]
            else None,
        }
        for run in runs["results"]
    ]
    return pd.DataFrame(rows, columns=["run_id", "job", "status", "started", "duration_s"])


def asset_check_outcomes(url: str) -> pd.DataFrame:
    """Every asset check with the outcome of its latest execution (None if never run)."""
    rows = []
    for node in graphql(url, ASSET_CHECKS)["assetNodes"]:
        checks = node["assetChecksOrError"]
        if checks["__typename"] != "AssetChecks":
            continue
        for check in checks["checks"]:
            execution = check["executionForLatestMaterialization"] or {}
            evaluation = execution.get("evaluation") or {}
            rows.append(
                {
                    "status": execution.get("status", "NOT_EXECUTED"),
                    "asset": "/".join(node["assetKey"]["path"]),
                    "check": check["name"],
                    "severity": evaluation.get("severity"),
                    "executed_at": _time(execution.get("timestamp")),
                }
            )
    return pd.DataFrame(rows, columns=["status", "asset", "check", "severity", "executed_at"])
