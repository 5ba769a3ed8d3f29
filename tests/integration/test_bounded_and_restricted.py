"""Bounded FHIR reads and restricted SMART grants, end to end.

Bounded reads: the app under gunicorn (`smartapp serve`) and the CLI as a
child process, in front of the real HAPI server through a proxy on 127.0.0.1 whose next
pages of the Observation searches drip, are huge, a gzip bomb or nested 100,000 levels
deep (tests/support/fault_proxy.py `hostile_pages`).

What a user sees: the page (and the CLI's JSON) arrives within SMARTAPP_FHIR_DEADLINE,
says which data are incomplete and why in plain words, the checks that needed those data
say unknown and the others still decide; /healthz answers while every request slot waits
on the dripping server, and one request more is told "busy" at once. Attack inputs here:
5 answer shapes x (dashboard + API + CLI) and one slot-exhaustion run, all bounded in time
(SMARTAPP_FHIR_DEADLINE=3 s; the proxy stops dripping after 60 s in any case).

Restricted grants: the real sandbox EHR grants finer-grained SMART v2 scopes than the app
asked for (`grant_scopes_filter.restrict`) and its FHIR proxy enforces them. A filtered
Observation grant leaves the lab checks unknown with the reason on the page; a filtered
Task write grant gives a read-only dashboard that names the grant, and the plan page
refuses with the same words while nothing is written.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e import stack as smart
from tests.e2e.stack import DemoCohort, SmartStack
from tests.integration.stack import AUTO, ehr_launch, sandbox_requests
from tests.support.cli import run_cli
from tests.support.fault_proxy import FaultProxy
from tests.support.hostile_fhir import Hostility
from tests.support.loopback import LoopbackSession
from tests.support.navigation import TYPED
from tests.support.seeded import SeededCohort
from tests.support.servers import free_port, python_server

pytestmark = pytest.mark.integration

# The shared SMART stack (tests/e2e/stack.py): started once per session.
smart_stack = smart.smart_stack
demo_cohort = smart.demo_cohort
sandbox_settings = smart.sandbox_settings

DEADLINE_S = 3
MAX_BYTES = 2 * 1024 * 1024
SLUG = "all-ok-maintenance"
#: The checks that read Observations (cut short) and some that do not (read in full).
NEEDS_LABS = ("hbv-serology", "ig-monitoring", "ig-low")
NO_LABS = ("dose-schedule", "vaccine-before-start", "vaccine-live-on-therapy")
#: What the page and the CLI say about each answer shape (the user's clue to the cause).
CAUSE = {
    "drip": "SMARTAPP_FHIR_DEADLINE",
    "huge": "SMARTAPP_FHIR_MAX_BYTES",
    "huge_declared": "SMARTAPP_FHIR_MAX_BYTES",
    "gzip_bomb": "SMARTAPP_FHIR_MAX_BYTES",
    "deep": "nested more than 100 levels",
}
#: Generous bound on any one page or command: the deadline, the batch before it, start-up.
NEVER_LONGER_S = 45


def _how(mode: str) -> Hostility:
    return Hostility(mode=mode, drip_interval_s=0.5, huge_bytes=64 * 1024 * 1024)


@dataclass
class App:
    url: str
    proxy: FaultProxy
    patient_id: str

    def browser(self) -> LoopbackSession:
        """A browser session with the patient open on the (proxied) open server."""
        session = LoopbackSession()
        opened = session.get(
            f"{self.url}/open",
            params={"iss": self.proxy.base, "patient": self.patient_id},
            headers=TYPED,
            allow_redirects=False,
            timeout=10,
        )
        assert opened.status_code == 302, opened.text[:300]
        return session


@pytest.fixture(scope="module")
def app(seeded_demo: SeededCohort, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    scratch = tmp_path_factory.mktemp("hostile-app")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with FaultProxy(seeded_demo.base) as proxy:
        env = {
            "SMARTAPP_SECRET_KEY": secrets.token_urlsafe(32),
            "SMARTAPP_ISSUERS": proxy.base,
            "SMARTAPP_OPEN_SERVERS": proxy.base,
            "SMARTAPP_PUBLIC_URL": url,
            "SMARTAPP_FHIR_DEADLINE": str(DEADLINE_S),
            "SMARTAPP_FHIR_MAX_BYTES": str(MAX_BYTES),
            "SMARTAPP_WORKERS": "1",
            "SMARTAPP_THREADS": "3",  # two request slots, one thread kept for /healthz
            "SMARTAPP_DATABASE_URL": f"sqlite:///{scratch}/app.db",
            "SMARTAPP_FHIR_BASE": "",
            "SMARTAPP_TENANTS": "",
            "SMARTAPP_TOKEN_KEY": "",
            "SMARTAPP_CDS_CLIENTS": "",
            "SMARTAPP_LOGIN_ISSUER": "",
        }
        log = scratch / "app.log"
        with python_server(
            ["-m", "smartapp.cli", "serve", "--port", str(port)],
            "/healthz",
            log,
            port=port,
            env=env,
        ):
            yield App(url, proxy, seeded_demo.patient_ids[SLUG])


@pytest.fixture
def hostile(app: App) -> Iterator[FaultProxy]:
    app.proxy.hostile_prefixes = ["Observation?"]
    yield app.proxy
    app.proxy.hostile_prefixes = []
    app.proxy.hostility = Hostility()


def _statuses(findings: list[dict[str, str]]) -> dict[str, str]:
    return {finding["check"]: finding["status"] for finding in findings}


@pytest.mark.parametrize("mode", list(CAUSE))
def test_the_dashboard_and_api_say_incomplete_and_why(
    app: App, hostile: FaultProxy, mode: str
) -> None:
    hostile.hostility = _how(mode)
    browser = app.browser()
    page = browser.get(f"{app.url}/patient", timeout=NEVER_LONGER_S)
    html = page.text
    assert page.status_code == 200
    assert 'id="data-incomplete"' in html and "labs" in html
    assert CAUSE[mode] in html
    assert "Traceback" not in html
    api = browser.get(f"{app.url}/api/patient/{app.patient_id}", timeout=NEVER_LONGER_S)
    body = api.json()
    assert "labs" in body["data"]["incomplete"]
    assert any(CAUSE[mode] in problem for problem in body["data"]["problems"])
    statuses = _statuses(body["findings"])
    for check in NEEDS_LABS:
        assert statuses[check] == "unknown", (check, statuses[check])
    for check in NO_LABS:
        assert statuses[check] == "ok", (check, statuses[check])
    assert hostile.hostile_page_requests() >= 2


@pytest.mark.parametrize("mode", list(CAUSE))
def test_the_cli_reports_incomplete_data_and_exits(
    app: App, hostile: FaultProxy, mode: str, tmp_path: Path
) -> None:
    hostile.hostility = _how(mode)
    env = {
        "SMARTAPP_FHIR_DEADLINE": str(DEADLINE_S),
        "SMARTAPP_FHIR_MAX_BYTES": str(MAX_BYTES),
        "SMARTAPP_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
    }
    argv = ["check", "--fhir-base", hostile.base, "--patient", app.patient_id]
    done = run_cli(*argv, "--format", "json", env=env, timeout=NEVER_LONGER_S)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert "labs" in report["data"]["incomplete"]
    assert any(CAUSE[mode] in problem for problem in report["data"]["problems"])
    statuses = _statuses(report["findings"])
    assert all(statuses[check] == "unknown" for check in NEEDS_LABS), statuses
    assert all(statuses[check] == "ok" for check in NO_LABS), statuses


def test_healthz_answers_while_every_slot_waits_on_a_dripping_server(
    app: App, hostile: FaultProxy
) -> None:
    hostile.hostility = _how("drip")
    browsers = [app.browser() for _ in range(3)]
    before = hostile.hostile_page_requests()
    results: list[requests.Response] = []

    def view(browser: LoopbackSession) -> None:
        results.append(browser.get(f"{app.url}/patient", timeout=NEVER_LONGER_S))

    waiting = [threading.Thread(target=view, args=(b,)) for b in browsers[:2]]
    for thread in waiting:
        thread.start()
    try:
        # Both slots are taken once both views wait on their dripping page.
        for _ in range(100):
            if hostile.hostile_page_requests() - before >= 2:
                break
            threading.Event().wait(0.05)
        assert hostile.hostile_page_requests() - before >= 2
        # The kept thread answers /healthz now, not after the drip (a 1 s client timeout
        # would fail long before the 3 s deadline frees a slot).
        health = requests.get(f"{app.url}/healthz", timeout=1)
        assert health.status_code == 200
        busy = browsers[2].get(f"{app.url}/patient", timeout=1)
        assert busy.status_code == 503
        assert busy.headers.get("Retry-After") == "5"
        assert "busy" in busy.text and "Nothing was changed" in busy.text
    finally:
        for thread in waiting:
            thread.join(NEVER_LONGER_S)
    assert [r.status_code for r in results] == [200, 200]
    assert all('id="data-incomplete"' in r.text for r in results)


# -- restricted (finer-grained) grants through the real sandbox EHR ---------------------------

LAB_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
TASK_CODE = "http://example.org/task-code|chart-review"
#: A stack patient whose HBsAg is positive: hidden by the grant, hbv-serology must not say ok.
STACK_SLUG = "hbsag-positive"


def _restricted_launch(
    smart_stack: SmartStack,
    demo_cohort: DemoCohort,
    sandbox_settings: Any,
    restrict: dict[str, str],
) -> tuple[LoopbackSession, str, str]:
    sandbox_settings(**AUTO, grant_scopes_filter={"restrict": restrict})
    session = LoopbackSession()
    patient_id = demo_cohort.patient_ids[STACK_SLUG]
    launch = ehr_launch(smart_stack, session, patient_id)
    assert launch.response.status_code == 200, launch.html[:500]
    return session, patient_id, launch.html


def test_a_lab_only_observation_grant_leaves_the_other_checks_unknown(
    smart_stack: SmartStack, demo_cohort: DemoCohort, sandbox_settings: Any
) -> None:
    session, patient_id, html = _restricted_launch(
        smart_stack,
        demo_cohort,
        sandbox_settings,
        {"patient/Observation.rs": f"category={LAB_CATEGORY}"},
    )
    assert 'id="data-incomplete"' in html
    # The sandbox enforces the grant: the app's lab search (no category) is refused, and
    # the page says so in words (the app-side "only part" note is for searches it allows).
    assert "labs search failed: not permitted by the granted scopes" in html
    body = session.get(f"{smart_stack.app}/api/patient/{patient_id}", timeout=60).json()
    statuses = _statuses(body["findings"])
    # In full: hbv-serology alert (HBsAg positive), hbv-screening and ig-low ok. Without
    # the labs none may say ok; a call to action (screening due) stays, marked incomplete.
    assert statuses["hbv-serology"] == "unknown"
    assert statuses["ig-low"] == "unknown"
    assert statuses["hbv-screening"] == "due"
    screening = next(f for f in body["findings"] if f["check"] == "hbv-screening")
    assert "Data may be incomplete (labs)" in screening["detail"]
    for check in ("vaccine-before-start", "hypersensitivity", "infection-active"):
        assert statuses[check] == "ok", (check, statuses[check])


def test_a_filtered_task_write_grant_is_read_only_and_writes_nothing(
    smart_stack: SmartStack, demo_cohort: DemoCohort, sandbox_settings: Any
) -> None:
    session, _, html = _restricted_launch(
        smart_stack, demo_cohort, sandbox_settings, {"patient/Task.cu": f"code={TASK_CODE}"}
    )
    assert 'id="read-only"' in html and 'id="filtered-write"' in html
    assert f"patient/Task.cu?code={TASK_CODE}" in html
    assert 'id="save-plan"' not in html and 'method="post"' not in html.lower()
    time.sleep(0.2)  # let the sandbox flush its access log
    posts_before = _fhir_posts(smart_stack)
    plan = session.get(f"{smart_stack.app}/patient/plan", timeout=60)
    assert plan.status_code == 403
    assert "granted write access only to some" in plan.text and "Nothing was written" in plan.text
    time.sleep(0.2)
    assert _fhir_posts(smart_stack) == posts_before, "nothing reached the FHIR server"


def _fhir_posts(smart_stack: SmartStack) -> int:
    return sum(1 for line in sandbox_requests(smart_stack) if line.startswith("POST /fhir"))
