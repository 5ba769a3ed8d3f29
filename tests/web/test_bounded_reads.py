"""The dashboard and the API against a hostile FHIR server (real sockets on 127.0.0.1):
a dripping answer ends at SMARTAPP_FHIR_DEADLINE, a huge or deeply nested one is not read,
and the page still renders — "data incomplete", checks unknown, never a 500."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask.testing import FlaskClient

from smartapp.launch.session_store import MemorySessionStore
from smartapp.web import create_app
from tests.launch.launch_fakes import make_config
from tests.support.hostile_fhir import HostileFhir
from tests.support.navigation import TYPED


@pytest.fixture
def hostile() -> Iterator[HostileFhir]:
    with HostileFhir() as server:
        yield server


@pytest.fixture
def browser(hostile: HostileFhir) -> FlaskClient:
    base = make_config()
    config = replace(
        base,
        issuers=(*base.issuers, hostile.base),
        open_servers=(hostile.base,),
        fhir_deadline_s=1.5,
        fhir_max_bytes=1024 * 1024,
    )
    client = create_app(config, store=MemorySessionStore()).test_client()
    opened = client.get(
        "/open",
        query_string={"iss": hostile.base, "patient": "p1"},
        headers=TYPED,
    )
    assert opened.status_code == 302
    return client


@pytest.mark.parametrize("mode", ["drip", "deep", "huge", "gzip_bomb"])
def test_the_dashboard_renders_data_incomplete_within_the_deadline(
    hostile: HostileFhir, browser: FlaskClient, mode: str
) -> None:
    hostile.mode = mode
    hostile.drip_interval_s = 0.3
    hostile.huge_bytes = 4 * 1024 * 1024
    started = time.monotonic()
    response = browser.get("/patient")
    assert time.monotonic() - started < 4
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="data-incomplete"' in html
    assert "Traceback" not in html


def test_the_api_says_incomplete_and_no_check_is_ok(
    hostile: HostileFhir, browser: FlaskClient
) -> None:
    hostile.mode = "deep"
    body = browser.get("/api/patient/p1").get_json()
    assert body["data"]["incomplete"]
    assert any("nested" in problem for problem in body["data"]["problems"])
    assert all(finding["status"] != "ok" for finding in body["findings"])
