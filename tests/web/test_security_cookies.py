"""The session cookie: opaque signed id only, iframe-ready flags, insecure dev mode."""

from __future__ import annotations

import pytest

from smartapp.web import create_app
from tests.launch.launch_fakes import (
    ACCESS_TOKEN,
    ISS,
    PATIENT_ID,
    FakeEhr,
    context_of,
    make_config,
    query,
)


def set_cookie_header(response) -> str:
    headers = response.headers.getlist("Set-Cookie")
    assert len(headers) == 1, headers
    return headers[0]


def attributes(header: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


def test_cookie_has_host_prefix_and_iframe_flags(client, ehr):
    response = client.get(f"/launch?iss={ISS}&launch=x")
    header = set_cookie_header(response)
    assert header.startswith("__Host-smartapp=")
    parts = [part.strip() for part in header.split(";")]
    assert "Secure" in parts
    assert "HttpOnly" in parts
    assert "SameSite=None" in parts
    assert "Partitioned" in parts
    assert "Path=/" in parts
    assert "domain" not in attributes(header)  # __Host- cookies must not name a domain


def test_cookie_never_contains_tokens_or_context(client, rsps):
    ehr = FakeEhr(rsps, refresh_token="RT-very-secret").install()
    ehr.launch(client)
    response = ehr.callback(client)
    header = set_cookie_header(response)
    value = header.split(";")[0].split("=", 1)[1]
    for secret in (
        ACCESS_TOKEN,
        "RT-very-secret",
        PATIENT_ID,
        "eyJ",
        ehr.authorize_params["state"],
    ):
        assert secret not in header
    sid, signature = value.split(".")
    assert len(sid) >= 43 and len(signature) >= 20
    # Nothing secret reaches the page either: the redirect carries no token.
    assert ACCESS_TOKEN not in response.headers["Location"]


def test_tampered_or_forged_cookie_is_ignored(app, client, ehr):
    ehr.sign_in(client)
    assert context_of(app, client) is not None
    value = client.get_cookie("__Host-smartapp").value
    sid = value.split(".")[0]
    # A changed first character (never the same one, or the "forgery" would be the cookie).
    flipped = ("A" if value[0] != "A" else "B") + value[1:]
    for forged in (sid, f"{sid}.forgedsignature", flipped):
        client.set_cookie("__Host-smartapp", forged)
        assert context_of(app, client) is None


def test_insecure_mode_for_local_http(rsps):
    app = create_app(make_config(insecure_cookies=True))
    client = app.test_client()
    ehr = FakeEhr(rsps).install()
    response = client.get("/launch?iss=https://ehr.example.org/fhir&launch=x")
    header = set_cookie_header(response)
    assert header.startswith("smartapp=")
    parts = [part.strip() for part in header.split(";")]
    assert "SameSite=Lax" in parts
    assert "HttpOnly" in parts
    assert "Secure" not in parts and "Partitioned" not in parts
    ehr.authorize_params = query(response.headers["Location"])
    assert ehr.callback(client).status_code == 302
    assert context_of(app, client, cookie_name="smartapp") is not None


@pytest.mark.parametrize("path", ["/healthz", "/.well-known/jwks.json", "/no-such-page"])
def test_pages_without_session_set_no_cookie(client, path):
    assert client.get(path).headers.getlist("Set-Cookie") == []
