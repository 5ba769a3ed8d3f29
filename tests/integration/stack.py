"""Drive the real SMART stack (tests/e2e/stack.py) with `requests`, as a browser would.

- `follow(session, url)`: follows redirects one hop at a time and keeps every URL, so a
  test can pick out the `/callback/<id>?code&state` the sandbox sent the browser to.
- `ehr_launch(stack, session, patient_id)`: a whole EHR launch — sandbox launcher → app
  `/launch` → sandbox authorize → app `/callback/<id>` → `/patient`. The sandbox must skip its
  login and consent pages: use `sandbox_settings(**AUTO)` first.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from tests.e2e.stack import NEUROLOGIST, SmartStack
from tests.support.navigation import TYPED

#: Sandbox run-time settings that skip the login and consent pages.
AUTO: dict[str, Any] = {"auto_login_user": NEUROLOGIST, "auto_approve": True}

#: Anything shaped like a bearer token, JWT, code or session id (32+ URL-safe characters).
TOKENISH = re.compile(r"[A-Za-z0-9_\-]{32,}")


@dataclass
class Hops:
    response: requests.Response
    urls: list[str] = field(default_factory=list)
    #: The raw `Set-Cookie` headers seen on the way, with the URL that sent each.
    set_cookies: list[tuple[str, str]] = field(default_factory=list)

    def first(self, prefix: str) -> str | None:
        return next((url for url in self.urls if url.startswith(prefix)), None)


def follow(session: requests.Session, url: str, *, max_hops: int = 12, typed: bool = False) -> Hops:
    """GET `url` and follow redirects by hand, recording each URL and Set-Cookie header.
    `typed`: the first request says what a browser says for an address the user typed
    (`Sec-Fetch-Site: none`)."""
    hops = Hops(response=requests.Response())
    headers = TYPED if typed else {}
    for _ in range(max_hops):
        hops.urls.append(url)
        response = session.get(url, allow_redirects=False, timeout=60, headers=headers)
        headers = {}
        hops.set_cookies += [(url, value) for value in set_cookie_headers(response)]
        hops.response = response
        if response.status_code not in (301, 302, 303, 307, 308):
            return hops
        url = urljoin(url, response.headers["Location"])
    raise AssertionError(f"more than {max_hops} redirects: {hops.urls}")


def set_cookie_headers(response: requests.Response) -> list[str]:
    raw = getattr(response.raw, "headers", None)
    if raw is None or not hasattr(raw, "getlist"):
        return []
    return list(raw.getlist("Set-Cookie"))


def query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@dataclass
class Launch:
    hops: Hops
    callback_url: str  # the app's /callback/<id>?code=…&state=… the sandbox redirected to

    @property
    def response(self) -> requests.Response:
        return self.hops.response

    @property
    def html(self) -> str:
        return self.hops.response.text


def ehr_launch(stack: SmartStack, session: requests.Session, patient_id: str) -> Launch:
    """A full EHR launch through the sandbox (auto login and consent); ends on /patient."""
    hops = follow(session, stack.launcher_url(patient_id))
    callback = hops.first(f"{stack.app}/callback/")
    assert callback is not None, f"no callback among {hops.urls}\n{hops.response.text[:2000]}"
    return Launch(hops, callback)


def start_launch(stack: SmartStack, session: requests.Session, patient_id: str) -> str:
    """Begin an EHR launch and stop at the callback URL (the app has not seen it yet)."""
    url = stack.launcher_url(patient_id)
    for _ in range(6):
        if url.startswith(f"{stack.app}/callback/"):
            return url
        response = session.get(url, allow_redirects=False, timeout=60)
        assert response.status_code in (302, 303), (url, response.status_code, response.text)
        url = urljoin(url, response.headers["Location"])
    raise AssertionError(f"the launch did not reach the callback: {url}")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def sandbox_requests(stack: SmartStack) -> list[str]:
    """The sandbox's access log: one `METHOD /path HTTP/1.1" status` per request."""
    lines = _ANSI.sub("", stack.sandbox_log_text()).splitlines()
    return [line.split('"', 1)[1] for line in lines if " werkzeug " in line and '"' in line]


def token_requests(stack: SmartStack) -> int:
    """How many token requests (any outcome) the sandbox has received."""
    return sum(1 for line in sandbox_requests(stack) if line.startswith("POST /auth/token "))


def data_round_trips(html: str) -> int:
    """The dashboard data panel's "Round trips" value."""
    match = re.search(r"<dt>Round trips</dt><dd>(\d+)</dd>", html)
    assert match, "no round-trip count in the data panel"
    return int(match.group(1))


def server_timing(response: requests.Response) -> dict[str, float]:
    """`Server-Timing: fhir;dur=1.0, rules;dur=2.0, render;dur=3.0` → {name: ms}."""
    timings: dict[str, float] = {}
    for part in response.headers.get("Server-Timing", "").split(","):
        match = re.match(r"\s*([A-Za-z0-9_-]+);dur=([0-9.]+)", part)
        if match:
            timings[match.group(1)] = float(match.group(2))
    return timings


def stored_worklist(session: requests.Session, app: str, *, within_s: float) -> dict[str, Any]:
    """Poll `/worklist/refresh-status` (as the signed-in `session`) until a worklist is
    stored and no refresh runs; its last status. Fails at once when a refresh failed, and
    after `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        status: dict[str, Any] = session.get(f"{app}/worklist/refresh-status", timeout=30).json()
        assert not status["failed"], status
        if status["latest"] and not status["running"]:
            return status
        assert time.monotonic() < deadline, f"no stored worklist within {within_s} s: {status}"
        time.sleep(0.5)
