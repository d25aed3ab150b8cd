"""The monitor and the Dagster UI as a person sees them: real servers on loopback, headless
Chromium from the distribution's packages, every tab clicked, screenshots kept under
test-artifacts/screenshots/ (see the README)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sony_de_platform.dashboard import dagster_api
from sony_de_platform.dashboard.app import TABS
from sony_de_platform.governance.key_stats import current_key_stats
from sony_de_platform_tests.browser import SCREENSHOT_DIR, chromium, free_port, server
from sony_de_platform_tests.conftest import PublishedPipeline

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
NO_FAILURE_TEXT = ("Traceback", "could not be shown", "Error:")
TAB = "[...document.querySelectorAll('[data-testid=stTab]')].find(t => t.innerText.trim() == {!r})"
VISIBLE_PANEL = (
    "[...document.querySelectorAll('[data-testid=stTabPanel]')]"
    ".filter(p => !p.hidden && p.getClientRects().length).map(p => p.innerText).join('\\n')"
)


def _environment(pipeline: PublishedPipeline, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONY_DE_", "DAGSTER_"))}
    return {**env, **pipeline.env, "DAGSTER_HOME": str(pipeline.settings.dagster_home), **extra}


@pytest.fixture(scope="module")
def dagster_url(
    published_pipeline: PublishedPipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """dagster-webserver for the project's workspace, on the instance the pipeline ran on."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(BIN / "dagster-webserver"),
        *("-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)),
    ]
    log = tmp_path_factory.mktemp("dagster_webserver") / "webserver.log"
    with server(command, _environment(published_pipeline), f"{url}/server_info", log, 300):
        # What "Skip" on the first-visit community dialog records, so it covers no screenshot.
        assert dagster_api.graphql(url, "mutation SetNuxSeen { setNuxSeen }") == {
            "setNuxSeen": True
        }
        yield url


def _assert_no_failure_shown(page, tab: str) -> None:
    assert page.evaluate("document.querySelectorAll('[data-testid=stException]').length") == 0
    error_alerts = "document.querySelectorAll('[data-testid=stAlertContentError]').length"
    assert page.evaluate(error_alerts) == 0, tab
    text = page.evaluate(VISIBLE_PANEL)
    assert not [phrase for phrase in NO_FAILURE_TEXT if phrase in text], (tab, text[:2000])


def test_dashboard_tabs_in_chromium(
    published_pipeline: PublishedPipeline, dagster_url: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(BIN / "streamlit"),
        *("run", "sony_de_platform/dashboard/app.py"),
        *("--server.address", "127.0.0.1", "--server.port", str(port)),
        *("--server.headless", "true", "--browser.gatherUsageStats", "false"),
    ]
    env = _environment(published_pipeline, SONY_DE_DAGSTER_URL=dagster_url)
    stats = current_key_stats(published_pipeline.settings)
    run_id = published_pipeline.run_id
    asset_count = len(list(published_pipeline.defs.resolve_asset_graph().get_all_asset_keys()))
    expected = {
        "Overview": ["Key Stats", "Rows per layer", "Rows per table", f"{stats.bronze_rows:,}"],
        "Data Quality": ["Data Metric Functions", "DMF checks passing", "Quarantined records"],
        "Pipeline Health": [
            "Streams",
            "Dynamic tables",
            "Dynamic tables behind their target lag",
            "Recent Dagster runs",
        ],
        "Data Lineage": ["Asset graph", "Bronze", "Silver", "Gold"],
        "Test Results": ["dbt tests pass", "Asset checks in Dagster", "asset checks pass"],
    }
    # Charts and the graph are drawn client-side: wait for the drawing, not only the text.
    drawn = {
        "Overview": "document.querySelectorAll('[data-testid=stVegaLiteChart] canvas, "
        "[data-testid=stVegaLiteChart] svg').length >= 2",
        "Data Lineage": "document.querySelectorAll('[data-testid=stGraphVizChart] svg g.node')"
        f".length == {asset_count}",
    }
    log = tmp_path / "streamlit.log"
    with server(command, env, f"{url}/_stcore/health", log, 120), chromium(tmp_path / "p") as page:
        page.navigate(url)
        page.wait_until(
            f"document.querySelectorAll('[data-testid=stTab]').length == {len(TABS)}", 120, "tabs"
        )
        for number, tab in enumerate(TABS, start=1):
            page.click(TAB.format(tab))
            for text in expected[tab]:
                page.wait_until(f"({VISIBLE_PANEL}).includes({text!r})", 90, f"{tab}: {text!r}")
            if tab in drawn:
                page.wait_until(drawn[tab], 90, f"{tab}: drawing")
            if tab == "Pipeline Health":  # the run the pipeline made, read through GraphQL
                page.wait_until(
                    f"({VISIBLE_PANEL}).includes('From the Dagster webserver')", 90, tab
                )
            _assert_no_failure_shown(page, tab)
            slug = tab.lower().replace(" ", "-")
            page.screenshot(SCREENSHOT_DIR / f"dashboard-{number}-{slug}.png")
        assert run_id  # shown in a canvas grid: checked through the same API below
    runs = dagster_api.recent_runs(dagster_url)
    assert list(runs["run_id"]) == [run_id] and list(runs["status"]) == ["SUCCESS"]


