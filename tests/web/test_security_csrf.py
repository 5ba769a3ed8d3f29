"""CSRF: every POST needs the session's token and a same-origin request."""

from __future__ import annotations

import pytest
from flask import Flask

from smartapp.web import create_app
from smartapp.web.security import csrf_exempt
from tests.launch.launch_fakes import make_config

ORIGIN = "http://localhost"


@pytest.fixture
def app() -> Flask:
    app = create_app(make_config())
    app.testing = True

    @app.get("/form")
    def show_form() -> str:
        from flask import render_template_string

        return render_template_string(
            '<form method="post" action="/save">'
            '<input type="hidden" name="csrf_token" value="{{ csrf_token() }}"></form>'
        )

    @app.post("/save")
    def save() -> str:
        return "saved"

    @app.post("/hook")
    @csrf_exempt
    def hook() -> str:
        return "hooked"

    return app


def token_from(client) -> str:
    page = client.get("/form").get_data(as_text=True)
    return page.split('value="')[1].split('"')[0]


def test_post_without_token_is_refused_with_a_clear_page(client):
    token_from(client)
    response = client.post("/save", headers={"Origin": ORIGIN})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "did not come from this app" in page
    assert "Traceback" not in page


def test_post_with_token_and_origin_is_accepted(client):
    token = token_from(client)
    response = client.post("/save", data={"csrf_token": token}, headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "saved"


def test_token_in_header_is_accepted(client):
    token = token_from(client)
    headers = {"X-CSRF-Token": token, "Origin": ORIGIN}
    assert client.post("/save", json={"a": 1}, headers=headers).status_code == 200


def test_wrong_token_is_refused(client):
    token_from(client)
    response = client.post("/save", data={"csrf_token": "forged"}, headers={"Origin": ORIGIN})
    assert response.status_code == 400


def test_token_of_another_session_is_refused(app, client):
    other = app.test_client()
    token = token_from(other)
    token_from(client)
    response = client.post("/save", data={"csrf_token": token}, headers={"Origin": ORIGIN})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},  # sandboxed frames; our own forms send Sec-Fetch-Site instead
        {"Referer": "https://attacker.example/page"},
        {"Sec-Fetch-Site": "cross-site", "Origin": ORIGIN},
        {"Sec-Fetch-Site": "same-site"},
        {},
    ],
)
def test_cross_origin_or_unknown_origin_is_refused_even_with_the_token(client, headers):
    token = token_from(client)
    response = client.post("/save", data={"csrf_token": token}, headers=headers)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [
        # What a browser sends for our own form under Referrer-Policy: no-referrer.
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        {"Referer": "http://localhost/patient"},
    ],
)
def test_same_origin_signals_are_accepted(client, headers):
    token = token_from(client)
    assert client.post("/save", data={"csrf_token": token}, headers=headers).status_code == 200


def test_public_url_defines_the_expected_origin():
    from dataclasses import replace

    app = create_app(replace(make_config(), public_url="https://app.example.org"))

    @app.post("/save")
    def save() -> str:
        return "saved"

    @app.get("/t")
    def t() -> str:
        from smartapp.web.security import csrf_token

        return csrf_token()

    client = app.test_client()
    token = client.get("/t").get_data(as_text=True)
    ok = client.post(
        "/save", data={"csrf_token": token}, headers={"Origin": "https://app.example.org"}
    )
    assert ok.status_code == 200
    bad = client.post("/save", data={"csrf_token": token}, headers={"Origin": "http://localhost"})
    assert bad.status_code == 400


def test_exempt_view_needs_no_token(client):
    assert client.post("/hook", headers={"Origin": "https://cds-client.example"}).status_code == 200


def test_post_to_a_get_only_route_is_405_not_csrf(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
