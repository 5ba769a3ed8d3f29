"""SPEC §5 security and the pitfalls table of notes/smart-launch.md §2, against real processes.

The sandbox EHR (`python -m sandbox_ehr --test-mode`) fronts the real HAPI server and the
app runs as `python -m smartapp.cli serve` (tests/e2e/stack.py). Everything goes over real
HTTP with `requests`; nothing is mocked. What the sandbox did is read from its access log
(one line per request) and its `/_admin/config` knobs downgrade scopes or age tokens.
"""

from __future__ import annotations

import html as html_lib
import re
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests

from tests.e2e import stack as smart
from tests.e2e.stack import CLIENT_ID, DemoCohort, SmartStack
from tests.integration.stack import (
    AUTO,
    TOKENISH,
    data_round_trips,
    ehr_launch,
    follow,
    query,
    sandbox_requests,
    start_launch,
    token_requests,
)
from tests.support.loopback import LoopbackSession

pytestmark = pytest.mark.integration

# The shared stack's fixtures (tests/e2e/stack.py): started once per session.
smart_stack = smart.smart_stack
demo_cohort = smart.demo_cohort
sandbox_settings = smart.sandbox_settings

SCRIPT_NAME = "<script>alert(1)</script>"


@pytest.fixture
def auto_sandbox(sandbox_settings: Any) -> Any:
    """The sandbox skips its login and consent pages (the browser test walks them)."""
    sandbox_settings(**AUTO)
    return sandbox_settings


