"""The worklist on the real HAPI FHIR server (issue 6 "Done means").

HAPI is shared by the whole test session and other tests seed other patients, so every
assertion is about this run's patients (their identifier system is unique to the run):
the demo cohort (`seeded_demo`, all 27 situations are on ofatumumab) and a few patients of
this module's own (`extras`): on another drug, an order stopped before any dose, a planned
start, a text-only order, a MedicationStatement only, and a Group.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from fhir_mappings.read.record import read_patient_record
from fhir_mappings.search.population import EXPORT_TYPES
from fhir_mappings.site import Mappings
from fhir_mappings.write.writeback import WriteContext
from smartapp.config import AppConfig, LoginSettings
from smartapp.demo import demo_patient_resources
from smartapp.demo.bundles import demo_bundles, demo_system, transaction_bundle
from smartapp.demo.seed import seed
from smartapp.demo.situations import SITUATIONS
from smartapp.fhir import FhirClient
from smartapp.launch.backend import fetch_backend_token
from smartapp.launch.keys import load_app_key
from smartapp.launch.scopes import GrantedScopes
from smartapp.launch.session_store import MemorySessionStore
from smartapp.patient_service import fetch_patient, summarize_fetched
from smartapp.report import summary_json
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings
from smartapp.web import create_app
from smartapp.web.worklist.store import refresher_of
from smartapp.worklist import Worklist, WorklistOptions, build_worklist, read_csv, write_csv
from smartapp.worklist.csvfile import row_values
from smartapp.worklist.pacing import ExportPacer
from smartapp.worklist.tasks import create_tasks
from tests.support.app_key import write_app_key
from tests.support.navigation import TYPED
from tests.support.seeded import SeededCohort, patient_ids_for
from tests.support.servers import free_port, sandbox_server
from tests.worklist.cohort import (
    group,
    other_drug_patient,
    planned_patient,
    statement_patient,
    stopped_order_patient,
    text_only_patient,
)

pytestmark = pytest.mark.integration

SETTINGS = RuleSettings()
ON_OFATUMUMAB_EXTRAS = ("planned-start", "text-only", "self-reported")
#: Therapy recorded at home: dispense-only, statement-only, discontinued (smartapp/demo/
#: home_situations.py). The worklist must read them as the patient view does.
HOME_SLUGS = tuple(
    slug
    for slug in SITUATIONS
    if slug.startswith(("home-", "stopped-", "completed-", "duplicate-"))
)
NOT_ON_OFATUMUMAB = ("not-on-kesimpta", "stopped-before-start")
GROUP_SLUGS = ("ig-monitoring-overdue", "dose-overdue", "all-ok-maintenance")
ARTIFACTS = Path(__file__).resolve().parents[1] / "e2e" / "artifacts"


@dataclass(frozen=True)
class Extras:
    system: str
    #: identifier value (slug or extra id) -> server Patient id
    ids: dict[str, str]
    group_id: str


@pytest.fixture(scope="module")
def extras(hapi_base: str) -> Extras:
    """This module's own patients: special cases, three demo situations and a Group."""
    system = demo_system(f"wl-{uuid.uuid4().hex[:8]}")
    anchor = date.today()
    resources = (
        other_drug_patient()
        + stopped_order_patient()
        + planned_patient()
        + text_only_patient()
        + statement_patient()
    )
    with FhirClient(hapi_base, timeout=120) as client:
        report = seed(client, demo_bundles(anchor, identifier_system=system, slugs=GROUP_SLUGS))
        assert report.ok, report.describe()
        client.transaction(transaction_bundle(resources, system))
        ids = patient_ids_for(client, system)
        gid = f"wl-{uuid.uuid4().hex[:12]}"
        members = [ids[slug] for slug in GROUP_SLUGS]
        client.update(f"Group/{gid}", group(gid, members))
    return Extras(system, ids, gid)


def worklist(base: str, mappings: Mappings, **options: Any) -> Worklist:
    export = options.get("export", False)
    sleep = ExportPacer(poll_s=2.0) if export else None
    kwargs: dict[str, Any] = {"timeout": 300}
    if sleep is not None:
        kwargs["sleep"] = sleep
    with FhirClient(base, **kwargs) as client:
        return build_worklist(
            client,
            mappings=mappings,
            settings=SETTINGS,
            as_of=date.today(),
            options=WorklistOptions(max_wait_s=math.inf, poll_interval_s=2.0, **options),
        )


@pytest.fixture(scope="module")
def searched(hapi_base: str, mappings: Mappings, seeded_demo: SeededCohort, extras: Extras):
    return worklist(hapi_base, mappings)


