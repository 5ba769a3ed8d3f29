"""The rendered dashboard in a real Chromium at 1024x700 (SPEC §4 "Web", §5 CSP).

The app runs in a thread (werkzeug) against a tiny in-process fake FHIR server (an
http.server thread answering the batch read from demo data). Real HAPI and the sandbox EHR
are the integration test's job.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from smartapp.web import create_app
from tests.e2e.conftest import ARTIFACTS
from tests.launch.launch_fakes import make_config
from tests.support.fake_fhir import FakeFhir
from tests.support.pages import demo

pytestmark = pytest.mark.e2e

SLUG = "hbsag-positive"
LAUNCH_HTML = Path(__file__).resolve().parents[2] / "launch.html"


@pytest.fixture
def fake_fhir_base() -> Iterator[str]:
    fake = FakeFhir(
        demo(SLUG)
        + demo("escaping")
        + demo("hbsag-pending")
        + demo("igm-below-bound")
        + demo("home-early-refill")
        + demo("home-statement-live-vaccine")
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            batch = json.loads(self.rfile.read(length) or b"{}")
            body = json.dumps(fake.respond(batch)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/fhir"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app_base(fake_fhir_base: str, live_server: Any) -> str:
    config = replace(
        make_config(),
        issuers=(fake_fhir_base,),
        open_servers=(fake_fhir_base,),
        fhir_base=fake_fhir_base,
        insecure_cookies=True,
    )
    return str(live_server(create_app(config)))


def shot_fits_and_clean(page: Any, browser_errors: list[str], shot: str) -> None:
    """A screenshot for the artifacts; no sideways scrolling at 1024 px; no browser error."""
    page.screenshot(path=str(ARTIFACTS / shot))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    assert browser_errors == []


def open_dashboard(page: Any, app_base: str, fhir_base: str, patient: str) -> Any:
    response = page.goto(f"{app_base}/open?iss={fhir_base}&patient={patient}")
    assert response is not None and response.ok, response and response.status
    assert page.url.endswith("/patient")
    return response


def test_dashboard_loads_clean_fits_the_frame_and_works_by_keyboard(
    browser_page: Any, browser_errors: list[str], app_base: str, fake_fhir_base: str
) -> None:
    page = browser_page
    open_dashboard(page, app_base, fake_fhir_base, SLUG)
    page.wait_for_load_state("load")

    assert page.locator("#alerts .finding").count() >= 1
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 1024, f"horizontal scrolling: scrollWidth {scroll_width}"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"))

    # Keyboard only: Tab until the first finding's "Evidence and rule" summary has focus.
    first_summary = page.locator("#alerts .finding details.evidence > summary").first
    for _ in range(40):
        page.keyboard.press("Tab")
        if first_summary.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the first finding's evidence summary")
    details = page.locator("#alerts .finding details.evidence").first
    assert details.evaluate("el => el.open") is False
    page.keyboard.press("Enter")
    assert details.evaluate("el => el.open") is True
    assert details.locator("table.evidence-table").is_visible()
    assert details.locator(".citation").is_visible()
    # Still no horizontal scrolling with the evidence table open.
    shot_fits_and_clean(page, browser_errors, "dashboard-evidence-open.png")


def test_hostile_patient_name_renders_as_text_in_the_browser(
    browser_page: Any, browser_errors: list[str], app_base: str, fake_fhir_base: str
) -> None:
    page = browser_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_dashboard(page, app_base, fake_fhir_base, "escaping")
    name = page.locator(".patient-name").inner_text()
    assert "<script>alert(1)</script>" in name
    assert dialogs == []
    assert page.evaluate("document.scripts.length") == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    assert browser_errors == []


def test_launch_page_works_served_and_as_a_file(
    browser_page: Any, browser_errors: list[str], app_base: str
) -> None:
    page = browser_page
    response = page.goto(f"{app_base}/launch.html")
    assert response is not None and response.ok
    assert page.locator("form").count() == 4
    assert page.locator("form").nth(1).get_attribute("action") == f"{app_base}/open"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "launch.png"), full_page=True)

    page.goto(LAUNCH_HTML.as_uri())
    assert page.locator("form").nth(1).get_attribute("action") == "http://127.0.0.1:8000/open"
    # The stylesheets load from the repository (the skip link is hidden by app.css).
    assert page.locator(".skip-link").bounding_box()["x"] < 0
    assert browser_errors == []


def test_pending_results_are_shown_as_pending_never_as_values(
    browser_page: Any, browser_errors: list[str], app_base: str, fake_fhir_base: str
) -> None:
    page = browser_page
    open_dashboard(page, app_base, fake_fhir_base, "hbsag-pending")
    row = page.locator(".hbv-table tbody tr", has_text="Pending: not used")
    assert row.count() == 1 and row.first.is_visible()
    assert "HBsAg" in row.first.inner_text()
    card = page.locator("#finding-hbv-serology")
    assert "Unknown" in card.inner_text() and "pending since" in card.inner_text()
    assert page.locator("#alerts #finding-hbv-serology").count() == 0  # never an alert
    shot_fits_and_clean(page, browser_errors, "dashboard-pending.png")


def test_a_bound_is_shown_as_written_and_drawn_as_a_bound(
    browser_page: Any, browser_errors: list[str], app_base: str, fake_fhir_base: str
) -> None:
    page = browser_page
    open_dashboard(page, app_base, fake_fhir_base, "igm-below-bound")
    bound = page.locator('#trend-igm svg [data-bound="below"]')
    assert bound.count() == 1 and bound.first.is_visible()
    assert "known only as a bound" in bound.first.locator("title").text_content()
    trend = page.locator("#trend-igm")
    trend.locator("details.table-details > summary").click()
    assert trend.locator("tr.lab-bound td.num", has_text="<50").first.is_visible()
    card = page.locator("#finding-ig-low")
    assert "<50 mg/dL" in card.inner_text() and "Unknown" in card.inner_text()
    shot_fits_and_clean(page, browser_errors, "dashboard-bound.png")


def test_home_therapy_is_drawn_by_shape_and_word_in_the_browser(
    browser_page: Any, browser_errors: list[str], app_base: str, fake_fhir_base: str
) -> None:
    """Dispensed pens, the pen in hand and the dispense span each have their own shape and
    legend word (not colour alone), all visible at 1024 px; a statement is a span."""
    page = browser_page
    open_dashboard(page, app_base, fake_fhir_base, "home-early-refill")
    chart = page.locator("#timeline svg.chart-timeline")
    pens, in_hand = chart.locator("rect.pen"), chart.locator("rect.pen-in-hand")
    assert pens.count() >= 3 and in_hand.count() == 1
    assert all(pens.nth(i).is_visible() for i in range(pens.count()))
    assert in_hand.first.is_visible() and chart.locator(".span-dispense").first.is_visible()
    assert chart.locator("circle.dose").count() == 0  # no injection was charted
    style = "(e, p) => getComputedStyle(e)[p]"
    # A pen in hand is hollow and dashed, a presumed-injected pen is filled: the difference
    # survives greyscale.
    assert in_hand.first.evaluate(style, "strokeDasharray") not in ("", "none")
    assert pens.first.evaluate(style, "strokeDasharray") in ("", "none")
    assert in_hand.first.evaluate(style, "fill") != pens.first.evaluate(style, "fill")
    legend = page.locator("#timeline .legend").inner_text()
    for words in ("dispensed pen, presumed injected", "pen in hand, not yet due"):
        assert words in legend, words
    source = page.locator("#timeline td", has_text="dispensed pen, presumed injected")
    assert source.count() >= 3
    page.screenshot(path=str(ARTIFACTS / "dashboard-home-therapy.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    open_dashboard(page, app_base, fake_fhir_base, "home-statement-live-vaccine")
    statement = page.locator("#timeline svg.chart-timeline rect.span-statement")
    assert statement.count() == 1 and statement.first.is_visible()
    assert "patient statement" in statement.first.locator("title").text_content().lower()
    assert (
        "doses taken at home are not recorded"
        in page.locator("#finding-dose-schedule").inner_text().lower()
    )
    assert browser_errors == []
