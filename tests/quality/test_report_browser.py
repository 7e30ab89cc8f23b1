"""The run report in a real headless Chromium: it opens, logs no error, and shows every section.

Chromium is driven through its DevTools protocol over a websocket (``websockets``, already a
dependency): page exceptions, console errors and browser log errors (a Content-Security-Policy
violation, a resource that does not load) are collected while the page loads. Skipped only when no
Chromium binary exists (Debian: ``apt-get install chromium``; ``AUDIENCE_CHROMIUM`` names another).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from audience.quality import report

from . import built
from .report_data import create_database, drop_database, load_runs

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 30


def chromium_binary() -> str | None:
    explicit = os.environ.get("AUDIENCE_CHROMIUM")
    if explicit:
        return shutil.which(explicit) or (explicit if Path(explicit).is_file() else None)
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


CHROMIUM = chromium_binary()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium binary (apt-get install -y chromium, or set AUDIENCE_CHROMIUM): "
    "the report's browser test cannot run",
)


class Browser:
    """One headless Chromium and one DevTools websocket (flattened sessions)."""

    def __init__(self, binary: str, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",  # CI containers run as root
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = self._devtools_url()
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=None, open_timeout=TIMEOUT_S)
        self._next_id = 0

    def _devtools_url(self) -> str:
        deadline = time.monotonic() + TIMEOUT_S
        assert self.proc.stderr is not None
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            seen.append(line.strip())
            if "DevTools listening on " in line:
                return line.split("DevTools listening on ", 1)[1].strip()
        self.close()
        raise RuntimeError(
            "Chromium did not open its DevTools port; its last output: " + " | ".join(seen[-5:])
        )

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        return self._next_id

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        events: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Send a command and wait for its answer; events seen meanwhile go to ``events``."""
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv(timeout=TIMEOUT_S))
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            if events is not None and "method" in message:
                events.append(message)
        raise TimeoutError(f"no answer to {method} within {TIMEOUT_S}s")

    def load(self, url: str) -> tuple[dict[str, Any], list[str]]:
        """Open ``url`` in a new tab; the page's state once loaded, and every error it reported."""
        events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session, events=events)
        self.call("Page.navigate", {"url": url}, session=session, events=events)
        deadline = time.monotonic() + TIMEOUT_S
        while not any(e["method"] == "Page.loadEventFired" for e in events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading within {TIMEOUT_S}s")
            message = json.loads(self.ws.recv(timeout=TIMEOUT_S))
            if "method" in message:
                events.append(message)
        script = """JSON.stringify({
            title: document.title,
            verdict: (document.getElementById('verdict') || {}).textContent || null,
            sections: [...document.querySelectorAll('section[id]')].map(s => ({
                id: s.id,
                heading: (s.querySelector('h2') || {}).textContent || null,
                height: s.getBoundingClientRect().height,
                svgs: s.querySelectorAll('svg').length})),
            failedImages: [...document.images].filter(i => !i.complete || !i.naturalWidth).length})"""
        answer = self.call(
            "Runtime.evaluate", {"expression": script, "returnByValue": True}, session=session, events=events
        )
        # a last moment for late reports (a console error from a timer or a failed resource)
        self.call("Runtime.evaluate", {"expression": "1"}, session=session, events=events)
        state = json.loads(answer["result"]["value"])
        self.call("Target.closeTarget", {"targetId": target})
        return state, errors(events)

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            found.append(
                "exception: " + str(details.get("exception", {}).get("description") or details.get("text"))
            )
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(
                "console.error: "
                + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", []))
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')}")
    return found


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    instance = Browser(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield instance
    finally:
        instance.close()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    params = create_database(template=built.template())
    try:
        load_runs(params)
        with psycopg.connect(**params.libpq()) as conn:
            return report.write_report(conn, out_dir=tmp_path_factory.mktemp("reports"))
    finally:
        drop_database(params)


def test_the_report_opens_without_errors_and_shows_every_section(browser, report_file):
    state, found = browser.load(report_file.as_uri())
    assert found == []
    assert state["title"].startswith("Audience run report")
    assert state["verdict"].startswith("FAIL")
    assert [s["id"] for s in state["sections"]] == list(report.SECTION_IDS)
    titles = dict(report.SECTIONS)
    for s in state["sections"]:
        assert s["heading"] == titles[s["id"]] and s["height"] > 40, s
    svgs = {s["id"]: s["svgs"] for s in state["sections"]}
    assert (
        svgs["sizes"] >= 4 and svgs["distributions"] == 2 and svgs["clusters"] == 3 and svgs["stability"] == 1
    )
    assert state["failedImages"] == 0


def test_the_latest_copy_opens_too(browser, report_file):
    state, found = browser.load((report_file.parent / report.LATEST_NAME).as_uri())
    assert found == [] and len(state["sections"]) == len(report.SECTION_IDS)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('<script>throw new Error("x")</script>', "exception"),
        ('<script>console.error("broken")</script>', "console.error"),
        ('<img src="file:///nonexistent/missing.png">', "log"),
    ],
)
def test_a_broken_page_is_detected(browser, tmp_path, body, expected):
    page = tmp_path / "broken.html"
    page.write_text(f"<!DOCTYPE html><html><head><title>broken</title></head><body>{body}</body></html>")
    _state, found = browser.load(page.as_uri())
    assert any(f.startswith(expected) for f in found), found


def test_the_report_policy_blocks_external_resources(browser, tmp_path):
    """The report's Content-Security-Policy turns any external resource into a reported error."""
    page = tmp_path / "external.html"
    page.write_text(
        f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{report.CSP}">'
        '<title>x</title></head><body><img src="https://example.invalid/pixel.png"></body></html>'
    )
    _state, found = browser.load(page.as_uri())
    assert any("Content Security Policy" in f or "Content-Security-Policy" in f for f in found), found


def test_an_error_injected_in_the_report_is_detected(browser, report_file, tmp_path):
    page = report_file.read_text(encoding="utf-8").replace(
        "<main>", '<main><img src="data:," onerror="x()">', 1
    )
    injected = tmp_path / "injected.html"
    injected.write_text(page, encoding="utf-8")
    _state, found = browser.load(injected.as_uri())
    assert found, "an inline handler in the report should be blocked and reported"
