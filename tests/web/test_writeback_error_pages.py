"""The write-back's failure pages (smartapp.web.writeback.errors): each failure a step can
meet shows its title, status, message and links — registered once, never a traceback."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.errors import UnusableInput
from fhir_mappings.write.writeback import WritebackBlocked
from smartapp.fhir import FhirError, TokenExpired
from smartapp.web.writeback import routes
from tests.support.pages import elements, page
from tests.web.test_writeback_views import (
    ORIGIN,
    ack_fields,
    acknowledge,
    href,
    no_traceback,
    open_session,
    preview,
)

CHECK = "ig-low"
NO_DATA = (
    "Nothing was written: the FHIR server did not return this patient&#39;s data (no Patient)."
)


def raising(error: Exception):
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


def title(html: str) -> str:
    start = html.index('id="wb-message-title"')
    text = html[html.index(">", start) + 1 : html.index("</h1>", start)]
    return text.rsplit("</svg>", 1)[-1].strip()


def confirm_posted(client):
    _, fields = preview(client)
    return client.post("/patient/plan", data=fields, headers=ORIGIN)


STEPS = {
    "preview": ("plan_for_patient", lambda client: client.get("/patient/plan")),
    "save": ("writeback_patient", confirm_posted),
    "acknowledge": ("acknowledge", lambda client: acknowledge(client, CHECK, "Arranged by the GP")),
}
PREVIEW_BACK = ("/patient", "/patient/plan")
ACK_BACK = (f"/patient#finding-{CHECK}", None)


@pytest.mark.parametrize(
    ("step", "error", "status", "heading", "message", "links"),
    [
        (
            "preview",
            WritebackBlocked("the app's Tasks could not be read"),
            409,
            "The plan cannot be prepared",
            "Nothing was written: the app&#39;s Tasks could not be read",
            ("/patient", None),
        ),
        (
            "preview",
            UnusableInput("no Patient"),
            502,
            "The patient could not be read",
            NO_DATA,
            PREVIEW_BACK,
        ),
        (
            "preview",
            FhirError("HTTP 500: database is down", status=500),
            502,
            "The patient could not be read",
            "Nothing was written: HTTP 500: database is down",
            PREVIEW_BACK,
        ),
        ("save", UnusableInput("no Patient"), 502, "The plan was not saved", NO_DATA, PREVIEW_BACK),
        (
            "acknowledge",
            UnusableInput("no Patient"),
            502,
            "The acknowledgement was not saved",
            NO_DATA,
            ACK_BACK,
        ),
        (
            "acknowledge",
            FhirError("HTTP 503: try later", status=503),
            502,
            "The acknowledgement was not saved",
            "Nothing was written: HTTP 503: try later",
            ACK_BACK,
        ),
    ],
)
def test_a_failed_step_is_its_own_page(
    client, rsps, monkeypatch, step, error, status, heading, message, links
):
    fake = open_session(client, rsps)
    name, act = STEPS[step]
    monkeypatch.setattr(routes, name, raising(error))
    response = act(client)
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    assert title(html) == heading
    assert message in html
    assert (href(html, "back-link"), href(html, "retry-link")) == links
    no_traceback(html)
    assert fake.transactions == []


@pytest.mark.parametrize("step", list(STEPS))
def test_a_token_refused_after_its_renewal_is_the_relaunch_page(client, rsps, monkeypatch, step):
    fake = open_session(client, rsps)
    name, act = STEPS[step]
    monkeypatch.setattr(routes, name, raising(TokenExpired("HTTP 401", status=401)))
    response = act(client)
    html = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "relaunch" in html.lower()
    no_traceback(html)
    assert fake.transactions == []


def test_a_confirm_without_the_reviewed_plan_is_refused_with_a_way_back(client, rsps):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    response = client.post("/patient/plan", data={**fields, "fingerprint": " "}, headers=ORIGIN)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert title(html) == "The form was incomplete"
    assert "did not say which plan you reviewed, so nothing was written" in html
    assert (href(html, "back-link"), href(html, "retry-link")) == PREVIEW_BACK
    assert fake.transactions == []


def test_acknowledging_an_unknown_check_is_not_found(client, rsps):
    fake = open_session(client, rsps)
    _, html, _ = page(client)
    fields = {**ack_fields(html, CHECK), "reason": "Arranged by the GP"}
    response = client.post(
        "/patient/findings/no-such-check/acknowledge", data=fields, headers=ORIGIN
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert title(html) == "No such check"
    assert "There is no check with that name; nothing was written." in html
    assert [a for _, a in elements(html) if a.get("id") == "retry-link"] == []
    assert fake.transactions == []
