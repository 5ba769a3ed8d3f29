"""Browser fixtures for the e2e tests: the system Chromium driven by Playwright (sync API).

    def test_something(browser_page, browser_errors, live_server):
        base = live_server(flask_app)            # the app on http://127.0.0.1:<port>
        browser_page.goto(f"{base}/patient")
        assert browser_errors == []               # console errors, page errors, CSP reports

- `browser` (session): one headless Chromium from /usr/bin/chromium (never `playwright
  install`); a missing browser fails the tests (never a skip).
- `browser_page`: a fresh context and page at 1024x700 (the EHR frame SPEC §4 names).
- `browser_errors`: what went wrong in that page, one line each: console errors (CSP
  violations are reported there), uncaught page errors and `securitypolicyviolation`
  events.
- `live_server`: `live_server(wsgi_app) -> base URL`, served by werkzeug in a thread and
  shut down after the test.
"""

from __future__ import annotations

import shutil
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1024, "height": 700}
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

#: Reports CSP violations to the console even where Chromium would only count them.
_CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    # Never skip: a missing browser must fail the run (scripts/test installs Chromium).
    from playwright import sync_api

    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (scripts/test does)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browser_errors() -> list[str]:
    return []


@pytest.fixture
def browser_page(browser: Any, browser_errors: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(_CSP_LISTENER)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            browser_errors.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: browser_errors.append(f"page error: {error}"))
    try:
        yield page
    finally:
        context.close()


ServerT = TypeVar("ServerT", bound=socketserver.BaseServer)


@pytest.fixture
def background_servers() -> Iterator[Callable[[ServerT], ServerT]]:
    """`start(server) -> server`: serves it in a daemon thread until the test ends."""
    servers: list[socketserver.BaseServer] = []

    def start(server: ServerT) -> ServerT:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def live_server(background_servers: Callable[[Any], Any]) -> Callable[[Any], str]:
    """`start(wsgi_app) -> base URL`: the app served on a free port until the test ends."""

    def start(wsgi_app: Any) -> str:
        server = background_servers(make_server("127.0.0.1", 0, wsgi_app, threaded=True))
        return f"http://127.0.0.1:{server.server_port}"

    return start
