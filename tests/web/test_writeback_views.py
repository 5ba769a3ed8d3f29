"""The write-back in the web app: preview, confirm, acknowledge (smartapp.web.writeback).

Flask test client against the unit tests' fake FHIR server (tests/support/fake_fhir.py):
transactions (PUT stored, FHIRPath Patch applied, Provenance POSTed), reads by id, and
failures on demand. The real server is the integration test's job.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from fhir_mappings.write.writeback import PlanItem, WritePlan
from smartapp.web.writeback import author, routes
from smartapp.web.writeback import page as writeback_page
from smartapp.writeback import PatientPlan
from tests.launch.launch_fakes import FULL_SCOPES, ISS, OPEN_ISS
from tests.support.fake_fhir import FakeFhir
from tests.support.navigation import TYPED
from tests.support.pages import article, demo, elements, page

ORIGIN = {"Origin": "http://localhost"}
SLUG = "recurrent-infections"  # ig-monitoring overdue, ig-low and infection-active alerts
WRITE_SCOPES = FULL_SCOPES + " patient/Provenance.c"

Resource = dict[str, Any]


# -- helpers ------------------------------------------------------------------------------


def open_session(client: FlaskClient, rsps: responses.RequestsMock, slug: str = SLUG, **kw: Any):
    fake = FakeFhir(demo(slug), base=OPEN_ISS, **kw).install(rsps)
    response = client.get("/open", query_string={"iss": OPEN_ISS, "patient": slug}, headers=TYPED)
    assert response.status_code == 302, response.get_data(as_text=True)
    return fake


def ehr_session(client: FlaskClient, ehr: Any, rsps: responses.RequestsMock, scope: str, **kw):
    ehr.patient = SLUG
    ehr.granted_scope = scope
    ehr.sign_in(client)
    practitioner = {
        "resourceType": "Practitioner",
        "id": "dr-1",
        "name": [{"use": "official", "prefix": ["Dr"], "given": ["Jane"], "family": "Doe"}],
    }
    return FakeFhir([*demo(SLUG), practitioner], base=ISS, **kw).install(rsps)


def hidden_fields(html: str, form_id: str) -> dict[str, str]:
    """The named inputs of the form with `form_id`."""
    start = html.index(f'id="{form_id}"')
    start = html.rindex("<form", 0, start + 1)
    chunk = html[start : html.index("</form>", start)]
    return {
        attrs["name"]: attrs.get("value", "")
        for tag, attrs in elements(chunk)
        if tag == "input" and "name" in attrs
    }


def preview(client: FlaskClient) -> tuple[str, dict[str, str]]:
    response = client.get("/patient/plan")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    return html, hidden_fields(html, "confirm-plan")


def rows(html: str) -> list[dict[str, str]]:
    return [attrs for tag, attrs in elements(html) if tag == "tr" and "data-action" in attrs]


def confirm(client: FlaskClient, fields: dict[str, str], **headers: str):
    return client.post("/patient/plan", data=fields, headers={**ORIGIN, **headers})


def ack_fields(html: str, check: str) -> dict[str, str]:
    return hidden_fields(html, f"ack-{check}-reason-form")


def acknowledge(client: FlaskClient, check: str, reason: str):
    """Post `check`'s acknowledge form, from the dashboard as it is now, with `reason`."""
    _, html, _ = page(client)
    return client.post(
        f"/patient/findings/{check}/acknowledge",
        data={**ack_fields(html, check), "reason": reason},
        headers=ORIGIN,
    )


def href(html: str, element_id: str) -> str | None:
    return next((a.get("href") for _, a in elements(html) if a.get("id") == element_id), None)


def no_traceback(html: str) -> None:
    assert "Traceback" not in html
    assert 'File "' not in html


# -- the dashboard offers the actions -----------------------------------------------------


