"""launch.html: works with no script, as a file and served by the app at /launch.html."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tests.support.pages import elements

LAUNCH_HTML = Path(__file__).resolve().parents[2] / "launch.html"
DEFAULT_APP = "http://127.0.0.1:8000"


def forms(html: str) -> list[tuple[dict[str, str], list[tuple[str, dict[str, str]]]]]:
    """Each <form>'s attributes with the elements inside it."""
    found: list[tuple[dict[str, str], list[tuple[str, dict[str, str]]]]] = []
    for chunk in html.split("<form")[1:]:
        body = "<form" + chunk.split("</form>", 1)[0] + "</form>"
        tags = elements(body)
        found.append((tags[0][1], tags[1:]))
    return found


def test_the_file_has_no_script_and_no_inline_style():
    html = LAUNCH_HTML.read_text(encoding="utf-8")
    tags = elements(html)
    assert not [tag for tag, _ in tags if tag in ("script", "style")]
    assert not [attrs for _, attrs in tags if "style" in attrs]
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
    assert '<html lang="en">' in html


def test_the_file_offers_the_four_choices_as_get_forms():
    html = LAUNCH_HTML.read_text(encoding="utf-8")
    found = forms(html)
    assert all(attrs["method"] == "get" for attrs, _ in found)
    actions = [attrs["action"] for attrs, _ in found]
    assert actions == [
        "http://127.0.0.1:9090/launcher",
        f"{DEFAULT_APP}/open",
        f"{DEFAULT_APP}/open",
        f"{DEFAULT_APP}/launch",
    ]
    issuers = [
        attrs["value"]
        for _, inner in found
        for tag, attrs in inner
        if tag == "input" and attrs.get("name") == "iss" and attrs.get("value")
    ]
    # The local server's base is editable (docker compose names it http://fhir:8080/fhir).
    assert issuers == ["http://127.0.0.1:8080/fhir", "https://hapi.fhir.org/baseR4"]
    sandbox_app = [attrs["value"] for tag, attrs in found[0][1] if attrs.get("name") == "app"]
    assert sandbox_app == [f"{DEFAULT_APP}/launch"]
    # The "any server" form can also open without sign-in (formaction, no script).
    buttons = [attrs for tag, attrs in found[3][1] if tag == "button"]
    assert [b.get("formaction") for b in buttons] == [None, f"{DEFAULT_APP}/open"]
    # Every field has a label.
    ids = {attrs["id"] for _, attrs in elements(html) if attrs.get("id")}
    labelled = {attrs["for"] for tag, attrs in elements(html) if tag == "label"}
    inputs = {
        attrs["id"]
        for tag, attrs in elements(html)
        if tag in ("input", "select") and attrs.get("type") != "hidden"
    }
    assert inputs <= labelled <= ids


def test_the_app_serves_the_page_pointed_at_itself(app, client):
    response = client.get("/launch.html")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert DEFAULT_APP not in html
    assert "You opened this page as a file" not in html
    assert 'href="/static/app.css"' in html and 'href="/static/dashboard.css"' in html
    actions = [attrs["action"] for attrs, _ in forms(html)]
    assert actions[1:] == [
        "http://localhost/open",
        "http://localhost/open",
        "http://localhost/launch",
    ]
    # The routes the forms use exist, and the stylesheets are served.
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    for action in actions[1:]:
        assert urlsplit(action).path in rules
    with client.get("/static/dashboard.css") as css:
        assert css.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp


def test_the_page_follows_the_public_url(config, store):
    from dataclasses import replace

    from smartapp.web import create_app

    app = create_app(replace(config, public_url="https://app.example.org"), store=store)
    html = app.test_client().get("/launch.html").get_data(as_text=True)
    assert 'action="https://app.example.org/open"' in html
    assert 'value="https://app.example.org/launch"' in html


def test_served_page_defaults_the_local_server_to_the_configured_open_base():
    from smartapp.web.dashboard.launch_page import launch_page_html

    html = launch_page_html("http://app.example:8000", "http://fhir:8080/fhir")
    assert 'value="http://fhir:8080/fhir"' in html
    assert "127.0.0.1:8080" not in html


def test_served_page_points_the_sandbox_form_at_the_configured_ehr():
    from smartapp.web.dashboard.launch_page import launch_page_html

    html = launch_page_html("http://app.example:8000", None, "http://127.0.0.1:9191")
    sandbox_form = forms(html)[0][0]
    assert sandbox_form["action"] == "http://127.0.0.1:9191/launcher"
    assert 'href="http://127.0.0.1:9191/?app=http://app.example:8000/launch"' in html
    assert "127.0.0.1:9090" not in html


def test_the_sandbox_ehr_setting_reaches_the_served_page(config, store):
    from dataclasses import replace

    from smartapp.web import create_app

    app = create_app(replace(config, sandbox_ehr="http://localhost:7777"), store=store)
    html = app.test_client().get("/launch.html").get_data(as_text=True)
    assert 'action="http://localhost:7777/launcher"' in html
    assert "127.0.0.1:9090" not in html