def _shown_as(name: str, labels: set[str]) -> bool:
    """The graph shortens long names in the middle ('stg_…_interactions')."""
    for label in labels:
        if label == name:
            return True
        head, sep, tail = label.partition("…")
        if sep and name.startswith(head) and name.endswith(tail) and len(label) < len(name):
            return True
    return False


def test_dagster_ui_shows_the_lineage_and_checks(
    published_pipeline: PublishedPipeline, dagster_url: str, tmp_path: Path
) -> None:
    graph = published_pipeline.defs.resolve_asset_graph()
    layers: dict[str, list[str]] = {}
    for key in graph.get_all_asset_keys():
        layers.setdefault(graph.get(key).group_name, []).append(key.path[-1])
    checks: dict[str, list[str]] = {}
    for check in graph.asset_check_keys:
        checks.setdefault("/".join(check.asset_key.path), []).append(check.name)
    assert set(layers) >= {"bronze", "silver", "gold"} and checks

    with chromium(tmp_path / "p") as page:
        page.navigate(f"{dagster_url}/asset-groups")
        page.wait_until("document.body.innerText.includes('Global asset lineage')", 120, "page")
        page.wait_until("document.body.innerText.includes('Materialize all')", 120, "graph")
        page.press("e", "KeyE", 69, modifiers=1)  # Alt+E: expand all groups
        page.wait_until("document.body.innerText.includes('raw_box_office')", 60, "assets")
        edges = sum(len(graph.get(key).parent_keys) for key in graph.get_all_asset_keys())
        page.wait_until(f"document.querySelectorAll('svg path').length >= {edges}", 60, "edges")
        time.sleep(2)  # let the nodes take their materialization colours before the screenshot
        labels = set(page.text().splitlines())
        for layer in ("bronze", "silver", "gold"):
            assert layer in labels
            missing = [name for name in layers[layer] if not _shown_as(name, labels)]
            assert missing == [], (layer, sorted(labels))
        page.screenshot(SCREENSHOT_DIR / "dagster-asset-lineage.png")

        for number, (asset, names) in enumerate(sorted(checks.items())):
            page.navigate(f"{dagster_url}/assets/{asset}?view=checks")
            shown = " && ".join(
                f"document.body.innerText.includes({text!r})"
                for text in (f"Checks ({len(names)})", *names)
            )
            # Each check's latest status arrives after its name: wait for every one.
            passed = f"document.body.innerText.split('Succeeded').length - 1 >= {len(names)}"
            page.wait_until(
                f"location.pathname.includes({asset!r}) && {shown} && {passed}", 60, asset
            )
            assert page.text().count("Succeeded") >= len(names), asset
            if number == 0:
                page.screenshot(SCREENSHOT_DIR / "dagster-asset-checks.png")
