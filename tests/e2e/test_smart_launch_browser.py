"""The SMART launch end to end in a real headless Chromium (issue 4 "Done means").

Real processes throughout (tests/e2e/stack.py): HAPI with seeded demo patients, the
sandbox EHR (`python -m sandbox_ehr --test-mode`) and the app (`smartapp serve`). The
browser signs in on the sandbox's pages, consents, lands on `/patient`, sees the alerts,
opens a finding's evidence, and a screenshot is saved in tests/e2e/artifacts/. Every page
on the way must be free of console errors, page errors and CSP violations.

Paths covered:
- EHR launch: the sandbox EHR's launcher opens the app for a patient (what launch.html's
  "local sandbox EHR" form does; that form is pinned to the demo's port 9090, see
  `test_launch_page_offers_every_way_in`);
- standalone launch from launch.html's "any allowlisted server" form, choosing the patient
  on the sandbox's patient picker;
- the EHR launch inside an iframe of an EHR page on another site (the partitioned,
  SameSite=None cookie must survive), and `frame-ancestors` refusing an unknown framer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e import stack as smart
from tests.e2e.stack import DemoCohort, SmartStack
from tests.support.servers import free_port

pytestmark = pytest.mark.e2e

smart_stack = smart.smart_stack
demo_cohort = smart.demo_cohort
sandbox_settings = smart.sandbox_settings

ARTIFACTS = smart.ARTIFACTS
VIEWPORT = {"width": 1024, "height": 700}
TIMEOUT_MS = 30_000
SEVERITY_RANK = {"critical": 0, "high": 1, "moderate": 2, "low": 3, "info": 4}

#: CSP violations reach the console even where Chromium would only count them.
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


@dataclass
class Tab:
    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
def tab(browser: Any, sandbox_settings: Any) -> Iterator[Tab]:
    """A fresh context (no cookies) and page at 1024x700, recording what went wrong."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    recorded = Tab(page)
    page.on(
        "console",
        lambda msg: recorded.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda error: recorded.errors.append(f"page error: {error}"))

    def on_dialog(dialog: Any) -> None:  # an alert() from injected script would land here
        recorded.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield recorded
    finally:
        context.close()


def sign_in_and_approve(
    page: Any, stack: SmartStack, *, login: bool, patient_id: str | None = None
) -> None:
    """The sandbox's pages: login (standalone only: an EHR launch names its user), the
    patient picker when asked, consent."""
    page.wait_for_selector("#user-select, #approve")
    assert page.url.startswith(f"{stack.sandbox}/auth/authorize")
    assert page.is_visible("#user-select") == login
    if login:
        page.select_option("#user-select", smart.NEUROLOGIST)
        page.click("#login-submit")
    if patient_id is not None:
        page.wait_for_selector("#patient-select")  # the picker lists the server's patients
        page.fill("#patient-id", patient_id)
        page.click("#patient-submit")
    page.wait_for_selector("#approve")
    granted = page.inner_text("#granted-scopes")
    assert "patient/Observation.rs" in granted and "openid" in granted
    page.click("#approve")
    page.wait_for_url(f"{stack.app}/patient")


def alerts(page: Any) -> list[dict[str, str]]:
    return list(
        page.eval_on_selector_all(
            "#alerts article.finding",
            """els => els.map(e => ({check: e.dataset.check, status: e.dataset.status,
                  severity: e.dataset.severity,
                  title: e.querySelector('.finding-title').textContent.trim()}))""",
        )
    )


def fits_the_frame(page: Any) -> bool:
    width = page.evaluate("document.documentElement.scrollWidth")
    return bool(width <= VIEWPORT["width"])


# -- the launch page ---------------------------------------------------------------------------


def test_launch_page_offers_every_way_in(tab: Tab, smart_stack: SmartStack) -> None:
    page = tab.page
    response = page.goto(f"{smart_stack.app}/launch.html")
    assert response is not None and response.ok
    headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
    assert any("sandbox EHR" in h for h in headings)
    assert any("Local HAPI" in h for h in headings)
    assert any("Public HAPI" in h for h in headings)
    assert any("Any allowlisted" in h for h in headings)
    # Served by the app, the forms that go to the app point at this app...
    assert page.get_attribute("#any-iss >> xpath=ancestor::form", "action") == (
        f"{smart_stack.app}/launch"
    )
    # ... while the sandbox form keeps the demo's fixed sandbox address (scripts/demo runs
    # it on port 9090); this stack's sandbox runs on a free port, so the EHR launch below
    # starts from the sandbox's launcher, which is exactly where that form goes.
    sandbox_form = page.get_attribute("#sandbox-patient >> xpath=ancestor::form", "action")
    assert sandbox_form is not None and sandbox_form.endswith("/launcher")
    assert tab.errors == []


# -- EHR launch --------------------------------------------------------------------------------


