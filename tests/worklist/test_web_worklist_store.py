"""`/worklist` from the stored worklist: pages in the URL, short check names, a refresh in
the background with visible progress, and a failed refresh that keeps the old list."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from smartapp.web import create_app
from smartapp.web.worklist.store import refresher_of
from smartapp.worklist import read_csv
from tests.launch.launch_fakes import OPEN_ISS, make_config
from tests.support.fake_fhir import FakeFhir
from tests.worklist.cohort import AS_OF, generated
from tests.worklist.test_web_worklist import SAME_ORIGIN, csrf, open_session, read_again, row_ids


@pytest.fixture
def day(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    today = [AS_OF]
    monkeypatch.setattr("smartapp.web.worklist.reading.today", lambda: today[0])
    return today


@pytest.fixture
def app(day: list[Any]) -> Flask:
    flask_app = create_app(make_config())
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """The web app's test client (instead of tests/worklist/conftest.py's FHIR client)."""
    return app.test_client()


@pytest.fixture
def server(rsps: responses.RequestsMock) -> FakeFhir:
    return FakeFhir(generated(60), base=OPEN_ISS).install(rsps)


def test_pages_live_in_the_url_and_the_csv_has_every_filtered_row(client, server) -> None:
    open_session(client)
    first = client.get("/worklist?sort=name&size=25").get_data(as_text=True)
    assert len(row_ids(first)) == 25
    assert "Rows 1\u201325 of 60 · page 1 of 3" in first
    assert 'id="next-page" rel="next" href="/worklist?sort=name&amp;size=25&amp;page=2"' in first
    second = client.get("/worklist?sort=name&size=25&page=2").get_data(as_text=True)
    assert "Rows 26\u201350 of 60 · page 2 of 3" in second
    assert not set(row_ids(first)) & set(row_ids(second))
    # A link reproduces the page (another browser, same URL).
    other = client.application.test_client()
    open_session(other)
    again = other.get("/worklist?sort=name&size=25&page=2").get_data(as_text=True)
    assert row_ids(again) == row_ids(second)
    # Beyond the last page: the last page. A bad size is said and the default used.
    assert "page 3 of 3" in client.get("/worklist?size=25&page=9").get_data(as_text=True)
    bad = client.get("/worklist?size=7").get_data(as_text=True)
    assert "Page size &#39;7&#39; is not one of 25, 50, 100, 200; 50 used." in bad
    # The CSV link drops the page: every filtered row, in the page's order.
    assert 'id="csv-link" href="/worklist.csv?sort=name&amp;size=25"' in second
    rows = read_csv(client.get("/worklist.csv?sort=name&size=25").get_data(as_text=True))
    everything = row_ids(client.get("/worklist?sort=name&size=100").get_data(as_text=True))
    assert [row["patient_id"] for row in rows] == everything and len(everything) == 60


def test_checks_show_by_their_short_names_and_ids_stay_in_the_csv(client, server) -> None:
    open_session(client)
    html = client.get("/worklist?size=100").get_data(as_text=True)
    cells = re.findall(r'<span class="wl-check" title="[^"]*">([^<]+)</span>', html)
    assert cells and "IgG/IgM" in cells
    assert not {cell for cell in cells if re.fullmatch(r"[a-z]+(-[a-z]+)+", cell)}
    assert ">ig-monitoring<" not in html
    text = client.get("/worklist.csv").get_data(as_text=True)
    assert "ig-monitoring" in text and "IgG/IgM" not in text


def test_a_refresh_runs_in_the_background_and_shows_its_progress(client, server) -> None:
    open_session(client)
    before = row_ids(client.get("/worklist?size=100").get_data(as_text=True))
    inside, release = threading.Event(), threading.Event()

    def slow(url: str) -> None:
        if "_lastUpdated" in url:
            inside.set()
            release.wait(30)
        return None

    server.fail = slow
    html = client.get("/worklist").get_data(as_text=True)
    response = client.post(
        "/worklist/refresh",
        data={"csrf_token": csrf(html), "return": "size=100"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 303 and response.headers["Location"] == "/worklist?size=100"
    assert inside.wait(30)  # the request returned while the refresh still runs
    page = client.get("/worklist?size=100").get_data(as_text=True)
    assert 'id="refresh-progress"' in page and "Reading the server again" in page
    assert row_ids(page) == before  # the stored list stays until the new one is ready
    status = client.get("/worklist/refresh-status").get_json()
    assert status["running"] is True and status["stage"] == "asking the server what changed"
    release.set()
    refresher_of(client.application).wait(30)
    done = client.get("/worklist/refresh-status").get_json()
    assert done["running"] is False and done["latest"] != status["latest"]
    assert 'id="refresh-progress"' not in client.get("/worklist").get_data(as_text=True)


def test_reading_again_needs_the_csrf_token_and_the_status_needs_access(client, server) -> None:
    assert client.get("/worklist/refresh-status").status_code == 403
    open_session(client)
    refused = client.post("/worklist/refresh", data={"return": ""}, headers=SAME_ORIGIN)
    assert refused.status_code == 400


def test_a_failed_refresh_keeps_the_old_list_and_says_why_and_when(client, server) -> None:
    open_session(client)
    html = client.get("/worklist?size=100").get_data(as_text=True)
    before = row_ids(html)
    server.fail = lambda url: 500  # every search: the changes, then the whole population
    read_again(client, html)
    page = client.get("/worklist?size=100").get_data(as_text=True)
    assert 'id="refresh-failed"' in page and "The last refresh failed at" in page
    assert "None of the searches for patients on ofatumumab worked" in page
    assert "The list below is the one read before it." in page
    assert row_ids(page) == before


def test_a_new_day_evaluates_the_stored_records_again_and_starts_a_refresh(
    client, server, day
) -> None:
    open_session(client)
    posts = server.count("POST")
    day[0] = AS_OF + timedelta(days=60)
    page = client.get("/worklist?size=100").get_data(as_text=True)
    # At once, the statuses are as of the new day, from the stored records.
    assert f'as of <time datetime="{day[0].isoformat()}">' in page
    assert "Checks evaluated again as of" in page
    refresher_of(client.application).wait(30)
    assert server.count("POST") == posts + 1  # and a refresh asked what changed
    fresh = client.get("/worklist?size=100").get_data(as_text=True)
    assert "Checks evaluated again as of" not in fresh
    assert row_ids(fresh) == row_ids(page)
