"""Security headers on every response: CSP with frame-ancestors from the allowlist, etc."""

from __future__ import annotations

import pytest

from smartapp.web import create_app
from tests.launch.launch_fakes import make_config


def csp_directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("path", ["/healthz", "/launch", "/no-such-page", "/static/app.css"])
def test_every_response_has_the_security_headers(client, path):
    with client.get(path) as response:
        check_headers(response)


def check_headers(response) -> None:
    csp = csp_directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "X-Frame-Options" not in response.headers


def test_frame_ancestors_lists_self_and_the_allowlisted_ehrs_only(client):
    """Open FHIR servers (here hapi.local) are not EHRs: they may not frame the app."""
    csp = csp_directives(client.get("/healthz"))
    assert csp["frame-ancestors"][0] == "'self'"
    assert set(csp["frame-ancestors"][1:]) == {"https://ehr.example.org"}
    assert csp["form-action"] == ["'self'", "https://ehr.example.org"]


def test_frame_ancestors_include_configured_ehr_ui_origins():
    app = create_app(make_config(frame_ancestors=("https://ui.ehr.example.org",)))
    csp = csp_directives(app.test_client().get("/healthz"))
    assert "https://ui.ehr.example.org" in csp["frame-ancestors"]
    assert "*" not in csp["frame-ancestors"]


def test_pages_are_not_cached_but_static_files_may_be(client):
    assert client.get("/launch").headers["Cache-Control"] == "no-store"
    with client.get("/static/app.css") as response:
        assert response.headers.get("Cache-Control") != "no-store"


def test_base_template_has_no_inline_script_or_style_and_no_cdn(client):
    page = client.get("/launch").get_data(as_text=True)
    assert "<script" not in page
    assert "<style" not in page
    assert "style=" not in page
    assert "/static/app.css" in page
    assert "https://" not in page.split("<body")[0]  # no CDN assets in <head>
