"""Error pages: clear messages, escaped input, no tracebacks; health endpoint without PHI."""

from __future__ import annotations

import pytest
from flask import abort

from smartapp.web import create_app
from tests.launch.launch_fakes import make_config


@pytest.fixture
def app():
    app = create_app(make_config())
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internal detail at /srv/app.py line 12")

    @app.get("/forbidden")
    def forbidden() -> str:
        abort(403)

    @app.get("/api/boom")
    def api_boom() -> str:
        raise RuntimeError("internal")

    return app


def test_unhandled_error_shows_a_clear_page_without_traceback(client, caplog):
    response = client.get("/boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert "Traceback" not in page
    assert "secret internal detail" not in page
    assert "RuntimeError" not in page


@pytest.mark.parametrize(("path", "status"), [("/nope", 404), ("/forbidden", 403)])
def test_http_errors_render_the_error_page(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert f"Error {status}" in response.get_data(as_text=True)


def test_method_not_allowed_page(client):
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert "Error 405" in response.get_data(as_text=True)
    assert response.headers["Allow"]


def test_api_errors_are_json(client):
    response = client.get("/api/boom")
    assert response.status_code == 500
    assert response.get_json()["error"] == "Something went wrong"
    assert client.get("/api/nothing-here").get_json()["error"] == "Page not found"


def test_query_values_are_not_echoed_on_error_pages(client):
    response = client.get(
        "/launch", query_string={"iss": 'https://evil.example/"><script>alert(1)</script>'}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "evil.example" not in page and "alert(1)" not in page


def test_healthz_reports_status_without_phi(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["fhir_base_configured"] is True
    assert set(body) == {"status", "version", "fhir_base_configured"}


def test_create_app_without_secret_key_fails_clearly(monkeypatch):
    from smartapp.config import ConfigError

    monkeypatch.delenv("SMARTAPP_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SMARTAPP_SECRET_KEY"):
        create_app()