def test_ehr_launch_shows_the_patients_alerts_and_evidence(
    tab: Tab, smart_stack: SmartStack, demo_cohort: DemoCohort
) -> None:
    page = tab.page
    page.goto(smart_stack.launcher_url(demo_cohort.patient_ids["hbsag-positive"]))
    sign_in_and_approve(page, smart_stack, login=False)

    assert page.inner_text(".patient-name") == "Demo HBsAg-Positive"
    assert "Ofatumumab safety summary" in page.title()
    found = alerts(page)
    assert found, "the HBsAg-positive patient has an alert"
    assert found[0]["check"] == "hbv-serology"
    assert found[0]["severity"] == "critical" and found[0]["status"] == "alert"
    assert "hepatitis B" in found[0]["title"]
    ranks = [SEVERITY_RANK[a["severity"]] for a in found]
    assert ranks == sorted(ranks), "critical alerts come first"
    assert page.is_visible("#save-plan")  # full scopes: write-back offered
    assert not page.is_visible("#read-only")

    # Open the alert's evidence: the resources, how they matched, the rule and its source.
    finding = page.locator("#alerts article.finding").first
    evidence = finding.locator("details.evidence")
    assert evidence.get_attribute("open") is None
    evidence.locator("summary").click()
    assert evidence.get_attribute("open") is not None
    rows = evidence.locator(".evidence-table tbody tr")
    assert rows.count() >= 1
    first_row = rows.first.inner_text()
    assert "Observation/" in first_row and "Positive" in first_row
    citation = evidence.locator(".citation")
    assert citation.is_visible()
    assert "Kesimpta" in citation.inner_text()

    assert fits_the_frame(page)
    finding.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "smart-launch-dashboard.png"), full_page=True)
    assert tab.errors == []
    assert tab.dialogs == []


def test_reload_keeps_the_session_and_several_alerts_are_ordered(
    tab: Tab, smart_stack: SmartStack, demo_cohort: DemoCohort
) -> None:
    page = tab.page
    page.goto(smart_stack.launcher_url(demo_cohort.patient_ids["recurrent-infections"]))
    sign_in_and_approve(page, smart_stack, login=False)
    page.reload()
    assert page.url == f"{smart_stack.app}/patient"
    assert page.inner_text(".patient-name") == "Demo Recurrent-Infections"
    found = alerts(page)
    assert {a["check"] for a in found} >= {"ig-low", "infection-active"}
    ranks = [SEVERITY_RANK[a["severity"]] for a in found]
    assert ranks == sorted(ranks)
    assert tab.errors == []


# -- standalone launch from launch.html --------------------------------------------------------


def test_standalone_launch_from_launch_html_with_the_sandbox_patient_picker(
    tab: Tab, smart_stack: SmartStack, demo_cohort: DemoCohort
) -> None:
    page = tab.page
    page.goto(f"{smart_stack.app}/launch.html")
    page.fill("#any-iss", smart_stack.sandbox_fhir)
    page.click("text=Sign in (standalone launch)")
    # No patient in a standalone launch: the sandbox asks for one (its picker page). The
    # patient with the hostile name shows it is text everywhere, in a real browser.
    sign_in_and_approve(
        page, smart_stack, login=True, patient_id=demo_cohort.patient_ids["escaping"]
    )

    assert page.inner_text(".patient-name") == "Demo <script>alert(1)</script>"
    assert "<script>alert(1)</script>" in page.title()
    assert page.evaluate("document.querySelectorAll('main script, main img').length") == 0
    assert tab.dialogs == []
    assert tab.errors == []


# -- inside the EHR's iframe -------------------------------------------------------------------


class _FramePage(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def ehr_frame_page() -> Iterator[Any]:
    """`serve(port, iframe_src) -> URL`: a page on http://localhost:<port> framing a URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(port: int, src: str) -> str:
        html = (
            "<!doctype html><title>Sandbox EHR chart</title><h1>Chart</h1>"
            f'<iframe id="app" src="{src}" width="1000" height="650"></iframe>'
        )
        handler = type("Handler", (_FramePage,), {"body": html.encode()})
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://localhost:{port}/chart"

    try:
        yield serve
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def test_ehr_launch_inside_a_cross_site_ehr_iframe(
    tab: Tab, smart_stack: SmartStack, demo_cohort: DemoCohort, ehr_frame_page: Any
) -> None:
    """The pitfall "session lost inside the EHR iframe": the EHR page is on another site
    (localhost vs 127.0.0.1), so only a SameSite=None; Secure; Partitioned cookie carries
    the session from /launch to /callback to /patient inside the frame."""
    page = tab.page
    launcher = smart_stack.launcher_url(demo_cohort.patient_ids["hbsag-positive"])
    page.goto(ehr_frame_page(smart_stack.ehr_ui_port, launcher))
    frame = page.frame_locator("#app")
    frame.locator("#approve").click()
    name = frame.locator(".patient-name")
    name.wait_for()
    assert name.inner_text() == "Demo HBsAg-Positive"
    assert frame.locator("#alerts article.finding").first.get_attribute("data-check") == (
        "hbv-serology"
    )
    app_frame = next(f for f in page.frames if f.url.startswith(smart_stack.app))
    assert app_frame.url == f"{smart_stack.app}/patient"
    # The browser's view of the session cookie: partitioned under the EHR's site.
    (cookie,) = [c for c in page.context.cookies() if c["domain"] == "127.0.0.1"]
    assert cookie["name"] == "__Host-smartapp"
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "None"
    if "partitionKey" in cookie:  # reported by Playwright >= 1.52
        assert cookie["partitionKey"] == "http://localhost"
    page.screenshot(path=str(ARTIFACTS / "smart-launch-iframe.png"))
    assert tab.errors == []


def test_an_unlisted_site_cannot_frame_the_app(
    tab: Tab, smart_stack: SmartStack, ehr_frame_page: Any
) -> None:
    page = tab.page
    page.goto(ehr_frame_page(free_port(), f"{smart_stack.app}/launch.html"))
    page.wait_for_timeout(1000)
    app_frames = [f for f in page.frames if f.url.startswith(smart_stack.app)]
    assert app_frames == [] or all(f.locator("h1").count() == 0 for f in app_frames)
    assert any("frame-ancestors" in error for error in tab.errors), tab.errors