def mine(wl: Worklist, ids: set[str]) -> dict[str, Any]:
    return {row.patient_id: row for row in wl.rows if row.patient_id in ids}


def test_the_worklist_lists_exactly_the_patients_on_ofatumumab(
    searched: Worklist, seeded_demo: SeededCohort, extras: Extras
) -> None:
    demo = set(seeded_demo.patient_ids.values())
    assert len(demo) == len(SITUATIONS)
    ours = demo | set(extras.ids.values())
    listed = set(mine(searched, ours))
    expected = demo | {extras.ids[key] for key in (*ON_OFATUMUMAB_EXTRAS, *GROUP_SLUGS)}
    slugs = {pid: slug for slug, pid in {**extras.ids, **seeded_demo.patient_ids}.items()}
    assert listed == expected, {
        "missing": sorted(slugs[pid] for pid in expected - listed),
        "extra": sorted(slugs[pid] for pid in listed - expected),
    }
    for key in NOT_ON_OFATUMUMAB:
        assert extras.ids[key] not in listed
    # The stopped order is found by the code search, then dropped on its own data.
    assert extras.ids["stopped-before-start"] in searched.population.candidates
    assert extras.ids["not-on-kesimpta"] not in searched.population.candidates
    assert searched.complete, searched.problems


def test_overdue_items_are_the_ones_the_demo_situations_promise(
    searched: Worklist, seeded_demo: SeededCohort
) -> None:
    rows = mine(searched, set(seeded_demo.patient_ids.values()))
    checked = 0
    for slug, situation in SITUATIONS.items():
        row = rows[seeded_demo.patient_ids[slug]]
        overdue = {item.check for item in row.overdue}
        attention = {item.check for item in row.findings()}
        for check, status in situation.expect.items():
            if status == "overdue":
                assert check in overdue, (slug, check)
                checked += 1
            elif status in ("ok", "not_applicable"):
                assert check not in attention, (slug, check)
        if situation.phase:
            assert row.phase == situation.phase, slug
    assert checked >= 5
    ig = rows[seeded_demo.patient_ids["ig-monitoring-overdue"]]
    assert "ig-monitoring" in {item.check for item in ig.overdue}


def test_rows_equal_the_single_patient_view(
    hapi_base: str, searched: Worklist, seeded_demo: SeededCohort, mappings: Mappings
) -> None:
    rows = mine(searched, set(seeded_demo.patient_ids.values()))
    with FhirClient(hapi_base) as client:
        for slug in ("messy-data", "hbsag-positive", "interrupted", "escaping", *HOME_SLUGS):
            pid = seeded_demo.patient_ids[slug]
            fetched = fetch_patient(client, pid, mappings)
            _, summary = summarize_fetched(fetched, pid, date.today(), mappings, SETTINGS)
            assert summary_json(rows[pid].summary) == summary_json(summary), slug


def test_requests_stay_few(searched: Worklist) -> None:
    patients = len(searched.population.candidates)
    posts = sum(1 for e in searched.request_log if e.method == "POST")
    # Three population batches, then the bulk reads in two waves (the quick searches'
    # patients while the per-dose search runs, then the ones only it found): at most one
    # partial chunk per wave.
    assert posts <= 3 + math.ceil(patients / 50) + 1
    assert searched.requests < patients  # never one request (let alone a set) per patient


def test_csv_round_trips(searched: Worklist, seeded_demo: SeededCohort) -> None:
    rows = list(mine(searched, set(seeded_demo.patient_ids.values())).values())
    text = write_csv(rows)
    assert read_csv(text) == [row_values(row) for row in rows]
    escaping = next(r for r in read_csv(text) if r["name"].startswith("Demo <script>"))
    assert escaping["name"] == "Demo <script>alert(1)</script>"


def test_export_gives_the_same_rows_as_the_search(
    hapi_base: str,
    mappings: Mappings,
    searched: Worklist,
    seeded_demo: SeededCohort,
    extras: Extras,
) -> None:
    exported = worklist(hapi_base, mappings, export=True)
    assert exported.source == "export" and not exported.problems
    ours = set(seeded_demo.patient_ids.values()) | set(extras.ids.values())
    by_search, by_export = mine(searched, ours), mine(exported, ours)
    assert set(by_export) == set(by_search)
    for pid, row in by_search.items():
        assert summary_json(by_export[pid].summary) == summary_json(row.summary)