class ConnectionRecorder(socketserver.ThreadingTCPServer):
    """A loopback listener that only counts the connections it receives."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        super().__init__(("127.0.0.1", 0), self._Handler)

    class _Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            server = self.server
            assert isinstance(server, ConnectionRecorder)
            server.connections.append(self.client_address)
            self.request.close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def foreign_server() -> Iterator[ConnectionRecorder]:
    server = ConnectionRecorder()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- iss allowlist -----------------------------------------------------------------------------


def test_foreign_iss_is_refused_with_a_clear_page_and_no_outbound_call(
    smart_stack: SmartStack, session: LoopbackSession, foreign_server: ConnectionRecorder
) -> None:
    sandbox_before = len(sandbox_requests(smart_stack))
    foreign = f"{foreign_server.base}/fhir"
    port = smart_stack.sandbox.rsplit(":", 1)[1]
    candidates = [
        foreign,
        f"{foreign}/",
        foreign.replace("http://", "https://"),
        foreign.upper().replace("HTTP://", "http://"),
        f"{foreign}?iss={smart_stack.sandbox_fhir}",  # the allowed one in a query
        f"{foreign}#{smart_stack.sandbox_fhir}",
        f"http://127.0.0.1:{port}@127.0.0.1:{foreign_server.server_address[1]}/fhir",
        f"{smart_stack.sandbox_fhir}.{foreign_server.base.split('//')[1]}",
        f"{smart_stack.sandbox_fhir}/../../{foreign}",
    ]
    for iss in candidates:
        for params in ({"iss": iss, "launch": "launch-123"}, {"iss": iss}):
            response = session.get(
                f"{smart_stack.app}/launch", params=params, allow_redirects=False, timeout=30
            )
            assert response.status_code == 400, (iss, response.status_code, response.headers)
            assert "not allowed" in response.text, iss
            assert "Location" not in response.headers
            assert "Content-Security-Policy" in response.headers
        opened = session.get(
            f"{smart_stack.app}/open", params={"iss": iss, "patient": "x"}, allow_redirects=False
        )
        assert opened.status_code == 400, (iss, opened.status_code)
    time.sleep(0.3)  # a connection attempt, had there been one, has surely arrived by now
    assert foreign_server.connections == []
    # Nor did the app turn to the allowed EHR on the attacker's behalf.
    assert len(sandbox_requests(smart_stack)) == sandbox_before

    # Control: an allowed iss is contacted (discovery) before the redirect to authorize.
    allowed = session.get(
        f"{smart_stack.app}/launch", params={"iss": smart_stack.sandbox_fhir}, allow_redirects=False
    )
    assert allowed.status_code == 302
    assert allowed.headers["Location"].startswith(f"{smart_stack.sandbox}/auth/authorize?")
    discovery = sandbox_requests(smart_stack)[sandbox_before:]
    assert any(line.startswith("GET /fhir/.well-known/smart-configuration ") for line in discovery)


def test_an_allowlisted_but_closed_server_cannot_be_opened_without_sign_in(
    smart_stack: SmartStack, session: LoopbackSession
) -> None:
    response = session.get(
        f"{smart_stack.app}/open",
        params={"iss": smart_stack.sandbox_fhir, "patient": "x"},
        allow_redirects=False,
    )
    assert response.status_code == 400
    assert "not configured as an open server" in response.text


# -- the authorize request ------------------------------------------------------------------


def test_authorize_request_has_s256_pkce_aud_and_a_fresh_state_each_time(
    smart_stack: SmartStack, demo_cohort: DemoCohort, session: LoopbackSession
) -> None:
    patient = demo_cohort.patient_ids["hbsag-positive"]
    seen = []
    for _ in range(2):
        launcher = session.get(smart_stack.launcher_url(patient), allow_redirects=False)
        app_launch = launcher.headers["Location"]
        launch_id = query(app_launch)["launch"]
        started = session.get(app_launch, allow_redirects=False)
        assert started.status_code == 302
        authorize = started.headers["Location"]
        assert authorize.startswith(f"{smart_stack.sandbox}/auth/authorize?")
        params = query(authorize)
        assert params["aud"] == smart_stack.sandbox_fhir  # aud = iss
        assert params["launch"] == launch_id
        assert params["code_challenge_method"] == "S256"
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", params["code_challenge"])
        assert len(params["state"]) >= 32
        assert params["redirect_uri"] == smart.sandbox_redirect_uri(
            smart_stack.app, smart_stack.sandbox
        )
        assert params["client_id"] == CLIENT_ID
        scopes = params["scope"].split()
        for scope in ("launch", "openid", "fhirUser", "online_access"):
            assert scope in scopes
        assert "patient/Observation.rs" in scopes and "patient/Task.cu" in scopes  # v2
        assert "code_verifier" not in authorize
        seen.append((params["state"], params["code_challenge"], params["nonce"]))
    (state1, challenge1, nonce1), (state2, challenge2, nonce2) = seen
    assert state1 != state2 and challenge1 != challenge2 and nonce1 != nonce2


# -- state: single use, bound to the session ---------------------------------------------------


def test_state_replay_is_refused_without_a_second_code_exchange(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    assert launch.response.status_code == 200
    assert launch.response.url == f"{smart_stack.app}/patient"
    exchanges = token_requests(smart_stack)

    replay = session.get(launch.callback_url, allow_redirects=False)
    assert replay.status_code == 400
    assert "already used" in replay.text
    # Another browser replaying the same response fares no better.
    with LoopbackSession() as other:
        assert other.get(launch.callback_url, allow_redirects=False).status_code == 400
    # The app refused before touching the token endpoint (the code was not re-sent), and
    # the session that launched is unharmed.
    assert token_requests(smart_stack) == exchanges
    assert session.get(f"{smart_stack.app}/patient").status_code == 200


def test_state_mismatch_and_foreign_session_are_refused(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    patient = demo_cohort.patient_ids["hbsag-positive"]
    callback = start_launch(smart_stack, session, patient)
    params = query(callback)
    assert len(params["state"]) >= 32  # >= 122 bits, URL-safe
    exchanges = token_requests(smart_stack)

    tampered = {**params, "state": params["state"][:-4] + "AAAA"}
    callback_path = callback.split("?", 1)[0]
    response = session.get(f"{callback_path}?{urlencode(tampered)}", allow_redirects=False)
    assert response.status_code == 400
    assert "cannot be accepted" in response.text
    missing = {"code": params["code"]}
    response = session.get(f"{callback_path}?{urlencode(missing)}", allow_redirects=False)
    assert response.status_code == 400

    # The right state from another browser session (login CSRF / session fixation).
    with LoopbackSession() as attacker:
        start_launch(smart_stack, attacker, patient)  # has a session and a pending launch
        response = attacker.get(callback, allow_redirects=False)
        assert response.status_code == 400
    assert token_requests(smart_stack) == exchanges

    # The genuine response still completes the launch it belongs to.
    done = follow(session, callback)
    assert done.response.status_code == 200
    assert done.urls[-1] == f"{smart_stack.app}/patient"


# -- PKCE is mandatory at the sandbox ----------------------------------------------------------


def _authorize_params(stack: SmartStack, **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": smart.sandbox_redirect_uri(stack.app, stack.sandbox),
        "scope": "openid fhirUser launch/patient patient/Patient.r patient/Observation.rs",
        "state": "s" * 43,
        "aud": stack.sandbox_fhir,
        **extra,
    }


def test_sandbox_refuses_an_authorize_request_without_pkce(
    smart_stack: SmartStack, auto_sandbox: Any, session: LoopbackSession
) -> None:
    authorize = f"{smart_stack.sandbox}/auth/authorize"
    for extra in (
        {},  # no code_challenge at all
        {"code_challenge_method": "S256"},  # a method but no challenge
        {"code_challenge": "x" * 43, "code_challenge_method": "plain"},  # plain is forbidden
        {"code_challenge": "x" * 43},  # no method: RFC 7636 would default to plain
    ):
        response = session.get(
            authorize, params=_authorize_params(smart_stack, **extra), allow_redirects=False
        )
        assert response.status_code == 302, (extra, response.status_code, response.text[:300])
        location = response.headers["Location"]
        assert location.startswith(f"{smart_stack.app}/callback/"), location
        assert query(location).get("error") == "invalid_request", (extra, location)
        assert "code" not in query(location)


def _sandbox_code(stack: SmartStack, session: LoopbackSession, patient: str, challenge: str) -> str:
    """An authorization code for our own PKCE challenge, from an EHR launch of `patient`."""
    launcher = session.get(stack.launcher_url(patient), allow_redirects=False)
    launch_id = query(launcher.headers["Location"])["launch"]
    response = session.get(
        f"{stack.sandbox}/auth/authorize",
        params=_authorize_params(
            stack,
            scope="launch openid fhirUser patient/Patient.r",
            launch=launch_id,
            code_challenge=challenge,
            code_challenge_method="S256",
        ),
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    code = query(response.headers["Location"]).get("code")
    assert code, response.headers["Location"]
    return code


def test_sandbox_refuses_a_token_request_without_the_right_code_verifier(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    # RFC 7636 appendix B: this verifier hashes (S256) to this challenge.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    patient = demo_cohort.patient_ids["hbsag-positive"]
    token_url = f"{smart_stack.sandbox}/auth/token"
    form = {
        "grant_type": "authorization_code",
        "redirect_uri": smart.sandbox_redirect_uri(smart_stack.app, smart_stack.sandbox),
        "client_id": CLIENT_ID,
    }
    for bad in ({}, {"code_verifier": verifier[:-1] + "Y"}):
        code = _sandbox_code(smart_stack, session, patient, challenge)
        refused = session.post(token_url, data={**form, "code": code, **bad})
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["error"] in ("invalid_request", "invalid_grant"), refused.text
        assert "access_token" not in refused.json()
    # The same request with the right verifier is accepted: the refusals were about PKCE.
    code = _sandbox_code(smart_stack, session, patient, challenge)
    granted = session.post(token_url, data={**form, "code": code, "code_verifier": verifier})
    assert granted.status_code == 200, granted.text
    assert granted.json()["patient"] == patient
    assert granted.headers.get("Cache-Control") == "no-store"


# -- granted scopes decide the UI --------------------------------------------------------------


def _has_save_button(page: str) -> bool:
    return 'id="save-plan"' in page or 'id="plan-actions"' in page


def test_full_scopes_offer_the_plan_write_back(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    assert launch.response.status_code == 200
    assert _has_save_button(launch.html)
    assert 'id="read-only"' not in launch.html


def test_reduced_scopes_give_a_read_only_ui(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    settings = auto_sandbox(grant_scopes_filter="read-only")
    assert settings["grant_scopes_filter"] is not None
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    page = launch.html
    assert launch.response.status_code == 200
    assert "Demo HBsAg-Positive" in page  # reading still works
    assert 'id="read-only"' in page and "Read-only" in page
    assert not _has_save_button(page)
    assert "Save plan" not in page
    assert 'method="post"' not in page.lower()  # no write form of any kind
    assert "not allowed (read-only)" in smart_stack.app_log_text()


def test_a_read_only_registration_launches_read_only_after_asking_again(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    """The sandbox refuses any write scope outright (invalid_scope), as an EHR does for a
    site that registered the app read-only: the app asks once more for reads only."""
    auto_sandbox(refuse_scopes="writes")
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    page = launch.html
    assert launch.response.status_code == 200
    assert "Demo HBsAg-Positive" in page  # reading works
    assert 'id="read-only"' in page and "EHR code: invalid_scope" in page
    assert not _has_save_button(page)
    authorizes = [url for url in launch.hops.urls if "/auth/authorize?" in url]
    assert len(authorizes) == 2
    first, second = (query(url)["scope"].split() for url in authorizes)
    assert "patient/Task.cu" in first and "patient/Task.cu" not in second
    assert "patient/Task.rs" in second
    log = smart_stack.app_log_text()
    assert "authorization refused by tenant" in log and "invalid_scope" in log
    assert "asking for read access only" in log


def test_a_refusal_of_the_read_scopes_too_ends_the_launch_with_the_code(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    auto_sandbox(refuse_scopes={"patterns": ["patient/Observation.*"]})
    tokens_before = token_requests(smart_stack)
    hops = follow(session, smart_stack.launcher_url(demo_cohort.patient_ids["hbsag-positive"]))
    page = hops.response.text
    assert hops.response.status_code == 403
    assert "did not accept the permissions" in page and "EHR code: invalid_scope" in page
    assert "Not registered for this app" not in page  # the EHR's own text is not shown
    assert len([url for url in hops.urls if "/auth/authorize?" in url]) == 2
    time.sleep(0.2)  # let the sandbox flush its access log
    assert token_requests(smart_stack) == tokens_before  # no code was ever issued


def test_posts_without_csrf_token_or_from_another_origin_are_refused(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    """SameSite=None gives no CSRF protection: every POST needs the token and our origin."""
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    form = re.search(r'<form method="post" action="([^"]+)".*?</form>', launch.html, re.S)
    assert form, "the full-scope dashboard has a write form"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0)))
    assert fields.get("csrf_token")
    action = f"{smart_stack.app}{form.group(1)}"
    data = {**fields, "reason": "CSRF probe"}
    writes_before = [
        line for line in sandbox_requests(smart_stack) if line.startswith("POST /fhir")
    ]
    attempts = [
        ({**data, "csrf_token": ""}, {"Origin": smart_stack.app}),  # no token
        ({**data, "csrf_token": "x" * 43}, {"Origin": smart_stack.app}),  # wrong token
        (data, {"Origin": "http://evil.example"}),  # right token, foreign origin
        (data, {"Origin": "null"}),  # opaque origin
        (data, {"Sec-Fetch-Site": "cross-site", "Origin": smart_stack.app}),
        (data, {}),  # no origin information at all
    ]
    for body, headers in attempts:
        refused = session.post(action, data=body, headers=headers, allow_redirects=False)
        assert refused.status_code == 400, (headers, body.get("csrf_token"), refused.status_code)
        assert "did not come from this app" in refused.text
    writes_after = [line for line in sandbox_requests(smart_stack) if line.startswith("POST /fhir")]
    assert writes_after == writes_before, "nothing reached the FHIR server"


# -- expired tokens: refresh, else relaunch ----------------------------------------------------


def test_short_lived_token_is_refreshed_before_it_expires(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    auto_sandbox(access_token_lifetime=30)  # inside the app's 60 s refresh margin
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    assert launch.response.status_code == 200
    before = token_requests(smart_stack)
    refreshed_before = smart_stack.app_log_text().count("access token refreshed")

    reload = session.get(f"{smart_stack.app}/patient")
    assert reload.status_code == 200
    assert "Demo HBsAg-Positive" in reload.text
    assert 'id="data-incomplete"' not in reload.text
    assert token_requests(smart_stack) == before + 1  # one refresh_token grant
    assert smart_stack.app_log_text().count("access token refreshed") == refreshed_before + 1


def test_expired_token_is_refreshed_after_the_fhir_server_refuses_it(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    assert launch.response.status_code == 200
    before = token_requests(smart_stack)
    # Two hours later for the sandbox: the 1 h access token is dead, the 8 h online refresh
    # token alive. The app still thinks its token is fresh, so the FHIR proxy's 401 is what
    # makes it refresh.
    auto_sandbox(clock_offset=7200)
    reload = session.get(f"{smart_stack.app}/patient")
    assert reload.status_code == 200, reload.text[:500]
    assert "Demo HBsAg-Positive" in reload.text
    assert 'id="data-incomplete"' not in reload.text
    assert token_requests(smart_stack) == before + 1
    assert data_round_trips(reload.text) <= 2


def test_expired_token_without_online_access_asks_to_relaunch(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    auto_sandbox(grant_scopes_filter={"drop": ["online_access", "offline_access"]})
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    assert launch.response.status_code == 200
    before = token_requests(smart_stack)
    auto_sandbox(clock_offset=7200)
    reload = session.get(f"{smart_stack.app}/patient")
    assert reload.status_code == 401
    assert "relaunch" in reload.text.lower()
    assert "Traceback" not in reload.text
    assert token_requests(smart_stack) == before  # no refresh token: nothing to try


# -- FHIR text is escaped ----------------------------------------------------------------------


def test_a_patient_named_script_renders_as_text(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["escaping"])
    page = launch.html
    assert launch.response.status_code == 200
    assert SCRIPT_NAME not in page
    assert html_lib.escape(SCRIPT_NAME, quote=False) in page  # &lt;script&gt;…
    assert "<img src=x" not in page and "<b onmouseover" not in page
    # The only scripts are none at all: the CSP would block inline ones anyway.
    assert re.search(r"<script\b", page, re.IGNORECASE) is None


# -- cookie and headers ------------------------------------------------------------------------


def _cookie_attributes(header: str) -> tuple[str, str, dict[str, str]]:
    first, *attributes = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    parsed = {}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        parsed[key.lower()] = val
    return name, value, parsed


def test_session_cookie_is_an_opaque_host_only_secure_partitioned_id(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    app_cookies = [
        header for url, header in launch.hops.set_cookies if url.startswith(smart_stack.app)
    ]
    assert len(app_cookies) >= 2  # set at /launch, rotated at /callback
    values = []
    for header in app_cookies:
        name, value, attributes = _cookie_attributes(header)
        assert name == "__Host-smartapp", header
        assert "secure" in attributes and "httponly" in attributes, header
        assert attributes.get("samesite", "").lower() == "none", header
        assert "partitioned" in attributes, header
        assert attributes.get("path") == "/", header
        assert "domain" not in attributes, header  # __Host-: host-only
        assert "eyJ" not in value and len(value) < 120, "the cookie holds only a signed id"
        values.append(value)
    assert len(set(values)) == len(values), "the session id is rotated at sign-in"
    # The sandbox never set a cookie: its authorize pages are stateless.
    assert not [h for url, h in launch.hops.set_cookies if url.startswith(smart_stack.sandbox)]


def _csp(response: requests.Response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def test_csp_with_frame_ancestors_on_every_page(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    launch = ehr_launch(smart_stack, session, demo_cohort.patient_ids["hbsag-positive"])
    hapi_origin = smart_stack.hapi.rsplit("/fhir", 1)[0]
    pages = {
        "dashboard": launch.response,
        "launch.html": session.get(f"{smart_stack.app}/launch.html"),
        "launch chooser": session.get(f"{smart_stack.app}/launch"),
        "refused iss": session.get(
            f"{smart_stack.app}/launch?iss={quote('https://evil.example/fhir')}"
        ),
        "refused state": session.get(launch.callback_url, allow_redirects=False),
        "not found": session.get(f"{smart_stack.app}/no-such-page"),
    }
    for what, response in pages.items():
        csp = _csp(response)
        assert csp, f"{what}: no CSP"
        assert csp["frame-ancestors"][0] == "'self'", what
        assert smart_stack.sandbox in csp["frame-ancestors"], what
        assert hapi_origin not in csp["frame-ancestors"], what  # an open server is no EHR
        assert "*" not in csp["frame-ancestors"], what
        assert csp["script-src"] == ["'self'"], what  # no inline script, no eval
        assert "'unsafe-inline'" not in csp.get("style-src", []), what
        assert csp["object-src"] == ["'none'"], what
        assert "X-Frame-Options" not in response.headers, what  # it would break the EHR iframe
        assert response.headers.get("X-Content-Type-Options") == "nosniff", what
        assert response.headers.get("Referrer-Policy") == "no-referrer", what
    assert pages["dashboard"].headers.get("Cache-Control") == "no-store"


# -- no PHI or secrets in the app's log --------------------------------------------------------


def test_no_token_patient_name_or_id_in_the_app_log_at_info(
    smart_stack: SmartStack, demo_cohort: DemoCohort, auto_sandbox: Any, session: LoopbackSession
) -> None:
    launches = [
        ehr_launch(smart_stack, session, demo_cohort.patient_ids[slug])
        for slug in ("hbsag-positive", "escaping")
    ]
    auto_sandbox(access_token_lifetime=30)  # a refresh too: its tokens must not leak either
    launches.append(ehr_launch(smart_stack, session, demo_cohort.patient_ids["interrupted"]))
    assert session.get(f"{smart_stack.app}/patient").status_code == 200
    assert all(launch.response.status_code == 200 for launch in launches)
    time.sleep(0.2)  # let the app flush its log lines
    log = smart_stack.app_log_text()

    assert "launch completed" in log and "dashboard:" in log, "the app logs at INFO"
    assert "access token refreshed" in log
    secrets_seen = []
    for launch in launches:
        params = query(launch.callback_url)
        secrets_seen += [params["code"], params["state"]]
        launch_param = query(next(u for u in launch.hops.urls if "/launch?" in u))["launch"]
        secrets_seen.append(launch_param)
        for _, header in launch.hops.set_cookies:
            secrets_seen.append(header.split(";")[0].split("=", 1)[1])
    for secret in secrets_seen:
        assert secret not in log
    for slug, patient_id in demo_cohort.patient_ids.items():
        assert patient_id not in log, slug
    for name in ("HBsAg-Positive", "Interrupted", "alert(1)", "Demo "):
        assert name not in log, name
    assert "eyJ" not in log  # no JWT (id_token)
    assert "Bearer" not in log
    # Access and refresh tokens are opaque random strings: nothing of that shape is logged.
    assert TOKENISH.findall(log) == [], "token-like strings in the app log"
