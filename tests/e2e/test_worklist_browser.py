"""The worklist in a real Chromium at 1024x700, against the real HAPI server (issue 6).

Open the worklist (open-server context), filter to overdue IgG monitoring with the form,
check that the URL now holds the filters and reproduces the view, and open a patient's
dashboard from the row. The app runs in a thread (`live_server`); its worklist is this
test's Group of three demo patients (`SMARTAPP_WORKLIST_GROUP_ONLY`), so other tests'
patients on the shared HAPI server do not slow it down or change it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from smartapp.config import AppConfig
from smartapp.demo.bundles import demo_bundles, demo_system
from smartapp.demo.seed import seed
from smartapp.fhir import FhirClient
from smartapp.web import create_app
from tests.worklist.cohort import group

pytestmark = pytest.mark.e2e

SLUGS = ("ig-monitoring-overdue", "all-ok-maintenance", "dose-overdue")


@dataclass(frozen=True)
class Seeded:
    ids: dict[str, str]
    group_id: str


@pytest.fixture(scope="module")
def seeded(hapi_base: str) -> Seeded:
    system = demo_system(f"wle2e-{uuid.uuid4().hex[:8]}")
    with FhirClient(hapi_base, timeout=120) as client:
        report = seed(client, demo_bundles(date.today(), identifier_system=system, slugs=SLUGS))
        assert report.ok, report.describe()
        found = client.search_all(f"Patient?identifier={system}|&_count=50")
        ids = {
            i["value"]: p["id"]
            for p in found.resources
            for i in p.get("identifier", [])
            if i.get("system") == system
        }
        gid = f"wle2e-{uuid.uuid4().hex[:12]}"
        client.update(f"Group/{gid}", group(gid, [ids[slug] for slug in SLUGS]))
    return Seeded(ids, gid)


@pytest.fixture
def app_base(hapi_base: str, seeded: Seeded, live_server: Any) -> str:
    config = AppConfig(
        issuers=(hapi_base,),
        open_servers=(hapi_base,),
        fhir_base=hapi_base,
        secret_key=uuid.uuid4().hex + uuid.uuid4().hex,
        insecure_cookies=True,
        worklist_group=seeded.group_id,
        worklist_group_only=True,
    )
    return str(live_server(create_app(config)))


def test_filter_to_overdue_igg_and_open_the_patient(
    browser_page: Any, browser_errors: list[str], app_base: str, hapi_base: str, seeded: Seeded
) -> None:
    page = browser_page
    response = page.goto(f"{app_base}/open?iss={hapi_base}")
    assert response is not None and response.ok
    assert urlsplit(page.url).path == "/worklist"
    # The first visit reads the server in the background and shows its progress; the page
    # polls it and shows the list when it is ready (worklist.js).
    rows = page.locator("tr.wl-row")
    rows.first.wait_for(timeout=120_000)
    assert rows.count() == 3
    # Status is shown as an icon and a word.
    first_status = page.locator("tr.wl-row .wl-status").first
    assert first_status.locator("svg").count() == 1
    assert first_status.inner_text().strip() in {"Alert", "Overdue", "Due", "Unknown", "OK"}

    # Filter with the form: overdue + IgG/IgM monitoring.
    page.get_by_label("Check").select_option("ig-monitoring")
    page.locator('input[name="status"][value="overdue"]').check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_load_state()
    query = parse_qs(urlsplit(page.url).query)
    assert query["check"] == ["ig-monitoring"] and query["status"] == ["overdue"]
    assert rows.count() == 1
    assert rows.first.get_attribute("data-patient") == seeded.ids["ig-monitoring-overdue"]
    # Checks by their short names ("IgG/IgM"), not their ids.
    attention = rows.first.locator("td").nth(5).inner_text()
    assert "IgG/IgM" in attention and "ig-monitoring" not in attention

    # The URL reproduces the view in a fresh page of the same session.
    filtered_url = page.url
    page.goto(filtered_url)
    assert rows.count() == 1
    assert page.locator("#permalink").get_attribute("href") == (
        "/worklist?status=overdue&check=ig-monitoring"
    )

    # Keyboard: the patient link is reachable and opens the dashboard.
    link = rows.first.locator("a.wl-open")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/patient")
    assert "Demo Ig-Monitoring-Overdue" in page.content()
    assert browser_errors == []


#: Right edges of the page, the table box and every cell, and whether anything scrolls sideways.
_FIT = """() => {
  const wrap = document.querySelector('.wl-table-wrap');
  const cells = [...document.querySelectorAll('#worklist th, #worklist td')];
  return {
    viewport: window.innerWidth,
    page: document.documentElement.scrollWidth,
    wrapScroll: wrap.scrollWidth, wrapClient: wrap.clientWidth,
    table: document.querySelector('#worklist').getBoundingClientRect().right,
    cells: Math.max(...cells.map(c => c.getBoundingClientRect().right)),
    tasks: document.querySelector('.wl-col-tasks').getBoundingClientRect().right,
  };
}"""


def test_the_table_fits_the_ehr_frame_without_scrolling_sideways(
    browser_page: Any, browser_errors: list[str], app_base: str, hapi_base: str
) -> None:
    page = browser_page
    page.goto(f"{app_base}/open?iss={hapi_base}")
    assert urlsplit(page.url).path == "/worklist"
    page.locator("tr.wl-row").first.wait_for(timeout=120_000)
    for width, height in ((1024, 700), (1400, 900)):
        page.set_viewport_size({"width": width, "height": height})
        fit = page.evaluate(_FIT)
        assert fit["viewport"] == width
        assert fit["page"] <= width, f"the page scrolls sideways at {width}px: {fit}"
        assert fit["wrapScroll"] <= fit["wrapClient"], f"the table scrolls at {width}px: {fit}"
        assert fit["cells"] <= fit["table"] + 0.5 and fit["table"] <= width, fit
        assert fit["tasks"] <= width, f"the open-Tasks column is cut off at {width}px: {fit}"
        page.screenshot(path=f"tests/e2e/artifacts/worklist-{width}.png")
    assert browser_errors == []