def test_group_only_worklist_and_bulk_task_creation(
    hapi_base: str, mappings: Mappings, extras: Extras
) -> None:
    members = {extras.ids[slug] for slug in GROUP_SLUGS}
    wl = worklist(hapi_base, mappings, group=extras.group_id, group_only=True)
    assert {row.patient_id for row in wl.rows} == members
    assert all(row.membership[0] == "worklist Group" for row in wl.rows)
    ctx = WriteContext(now=datetime.now(UTC), fhir_base=hapi_base)
    with FhirClient(hapi_base, timeout=120) as client:
        first = create_tasks(
            client, sorted(members), ctx, mappings=mappings, settings=SETTINGS, as_of=date.today()
        )
        second = create_tasks(
            client, sorted(members), ctx, mappings=mappings, settings=SETTINGS, as_of=date.today()
        )
    assert all(result.ok for result in first + second), [r.message for r in first + second]
    overdue_ig = next(r for r in first if r.patient_id == extras.ids["ig-monitoring-overdue"])
    assert overdue_ig.created >= 1
    assert sum(r.created for r in second) == 0
    assert sum(r.already_existed for r in second) == sum(r.created for r in first)
    after = worklist(hapi_base, mappings, group=extras.group_id, group_only=True)
    ig_row = next(r for r in after.rows if r.patient_id == extras.ids["ig-monitoring-overdue"])
    assert "ig-monitoring" in {task.check for task in ig_row.open_tasks}


# -- the web app: URL filters and CSV ---------------------------------------------------------


@pytest.fixture(scope="module")
def web(hapi_base: str) -> Any:
    config = AppConfig(
        issuers=(hapi_base,),
        open_servers=(hapi_base,),
        secret_key=uuid.uuid4().hex + uuid.uuid4().hex,
        insecure_cookies=True,
    )
    return create_app(config, store=MemorySessionStore())


def open_browser(web: Any, hapi_base: str) -> Any:
    browser = web.test_client()
    assert browser.get(f"/open?iss={hapi_base}", headers=TYPED).status_code == 302
    return browser


