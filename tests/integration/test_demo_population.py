"""The demo's population mode, with exactly the commands `scripts/demo` runs
(`python -m smartapp.demo.servers sandbox|app`), on free ports, in front of the test HAPI.

A browser without a session that opens the worklist is sent to the app's sign-in, whose
identity provider is the sandbox EHR (its real login and consent pages, no test mode). The
demo coordinator (group ms-coordinators) then sees the population worklist — read with the
app's Backend Services token, listing this run's seeded patients; the demo neurologist,
not in the group, is refused and sees nothing.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator

import pytest
import requests

from smartapp.demo.servers import COORDINATOR, NEUROLOGIST, DemoUrls
from tests.integration.stack import Hops, follow, stored_worklist
from tests.support.forms import parse_form
from tests.support.loopback import LoopbackSession
from tests.support.seeded import SeededCohort
from tests.support.servers import free_port, python_server

pytestmark = pytest.mark.integration

#: The population refresh over the whole test server (HAPI shared by the suite).
REFRESH_WAIT_S = 240
#: Two seeded patients' names: never on a page for someone who is not signed in.
PATIENT_NAMES = ("Demo HBsAg-Positive", "Demo All-OK-Maintenance")


@pytest.fixture(scope="module")
def demo(hapi_base: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoUrls]:
    folder = tmp_path_factory.mktemp("demo")
    ehr_port, app_port = free_port(), free_port()
    urls = DemoUrls(hapi_base, f"http://127.0.0.1:{ehr_port}", f"http://127.0.0.1:{app_port}")
    demo_args = ["--hapi", urls.hapi, "--ehr", urls.ehr, "--app", urls.app, "--dir", str(folder)]
    # As from a shell without app settings: the demo's own are all there is.
    clean = {name: "" for name in os.environ if name.startswith("SMARTAPP_")}
    with (
        python_server(
            ["-m", "smartapp.demo.servers", "sandbox", *demo_args],
            "/healthz",
            folder / "sandbox.log",
            port=ehr_port,
        ),
        python_server(
            ["-m", "smartapp.demo.servers", "app", *demo_args],
            "/healthz",
            folder / "app.log",
            port=app_port,
            env=clean,
        ),
    ):
        yield urls


def sign_in(demo: DemoUrls, session: requests.Session, user: str) -> Hops:
    """Open the worklist, sign in at the sandbox's login page as `user` and approve; the
    hops from the sandbox's answer back into the app."""
    start = follow(session, f"{demo.app}/worklist", typed=True)
    assert start.urls[:2] == [f"{demo.app}/worklist", f"{demo.app}/login"], start.urls
    assert start.urls[-1].startswith(f"{demo.ehr}/auth/authorize?"), start.urls
    login = parse_form(start.response.text)
    assert user in login.selects["user"]
    consent = session.post(
        f"{demo.ehr}/auth/authorize",
        data={**login.fields, "user": user, "action": "login"},
        timeout=30,
    )
    assert consent.status_code == 200, consent.text[:500]
    approve = parse_form(consent.text)
    assert "approve" in approve.buttons
    answer = session.post(
        f"{demo.ehr}/auth/authorize",
        data={**approve.fields, "action": "approve"},
        allow_redirects=False,
        timeout=30,
    )
    callback = answer.headers.get("Location", "")
    assert callback.startswith(f"{demo.app}/login/callback?"), (answer.status_code, callback)
    return follow(session, callback)


def test_anonymous_worklist_goes_to_the_sign_in(demo: DemoUrls, seeded_demo: SeededCohort) -> None:
    session = LoopbackSession()
    opened = session.get(f"{demo.app}/worklist", allow_redirects=False, timeout=30)
    assert opened.status_code == 302 and opened.headers["Location"] == "/login"
    exported = session.get(f"{demo.app}/worklist.csv", allow_redirects=False, timeout=30)
    assert exported.status_code in (302, 401, 403)
    some_id = seeded_demo.patient_ids["hbsag-positive"]
    for path in (f"/worklist/open/{some_id}", f"/api/patient/{some_id}"):
        answer = session.get(f"{demo.app}{path}", allow_redirects=False, timeout=30)
        assert answer.status_code in (302, 400, 401, 403), (path, answer.status_code)
        assert not [name for name in PATIENT_NAMES if name in answer.text]


def test_the_coordinator_signs_in_and_sees_the_population(
    demo: DemoUrls, seeded_demo: SeededCohort
) -> None:
    session = LoopbackSession()
    signed_in = sign_in(demo, session, COORDINATOR)
    assert signed_in.urls[-1] == f"{demo.app}/worklist"
    assert signed_in.response.status_code == 200, signed_in.response.text[:500]
    assert "Signed in as Casey Coord" in signed_in.response.text
    stored_worklist(session, demo.app, within_s=REFRESH_WAIT_S)
    page = session.get(f"{demo.app}/worklist", timeout=60)
    assert page.status_code == 200 and "backend access" in page.text
    exported = session.get(f"{demo.app}/worklist.csv", timeout=60)
    assert exported.status_code == 200
    listed = {row["patient_id"] for row in csv.DictReader(io.StringIO(exported.text))}
    assert set(seeded_demo.patient_ids.values()) <= listed


def test_a_user_outside_the_group_is_refused(demo: DemoUrls) -> None:
    session = LoopbackSession()
    refused = sign_in(demo, session, NEUROLOGIST)
    assert refused.response.status_code == 403, refused.response.text[:500]
    for name in ("Nora Neuro", *PATIENT_NAMES):
        assert name not in refused.response.text
    again = session.get(f"{demo.app}/worklist", allow_redirects=False, timeout=30)
    assert again.status_code == 302 and again.headers["Location"] == "/login"