def test_dashboard_offers_save_plan_and_an_ack_form_per_actionable_finding(client, rsps):
    open_session(client, rsps)
    _, html, _ = page(client)
    plan = html[html.index('id="plan"') : html.index('id="findings"')]
    assert 'id="save-plan" href="/patient/plan"' in plan
    assert "writeback.css" in html
    for check in ("infection-active", "ig-low", "ig-monitoring"):
        card = article(html, check)
        assert 'class="wb-ack"' in card, check
        fields = ack_fields(html, check)
        assert fields["csrf_token"] and fields["launch_id"] and fields["patient"] == SLUG
        assert f'action="/patient/findings/{check}/acknowledge"' in card
        assert 'maxlength="500"' in card and "required" in card
    # Findings that need nothing get no form.
    assert "wb-ack" not in article(html, "hbv-screening")
    assert "wb-ack" not in article(html, "pml")


def test_ids_stay_unique_with_the_forms(client, rsps):
    open_session(client, rsps)
    _, html, _ = page(client)
    ids = [attrs["id"] for _, attrs in elements(html) if "id" in attrs]
    assert len(ids) == len(set(ids))
    for _, attrs in elements(html):
        for target in attrs.get("aria-describedby", "").split():
            assert target in ids, target


# -- preview -----------------------------------------------------------------------------


def test_preview_lists_what_will_be_written_and_writes_nothing(client, rsps):
    fake = open_session(client, rsps)
    html, fields = preview(client)
    items = rows(html)
    creates = [r for r in items if r["data-action"] == "create" and r["data-resource"] == "Task"]
    assert {r["data-check"] for r in creates} == {"infection-active", "ig-low", "ig-monitoring"}
    assert items[0]["data-resource"] == "CarePlan"
    assert items[-1]["data-resource"] == "Provenance"
    # Action word AND icon, resource type, description, due date.
    assert 'wb-action-create"><svg' in html and ">Create</span>" in html
    assert ">Update</span>" in html
    assert "Monitoring plan (CarePlan)" in html
    assert re.search(r"<time datetime=\"\d{4}-\d\d-\d\d\">", html)
    assert "3 new Tasks" in html
    # The confirm form and the way back.
    assert fields["csrf_token"] and fields["launch_id"] and fields["patient"] == SLUG
    assert re.fullmatch(r"[0-9a-f]{16}", fields["fingerprint"])
    assert 'id="cancel-link"' in html and 'href="/patient"' in html
    assert "writeback.css" in html and "dashboard.css" in html
    assert fake.transactions == []
    assert len(fake.batches) == 1


def test_preview_patient_name_and_descriptions_are_escaped(client, rsps, monkeypatch):
    open_session(client, rsps, "escaping")
    real = routes.plan_for_patient

    def hostile(*args: Any, **kwargs: Any) -> PatientPlan:
        prepared = real(*args, **kwargs)
        item = PlanItem(
            "create", "Task", '<script>alert("t")</script> & <b>bold</b>', date(2030, 1, 2)
        )
        plan = WritePlan(
            prepared.plan.patient_id,
            prepared.plan.bundle,
            (*prepared.plan.preview[:1], item),
        )
        return replace(prepared, plan=plan)

    monkeypatch.setattr(routes, "plan_for_patient", hostile)
    html, _ = preview(client)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the patient's family name
    assert "<b>" not in html


def test_preview_without_a_launch_is_the_relaunch_page(client):
    response = client.get("/patient/plan")
    assert response.status_code == 401
    no_traceback(response.get_data(as_text=True))


# -- confirm -----------------------------------------------------------------------------


def test_confirm_without_csrf_token_is_refused(client, rsps):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    fields.pop("csrf_token")
    response = confirm(client, fields)
    assert response.status_code == 400
    assert "did not come from this app" in response.get_data(as_text=True)
    # A cross-site post with the right token is refused as well.
    _, fields = preview(client)
    response = client.post("/patient/plan", data=fields, headers={"Origin": "https://evil.example"})
    assert response.status_code == 400
    assert fake.transactions == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        pytest.param(
            {"launch_id": "an-older-launch"},
            ("earlier launch", "nothing was written"),
            id="from-another-launch",
        ),
        pytest.param({"patient": "someone-else"}, ("another patient",), id="for-another-patient"),
        pytest.param({"fingerprint": None}, ("which plan you reviewed",), id="without-fingerprint"),
    ],
)
def test_confirm_of_a_form_that_does_not_match_is_refused(client, rsps, change, says):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    posted = {name: value for name, value in {**fields, **change}.items() if value is not None}
    response = confirm(client, posted)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    for text in says:
        assert text in html
    no_traceback(html)
    assert fake.transactions == []