def stored(web: Any, browser: Any, url: str) -> Any:
    """Open `url`; the first view of the worklist reads the server in the background."""
    browser.get(url)
    refresher_of(web).wait(600)
    return browser.get(url)


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr class="wl-row[^"]*" data-patient="([^"]+)"', html)


def test_home_therapy_dashboard_shows_what_the_file_shows(
    web: Any, hapi_base: str, seeded_demo: SeededCohort, mappings: Mappings
) -> None:
    """The dashboard over HAPI gives the home-therapy patients the phase, next dose and
    wording the rules give the same patient read from a file."""
    for slug in HOME_SLUGS:
        local = evaluate(
            read_patient_record(
                demo_patient_resources(seeded_demo.anchor, slug), mappings=mappings
            ),
            seeded_demo.anchor,
            SETTINGS,
        )
        browser = open_browser(web, hapi_base)
        pid = seeded_demo.patient_ids[slug]
        assert browser.get(f"/open?iss={hapi_base}&patient={pid}", headers=TYPED).status_code == 302
        html = browser.get("/patient").get_data(as_text=True)
        timeline = html[html.index('id="timeline"') : html.index('id="labs"')]
        assert f"<dd>{local.schedule.doses}</dd>" in timeline, slug
        if local.schedule.next_due is not None:
            assert f'datetime="{local.schedule.next_due.isoformat()}"' in timeline, slug
        if local.schedule.next_due_basis is not None and local.schedule.pens_in_hand:
            assert "pen in hand, not yet due" in timeline, slug
        phase_words = {
            "maintenance": "Maintenance",
            "loading": "Loading",
            "discontinued": "Discontinued",
        }[local.phase.value]
        assert f"<dd>{phase_words}" in timeline, slug


def test_url_filters_reproduce_the_view(
    web: Any, hapi_base: str, seeded_demo: SeededCohort
) -> None:
    # This run's patients among everyone's on the shared server: one page is enough.
    url = "/worklist?status=overdue&check=ig-monitoring&q=Demo&sort=name&size=200"
    first = stored(web, open_browser(web, hapi_base), url)
    assert first.status_code == 200
    shown = row_ids(first.get_data(as_text=True))
    assert seeded_demo.patient_ids["ig-monitoring-overdue"] in shown
    assert seeded_demo.patient_ids["all-ok-maintenance"] not in shown
    again = open_browser(web, hapi_base).get(url)  # someone else opens the link
    assert row_ids(again.get_data(as_text=True)) == shown
    csv_text = open_browser(web, hapi_base).get(url.replace("/worklist?", "/worklist.csv?"))
    assert [r["patient_id"] for r in read_csv(csv_text.get_data(as_text=True))] == shown


# -- SMART Backend Services against the real sandbox EHR --------------------------------------


@dataclass(frozen=True)
class Sandbox:
    base: str
    key_path: str


@pytest.fixture(scope="module")
def sandbox(hapi_base: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    folder = tmp_path_factory.mktemp("backend")
    key_path, jwks_path = write_app_key(folder)
    port = free_port()
    with sandbox_server(
        port,
        hapi_base,
        ARTIFACTS / "worklist-sandbox.log",
        "--client-jwks",
        str(jwks_path),
        # The sign-in (the app's own login) runs through the sandbox as the identity
        # provider, as the coordinator, without its login and consent pages.
        "--login-redirect-uri",
        "http://localhost/login/callback",
        "--auto-login",
        "sandbox-coordinator",
        "--auto-approve",
    ) as base:
        yield Sandbox(base, str(key_path))


def backend_config(sandbox: Sandbox) -> AppConfig:
    fhir = f"{sandbox.base}/fhir"
    return AppConfig(
        issuers=(fhir,),
        backend_iss=fhir,
        private_key_path=sandbox.key_path,
        backend_client_id="smartapp-backend",
        secret_key=uuid.uuid4().hex + uuid.uuid4().hex,
        insecure_cookies=True,
        login=LoginSettings(
            issuer=sandbox.base,
            client_id="smartapp-login",
            client_secret="sandbox-login-secret",
            allowed_groups=frozenset({"ms-coordinators"}),
        ),
    )


def test_backend_services_token_then_a_replayed_assertion_is_refused(
    sandbox: Sandbox,
    mappings: Mappings,
    seeded_demo: SeededCohort,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = backend_config(sandbox)
    key = load_app_key(sandbox.key_path)
    sent: list[requests.PreparedRequest] = []
    real_send = requests.Session.send

    def recording_send(self: requests.Session, request: Any, **kwargs: Any) -> Any:
        if request.method == "POST" and str(request.url).endswith("/token"):
            sent.append(request)
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", recording_send)
    token = fetch_backend_token(config, key, iss=config.backend_iss)
    monkeypatch.undo()
    assert token["token_type"].lower() == "bearer"
    assert int(token.get("expires_in", 300)) <= 300 and "refresh_token" not in token
    granted = GrantedScopes.parse(token["scope"])
    assert granted.levels == {"system"} and granted.can_read("Observation")

    # The token reads the worklist through the sandbox's FHIR proxy.
    with FhirClient(str(config.backend_iss), token=token["access_token"], timeout=300) as client:
        readable = frozenset(t for t in (*EXPORT_TYPES, "Group") if granted.can_read(t))
        wl = build_worklist(
            client,
            mappings=mappings,
            settings=SETTINGS,
            as_of=date.today(),
            options=WorklistOptions(readable=readable),
        )
    demo = set(seeded_demo.patient_ids.values())
    assert set(mine(wl, demo)) == demo

    # The same signed assertion, posted again, is refused (its jti was used).
    (original,) = sent
    replay = requests.post(
        str(original.url),
        data=original.body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert replay.status_code in (400, 401)
    body = replay.json()
    assert body["error"] == "invalid_client"
    assert "jti" in body.get("error_description", "")


def test_web_worklist_in_backend_services_mode(sandbox: Sandbox, seeded_demo: SeededCohort) -> None:
    app = create_app(backend_config(sandbox), store=MemorySessionStore())
    browser = app.test_client()
    # Not signed in: the worklist sends the browser to the app's sign-in, which sends it to
    # the identity provider (the sandbox), which answers the app's /login/callback.
    assert browser.get("/worklist").headers["Location"] == "/login"
    authorize = browser.get("/login").headers["Location"]
    assert authorize.startswith(f"{sandbox.base}/auth/authorize?")
    answer = requests.get(authorize, allow_redirects=False, timeout=30)
    callback = answer.headers["Location"]
    assert callback.startswith("http://localhost/login/callback?"), callback
    signed_in = browser.get(callback.removeprefix("http://localhost"))
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/worklist"
    response = stored(app, browser, "/worklist?status=overdue&check=ig-monitoring&q=Demo&size=200")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    html = response.get_data(as_text=True)
    assert seeded_demo.patient_ids["ig-monitoring-overdue"] in row_ids(html)
    assert "backend access" in html
    assert "Signed in as Casey Coord, RN (care coordinator) (sandbox-coordinator)" in html
    opened = browser.get(
        f"/worklist/open/{seeded_demo.patient_ids['ig-monitoring-overdue']}",
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert opened.status_code == 303 and opened.headers["Location"] == "/patient"
    page = browser.get("/patient")
    assert page.status_code == 200
    assert "Demo Ig-Monitoring-Overdue" in page.get_data(as_text=True)
