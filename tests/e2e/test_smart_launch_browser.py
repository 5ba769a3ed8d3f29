"""The SMART launch end to end in a real headless Chromium (issue 4 "Done means").

Real processes throughout (tests/e2e/stack.py): HAPI with seeded demo patients, the
sandbox EHR (`python -m sandbox_ehr --test-mode`) and the app (`smartapp serve`). The
browser signs in on the sandbox's pages, consents, lands on `/patient`, sees the alerts,
opens a finding's evidence, and a screenshot is saved in tests/e2e/artifacts/. Every page
on the way must be free of console errors, page errors and CSP violations.

Paths covered:
- standalone launch from launch.html's "any allowlisted server" form: the sandbox's login,
  patient picker and consent pages;
- EHR launch: the sandbox EHR's launcher opens the app for a patient (what launch.html's
  "local sandbox EHR" form does; that form is pinned to the demo's port 9090, see
  `test_launch_page_offers_every_way_in`), including a patient named
  `<script>alert(1)</script>`;
- the EHR launch inside an iframe of an EHR page on another site (the partitioned,
  SameSite=None cookie must survive), and `frame-ancestors` refusing an unknown framer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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


def check_alerts_and_open_evidence(page: Any, *, first_check: str) -> Any:
    """Alerts are listed worst first; the first one's evidence opens to its resources,
    how each matched, the rule and its source. Returns the opened finding."""
    found = alerts(page)
    assert found, "this patient has alerts"
    assert found[0]["check"] == first_check and found[0]["status"] == "alert"
    ranks = [SEVERITY_RANK[a["severity"]] for a in found]
    assert ranks == sorted(ranks), "critical alerts come first"

    finding = page.locator("#alerts article.finding").first
    evidence = finding.locator("details.evidence")
    assert evidence.get_attribute("open") is None
    evidence.locator("summary").click()
    assert evidence.get_attribute("open") is not None
    rows = evidence.locator(".evidence-table tbody tr")
    assert rows.count() >= 1
    assert rows.first.is_visible()
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0].startswith(("Observation/", "Condition/", "Immunization/")), cells
    assert all(cell.strip() for cell in cells), cells  # resource, date, value, how matched
    rule = evidence.locator("dl.rule")
    assert rule.is_visible()
    assert first_check in rule.inner_text()
    citation = evidence.locator(".citation")
    assert citation.is_visible() and "Kesimpta" in citation.inner_text()
    return finding


# -- standalone launch from launch.html --------------------------------------------------------


def test_launch_html_standalone_launch_through_the_sandbox_shows_alerts_and_evidence(
    tab: Tab, smart_stack: SmartStack, demo_cohort: DemoCohort
) -> None:
    """Issue 4 "Done means": open launch.html, launch through the sandbox EHR for a seeded
    patient, land on the dashboard, see the alerts, open a finding's evidence, screenshot."""
    page = tab.page
    page.goto(f"{smart_stack.app}/launch.html")
    page.fill("#any-iss", smart_stack.sandbox_fhir)
    page.click("text=Sign in (standalone launch)")
    # A standalone launch has no patient: the sandbox signs the user in, then asks for one
    # on its patient picker, then for consent.
    sign_in_and_approve(
        page, smart_stack, login=True, patient_id=demo_cohort.patient_ids["hbsag-positive"]
    )

    assert page.inner_text(".patient-name") == "Demo HBsAg-Positive"
    assert "Demo HBsAg-Positive" in page.title()
    finding = check_alerts_and_open_evidence(page, first_check="hbv-serology")
    assert alerts(page)[0]["severity"] == "critical"
    assert "hepatitis B" in finding.locator(".finding-title").inner_text()
    assert page.is_visible("#save-plan")  # full scopes: write-back offered
    assert not page.is_visible("#read-only")
    assert fits_the_frame(page)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "smart-launch-dashboard.png"), full_page=True)
    assert tab.errors == []
    assert tab.dialogs == []


# -- EHR launch --------------------------------------------------------------------------------


def ehr_launch(tab: Tab, smart_stack: SmartStack, demo_cohort: DemoCohort, situation: str) -> Any:
    """The sandbox EHR launches the app for that demo patient (the launch names the user:
    no sign-in form) and the user approves; the tab's page shows the dashboard."""
    page = tab.page
    page.goto(smart_stack.launcher_url(demo_cohort.patient_ids[situation]))
    sign_in_and_approve(page, smart_stack, login=False)
    return page


def test_ehr_launch_from_the_sandbox_shows_several_alerts_in_order(
    tab: Tab, smart_stack: SmartStack, demo_cohort: DemoCohort
) -> None:
    # What launch.html's "local sandbox EHR" form and the sandbox's patient list open.
    page = ehr_launch(tab, smart_stack, demo_cohort, "recurrent-infections")

    assert page.inner_text(".patient-name") == "Demo Recurrent-Infections"
    assert {a["check"] for a in alerts(page)} >= {"ig-low", "infection-active"}
    check_alerts_and_open_evidence(page, first_check=alerts(page)[0]["check"])
    assert fits_the_frame(page)
    page.screenshot(path=str(ARTIFACTS / "smart-launch-ehr.png"))

    page.reload()  # the session (cookie) carries the launch context
    assert page.url == f"{smart_stack.app}/patient"
    assert page.inner_text(".patient-name") == "Demo Recurrent-Infections"
    assert tab.errors == []


def test_hostile_patient_name_is_text_in_the_browser(
    tab: Tab, smart_stack: SmartStack, demo_cohort: DemoCohort
) -> None:
    page = ehr_launch(tab, smart_stack, demo_cohort, "escaping")

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
def ehr_frame_page(background_servers: Callable[[Any], Any]) -> Callable[[int, str], str]:
    """`serve(port, iframe_src) -> URL`: a page on http://localhost:<port> framing a URL."""

    def serve(port: int, src: str) -> str:
        html = (
            "<!doctype html><title>Sandbox EHR chart</title><h1>Chart</h1>"
            f'<iframe id="app" src="{src}" width="1000" height="650"></iframe>'
        )
        handler = type("Handler", (_FramePage,), {"body": html.encode()})
        background_servers(ThreadingHTTPServer(("127.0.0.1", port), handler))
        return f"http://localhost:{port}/chart"

    return serve


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