def test_confirm_after_relaunch_for_another_patient_is_refused(client, rsps):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    # The same browser opens the app again (another tab): a new launch.
    client.get(
        "/open",
        query_string={"iss": OPEN_ISS, "patient": "ig-low"},
        headers=TYPED,
    )
    response = confirm(client, fields)
    assert response.status_code == 400
    assert fake.transactions == []


def test_confirm_writes_once_redirects_and_the_dashboard_shows_the_banner(client, rsps):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    response = confirm(client, fields)
    assert response.status_code == 303
    assert response.headers["Location"] == "/patient?saved=1"
    assert len(fake.transactions) == 1
    assert len(fake.of_type("Task")) == 3

    status, html, _ = page(client, "/patient?saved=1")
    assert status == 200
    start = html.index('id="plan-saved"')
    banner = html[start : html.index("</div>", start)]
    assert 'role="status"' in banner
    assert "Plan saved: 3 created, 0 updated, 0 completed (Tasks)." in banner
    assert "Monitoring plan (CarePlan) created." in banner
    # The Tasks are listed in the plan section.
    plan = html[html.index('id="tasks-h"') : html.index('id="findings"')]
    assert plan.count("task-open") == 3
    # The banner is shown once.
    _, again, _ = page(client, "/patient?saved=1")
    assert 'id="plan-saved"' not in again


def test_double_click_writes_once_and_both_clicks_see_the_saved_banner(client, rsps):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    first = confirm(client, fields)
    second = confirm(client, fields)  # the same form again
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == "/patient?saved=1"
    assert len(fake.transactions) == 1
    assert len(fake.of_type("Task")) == 3
    _, html, _ = page(client, "/patient?saved=1")
    assert html.count("Plan saved: 3 created, 0 updated, 0 completed (Tasks).") >= 1
    # A new preview: the saved plan already says all this, so there is nothing to confirm.
    response = client.get("/patient/plan")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="preview-unchanged"' in html and 'id="confirm-plan"' not in html
    assert rows(html) == []
    # A confirmation posted anyway (a new form id) writes nothing either.
    nothing = WritePlan(SLUG, {}, ()).fingerprint
    forced = {**fields, "confirm_id": "another-form", "fingerprint": nothing}
    assert confirm(client, forced).status_code == 303
    assert len(fake.transactions) == 1
    _, html, _ = page(client, "/patient?saved=1")
    assert "Nothing to save: the monitoring plan and its Tasks are already up to date." in html


