"""Real servers and headless Chromium for the browser tests, driven over the DevTools Protocol.

Chromium comes from the distribution's packages (`.ci/run` installs it); no browser is
downloaded. Every wait is bounded, and servers and the browser are always stopped.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from sony_de_platform.settings import REPO_ROOT

# The folder the README names for the screenshots the browser tests keep.
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)


def chromium_executable() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "no Chromium on PATH: install the distribution's package "
        "(apt-get install -y chromium); .ci/run does this before `make test`"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200, the process dies, or the time is up."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = error
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last})")


def _stop(process: subprocess.Popen) -> None:
    """Stop a process we started, and the children of its process group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@contextmanager
def server(
    command: Sequence[str], env: Mapping[str, str], health_url: str, log: Path, timeout: float
) -> Iterator[subprocess.Popen]:
    """Run a server in its own process group until the block ends; its output goes to `log`."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            try:
                wait_for_http(health_url, timeout, process)
            except (TimeoutError, RuntimeError) as error:
                raise RuntimeError(f"{error}; server log:\n{log.read_text()[-4000:]}") from None
            yield process
        finally:
            _stop(process)


class Page:
    """One Chromium tab over the DevTools Protocol (a websocket of JSON messages)."""

    def __init__(self, websocket_url: str) -> None:
        self._socket = connect(websocket_url, max_size=None, open_timeout=30)
        self._ids = itertools.count(1)

    def call(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{method}: no answer from Chromium within {timeout:.0f}s")
            reply = json.loads(self._socket.recv(timeout=remaining))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float, what: str) -> Any:
        """Evaluate until the value is truthy (client-side rendering takes a while)."""
        deadline = time.monotonic() + timeout
        guarded = f"(() => {{ try {{ return ({expression}); }} catch (e) {{ return null; }} }})()"
        while True:
            value = self.evaluate(guarded)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{what} not seen within {timeout:.0f}s; page text:\n{self.text()[:3000]}"
                )
            time.sleep(0.5)

    def click(self, element_expression: str) -> None:
        """Click the middle of an element with real mouse events, as a person would."""
        box = self.evaluate(
            f"(() => {{ const r = ({element_expression}).getBoundingClientRect(); "
            "return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for event in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                type=event,
                x=box[0],
                y=box[1],
                button="left" if event != "mouseMoved" else "none",
                clickCount=1 if event != "mouseMoved" else 0,
            )

    def press(self, key: str, code: str, key_code: int, modifiers: int = 0) -> None:
        """A key stroke (modifiers: 1 Alt, 2 Ctrl, 4 Meta, 8 Shift), as a keyboard sends it."""
        for event in ("rawKeyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=event,
                key=key,
                code=code,
                windowsVirtualKeyCode=key_code,
                modifiers=modifiers,
            )

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def screenshot(self, path: Path) -> Path:
        shot = self.call("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        self._socket.close()


@contextmanager
def chromium(profile_dir: Path, width: int = 1400, height: int = 1600) -> Iterator[Page]:
    """Headless Chromium with a fresh profile; yields its first tab."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    port_file = profile_dir / "DevToolsActivePort"
    port_file.unlink(missing_ok=True)
    command = [
        chromium_executable(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile_dir}",
        f"--window-size={width},{height}",
        "about:blank",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    page: Page | None = None
    try:
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() >= deadline:
                raise RuntimeError(f"Chromium did not open its DevTools port ({command})")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            targets = json.loads(reply.read())
        tab = next(t for t in targets if t.get("type") == "page")
        page = Page(tab["webSocketDebuggerUrl"])
        page.call("Page.enable")
        yield page
    finally:
        if page is not None:
            page.close()
        _stop(process)