def test_plan_saved_meanwhile_by_someone_else_shows_what_is_left(app, client, rsps):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    # Another user (another browser session) saves the same plan first.
    other = app.test_client()
    assert (
        other.get(
            "/open",
            query_string={"iss": OPEN_ISS, "patient": SLUG},
            headers=TYPED,
        ).status_code
        == 302
    )
    _, other_fields = preview(other)
    assert confirm(other, other_fields).status_code == 303
    response = confirm(client, fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Nothing was written" in html and "just saved" in html
    assert 'id="plan-changed"' in html and 'role="alert"' in html
    assert len(fake.transactions) == 1
    assert len(fake.of_type("Task")) == 3
    # The new preview has nothing left to write: the other user saved the same plan.
    assert rows(html) == [] and 'id="preview-unchanged"' in html


def test_changed_record_shows_the_new_preview_and_writes_nothing(client, rsps):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    # Meanwhile the infection resolves (the Condition is no longer active).
    for resource in fake.resources:
        if resource["resourceType"] == "Condition" and "infection" in json.dumps(resource).lower():
            resource["clinicalStatus"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "resolved",
                    }
                ]
            }
    response = confirm(client, fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "record changed since you reviewed the plan" in html
    assert fake.transactions == []
    new_fields = hidden_fields(html, "confirm-plan")
    assert new_fields["fingerprint"] != fields["fingerprint"]
    checks = {r.get("data-check") for r in rows(html) if r["data-resource"] == "Task"}
    assert "infection-active" not in checks
    # Confirming the new preview writes it.
    assert confirm(client, new_fields).status_code == 303
    assert len(fake.transactions) == 1


@pytest.mark.parametrize(
    ("status", "text"),
    [(422, "Task.code: <b>unknown</b> code"), (500, "database is down")],
)
def test_server_failure_says_nothing_was_written_without_a_traceback(client, rsps, status, text):
    fake = open_session(client, rsps, tx_failures=[(status, text)])
    _, fields = preview(client)
    response = confirm(client, fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "Nothing was written:" in html
    assert "database is down" in html or "&lt;b&gt;unknown&lt;/b&gt;" in html
    assert "<b>unknown" not in html
    assert href(html, "retry-link") == "/patient/plan"
    no_traceback(html)
    assert fake.of_type("Task") == []


def test_server_down_on_the_confirm_read_is_a_clear_page(client, rsps):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    fake.fail_all = 400  # (a 5xx is retried with backoff first: slower, same outcome)
    response = confirm(client, fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "Nothing was written: the patient&#39;s record could not be read" in html
    no_traceback(html)
    assert fake.transactions == []
    # The preview says the same instead of failing.
    response = client.get("/patient/plan")
    assert response.status_code == 502
    no_traceback(response.get_data(as_text=True))


def test_expired_token_is_refreshed_once_and_the_write_goes_through(client, ehr, rsps):
    ehr.refresh_token = "RT"
    fake = ehr_session(client, ehr, rsps, WRITE_SCOPES)
    _, fields = preview(client)
    fake.tx_failures.append((401, "token expired"))
    response = confirm(client, fields)
    assert response.status_code == 303, response.get_data(as_text=True)
    grants = [r.body for r in ehr.token_requests]
    assert any("grant_type=refresh_token" in str(body) for body in grants)
    assert len(fake.transactions) == 1


def test_expired_token_without_refresh_is_the_relaunch_page(client, ehr, rsps):
    fake = ehr_session(client, ehr, rsps, WRITE_SCOPES)
    _, fields = preview(client)
    fake.tx_failures.append((401, "token expired"))
    response = confirm(client, fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 401
    assert "relaunch" in html.lower()
    no_traceback(html)
    assert fake.transactions == []


def test_ehr_user_is_the_requester_with_a_name(client, ehr, rsps):
    fake = ehr_session(client, ehr, rsps, WRITE_SCOPES)
    _, fields = preview(client)
    assert confirm(client, fields).status_code == 303
    task = fake.of_type("Task")[0]
    assert task["requester"] == {"reference": "Practitioner/dr-1", "display": "Dr Jane Doe"}


# -- without write rights ------------------------------------------------------------------


def _with_csrf(client: FlaskClient) -> str:
    with client.session_transaction() as session:
        session["_csrf"] = "test-token"
    return "test-token"


@pytest.mark.parametrize(
    ("scope", "why"),
    [
        ("launch openid fhirUser patient/*.rs", "read-only"),
        (FULL_SCOPES, "Provenance"),  # CarePlan and Task writes, but no Provenance write
    ],
)
def test_without_write_rights_no_button_and_posts_are_403(client, ehr, rsps, scope, why):
    fake = ehr_session(client, ehr, rsps, scope)
    _, html, _ = page(client)
    assert 'id="save-plan"' not in html
    assert "wb-ack" not in html and "/acknowledge" not in html
    if why == "Provenance":
        assert 'id="save-plan-refused"' in html and "Provenance" in html
    assert client.get("/patient/plan").status_code == 403
    token = _with_csrf(client)
    launch = {"csrf_token": token, "launch_id": "x", "patient": SLUG}
    for path in ("/patient/plan", "/patient/findings/ig-low/acknowledge"):
        response = client.post(path, data={**launch, "reason": "r"}, headers=ORIGIN)
        body = response.get_data(as_text=True)
        assert response.status_code == 403, path
        assert why in body and "Nothing was written" in body
        no_traceback(body)
    assert fake.transactions == []


# -- acknowledge -----------------------------------------------------------------------------


def test_acknowledge_with_a_reason_closes_the_task_and_the_card_shows_it(client, rsps):
    fake = open_session(client, rsps)
    _, html, _ = page(client)
    fields = ack_fields(html, "infection-active")
    reason = "Treated by GP, <b>resolved</b> & reviewed"
    response = client.post(
        "/patient/findings/infection-active/acknowledge",
        data={**fields, "reason": f"  {reason}\n "},
        headers=ORIGIN,
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert response.headers["Location"] == "/patient#finding-infection-active"
    assert len(fake.transactions) == 1
    written = [e["resource"] for e in fake.transactions[0]["entry"]]
    task = next(r for r in written if r["resourceType"] == "Task")
    assert task["status"] == "cancelled"
    assert task["statusReason"] == {"text": reason}
    assert f"on {date.today().isoformat()}: {reason}" in task["note"][0]["text"]
    assert any(r["resourceType"] == "Provenance" for r in written)

    _, html, _ = page(client)
    card = article(html, "infection-active")
    assert "Acknowledged by an unidentified user (open server, no sign-in) on" in card
    assert "&lt;b&gt;resolved&lt;/b&gt; &amp; reviewed" in card
    assert "wb-ack" not in card  # acknowledged: no second form
    assert 'id="ack-saved"' in html
    # Saving the plan afterwards does not task it again.
    html, _ = preview(client)
    assert "infection-active" not in {r.get("data-check") for r in rows(html)}


def test_acknowledging_an_open_task_patches_it(client, rsps):
    fake = open_session(client, rsps)
    _, fields = preview(client)
    assert confirm(client, fields).status_code == 303
    response = acknowledge(client, "ig-low", "IVIG discussed with immunology")
    assert response.status_code == 303
    entries = fake.transactions[-1]["entry"]
    assert entries[0]["request"]["method"] == "PATCH"
    _, html, _ = page(client)
    assert "IVIG discussed with immunology" in article(html, "ig-low")
    assert len(fake.of_type("Task")) == 3


@pytest.mark.parametrize("reason", ["", "   \n  ", "x" * 501])
def test_empty_or_too_long_reason_shows_the_form_again(client, rsps, reason):
    fake = open_session(client, rsps)
    _, html, _ = page(client)
    fields = ack_fields(html, "ig-low")
    response = client.post(
        "/patient/findings/ig-low/acknowledge", data={**fields, "reason": reason}, headers=ORIGIN
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'role="alert"' in html and 'aria-invalid="true"' in html
    assert ("Enter the reason" in html) if len(reason) <= 500 else ("keep it to 500" in html)
    again = hidden_fields(html, "ack-ig-low-reason-form")
    assert again["launch_id"] == fields["launch_id"] and again["csrf_token"]
    assert 'href="/patient#finding-ig-low"' in html
    assert fake.transactions == []


def test_hostile_reason_is_shown_back_as_text(client, rsps):
    open_session(client, rsps)
    _, html, _ = page(client)
    reason = "<script>alert(1)</script>" * 30
    response = client.post(
        "/patient/findings/ig-low/acknowledge",
        data={**ack_fields(html, "ig-low"), "reason": reason},
        headers=ORIGIN,
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<script>" not in body and "&lt;script&gt;" in body


def test_acknowledge_needs_csrf_and_the_current_launch(client, rsps):
    fake = open_session(client, rsps)
    _, html, _ = page(client)
    fields = ack_fields(html, "ig-low")
    url = "/patient/findings/ig-low/acknowledge"
    no_token = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert client.post(url, data={**no_token, "reason": "r"}, headers=ORIGIN).status_code == 400
    other = {**fields, "launch_id": "older", "reason": "r"}
    assert client.post(url, data=other, headers=ORIGIN).status_code == 400
    assert fake.transactions == []


def test_acknowledge_unknown_check_or_nothing_to_acknowledge(client, rsps):
    fake = open_session(client, rsps)
    _, html, _ = page(client)
    fields = {**ack_fields(html, "ig-low"), "reason": "because"}
    response = client.post("/patient/findings/no-such/acknowledge", data=fields, headers=ORIGIN)
    assert response.status_code == 404
    # hbv-screening is OK: there is no Task and no finding to acknowledge.
    response = client.post(
        "/patient/findings/hbv-screening/acknowledge", data=fields, headers=ORIGIN
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Nothing was written" in html
    no_traceback(html)
    assert fake.transactions == []


def test_acknowledge_names_the_ehr_user(client, ehr, rsps):
    fake = ehr_session(client, ehr, rsps, WRITE_SCOPES)
    response = acknowledge(client, "ig-low", "Repeat IgG booked")
    assert response.status_code == 303
    assert "Practitioner/dr-1" in fake.reads
    _, html, _ = page(client)
    assert "Acknowledged by Dr Jane Doe on" in article(html, "ig-low")
    provenance = next(
        e["resource"]
        for e in fake.transactions[-1]["entry"]
        if e["resource"]["resourceType"] == "Provenance"
    )
    assert "Practitioner/dr-1" in json.dumps(provenance)


def test_acknowledge_falls_back_to_the_user_reference(client, ehr, rsps):
    fake = ehr_session(client, ehr, rsps, WRITE_SCOPES, read_status={"Practitioner/dr-1": 403})
    response = acknowledge(client, "ig-low", "Repeat IgG booked")
    assert response.status_code == 303
    assert len(fake.transactions) == 1
    _, html, _ = page(client)
    assert "Acknowledged by Practitioner/dr-1 on" in article(html, "ig-low")


def test_acknowledge_failure_is_a_clear_page(client, rsps):
    fake = open_session(client, rsps, tx_failures=[(500, "boom")])
    response = acknowledge(client, "ig-low", "Repeat IgG booked")
    body = response.get_data(as_text=True)
    assert response.status_code == 502
    assert "Nothing was written" in body and 'href="/patient#finding-ig-low"' in body
    no_traceback(body)
    assert fake.of_type("Task") == []


# -- small pieces ---------------------------------------------------------------------------


def test_human_name_prefers_official_text_then_parts():
    assert author.human_name([{"text": "  Dr  A  B "}]) == "Dr A B"
    names = [
        {"use": "old", "family": "Old"},
        {"use": "official", "given": ["Ann"], "family": "Lee"},
    ]
    assert author.human_name(names) == "Ann Lee"
    assert author.human_name([{}]) is None
    assert author.human_name("Dr X") is None
    assert author.human_name(None) is None


def test_a_reopened_alert_task_is_counted_in_the_preview_summary(client):
    from flask import render_template

    from tests.writeback.factories import summary as make_summary

    plan = WritePlan(
        "p1",
        {"resourceType": "Bundle", "type": "transaction", "entry": []},
        (
            PlanItem("update", "CarePlan", "Save the plan", None),
            PlanItem(
                "update",
                "Task",
                "Reopen: Active infection (new evidence: pneumonia)",
                None,
                check="infection-active",
                reference="Task/t1",
            ),
            PlanItem("create", "Provenance", "Record who saved this", None),
        ),
    )
    view = writeback_page.preview_page(plan, make_summary(), "launch-1")
    assert (view.tasks_reopened, view.task_changes) == (1, 1)
    with client.application.test_request_context("/patient/plan"):
        html = render_template("writeback/preview.html", preview=view)
    assert "1 alert Task reopened for new evidence" in html
    assert "no Task to create, complete or cancel" not in html
