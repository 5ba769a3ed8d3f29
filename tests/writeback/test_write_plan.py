"""Posting the write-back (smartapp.writeback) against a mocked server (responses)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests
import responses

from domain.findings import Status
from fhir_mappings.write.writeback import WritePlan, build_writeback
from smartapp import writeback
from smartapp.fhir import FhirClient, TokenExpired
from smartapp.writeback import (
    PatientPlan,
    WriteResult,
    acknowledge,
    with_verified_author,
    write_plan,
    writeback_patient,
)
from tests.fhir.fhir_fakes import outcome
from tests.support.threads import Overlap, run_together
from tests.writeback.factories import (
    NOW,
    USER,
    app_task,
    context,
    finding,
    ok,
    record,
    summary,
    tx_response,
)

BASE = "https://ehr.example.org/fhir"
DUE = date(2025, 6, 20)


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client() -> Iterator[FhirClient]:
    with FhirClient(BASE, token="tok", sleep=no_sleep) as fhir:
        yield fhir


def plan_with_changes() -> WritePlan:
    """CarePlan PUT, a new Task PUT, a completion PATCH, the Provenance POST."""
    return build_writeback(
        summary(
            finding("cbc-baseline", Status.DUE, action_code="order-cbc", due=DUE),
            ok("mri-monitoring"),
        ),
        record(tasks=[app_task("mri-monitoring", DUE, task_id="m1", version="2")]),
        context(),
    )


def sent_body(http: responses.RequestsMock, index: int) -> Any:
    body = http.calls[index].request.body
    assert body is not None
    return json.loads(body)


def no_sleep(_: float) -> None:
    return None


def test_success_is_parsed_entry_by_entry(client: FhirClient, http: responses.RequestsMock) -> None:
    plan = plan_with_changes()
    cp, task = (e["request"]["url"] for e in plan.bundle["entry"][:2])
    http.post(
        BASE,
        json=tx_response(
            ("201 Created", f"{cp}/_history/1"),
            ("201 Created", f"{task}/_history/1"),
            ("200 OK", "Task/m1/_history/3"),
            ("201 Created", "Provenance/p1/_history/1"),
        ),
    )
    result = write_plan(client, plan)
    assert result.ok
    assert [e.outcome for e in result.entries] == ["created", "created", "completed", "created"]
    assert [e.reference for e in result.entries] == [cp, task, "Task/m1", "Provenance/p1"]
    assert result.entries[2].status == 200
    assert (
        result.message == "Saved: monitoring plan created, 1 task(s) created, 1 task(s) completed."
    )
    assert result.attempts == 1
    sent = sent_body(http, 0)
    assert sent == plan.bundle
    assert http.calls[0].request.headers["Content-Type"] == "application/fhir+json"
    json.dumps(result.to_json())


def test_second_run_reports_updates_and_no_change(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    plan = plan_with_changes()
    cp, task = (e["request"]["url"] for e in plan.bundle["entry"][:2])
    http.post(
        BASE,
        json=tx_response(
            ("200 OK", f"{cp}/_history/2"),
            ("200 OK", f"{task}/_history/1", "SUCCESSFUL_UPDATE_NO_CHANGE"),
            ("200 OK", "Task/m1/_history/3"),
            ("201 Created", "Provenance/p2/_history/1"),
        ),
    )
    result = write_plan(client, plan)
    assert [e.outcome for e in result.entries] == ["updated", "unchanged", "completed", "created"]


def test_conditional_create_that_matched_is_reported_as_existing(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    plan = build_writeback(
        summary(finding("cbc-baseline", Status.DUE, action_code="order-cbc", due=DUE)),
        record(),
        context(id_strategy="conditional"),
    )
    http.post(
        BASE,
        json=tx_response(
            ("200 OK", "CarePlan/5/_history/2"),
            ("200 OK", "Task/9/_history/1"),
            ("201 Created", "Provenance/p/_history/1"),
        ),
    )
    result = write_plan(client, plan)
    assert [e.outcome for e in result.entries] == ["updated", "already existed", "created"]
    assert result.entries[1].reference == "Task/9"
    assert "1 task(s) already existed" in result.message


def test_rejected_transaction_writes_nothing_and_says_why(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(
        BASE,
        status=400,
        json=outcome("Task.for: Resource Patient/pat-1 not found"),
    )
    result = write_plan(client, plan_with_changes(), sleep=no_sleep)
    assert not result.ok
    assert result.entries == ()
    assert result.status == 400
    assert result.message.startswith("Nothing was written:")
    assert "Patient/pat-1 not found" in result.message
    assert len(http.calls) == 1  # a 400 is not retried


def test_lost_create_race_is_retried(client: FhirClient, http: responses.RequestsMock) -> None:
    plan = plan_with_changes()
    http.post(BASE, status=409, json=outcome("client-assigned ID constraint failure"))
    http.post(
        BASE,
        json=tx_response(
            ("200 OK", "CarePlan/a/_history/2"),
            ("200 OK", "Task/b/_history/2"),
            ("200 OK", "Task/m1/_history/3"),
            ("201 Created", "Provenance/p/_history/1"),
        ),
    )
    sleeps: list[float] = []
    result = write_plan(client, plan, sleep=sleeps.append)
    assert result.ok
    assert result.attempts == 2
    assert len(sleeps) == 1
    assert sent_body(http, 1) == plan.bundle


def test_conflict_with_rebuild_writes_the_fresh_plan(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    stale = plan_with_changes()
    fresh = build_writeback(summary(), record(), context())
    http.post(BASE, status=412, json=outcome("version conflict"))
    http.post(
        BASE,
        json=tx_response(("200 OK", "CarePlan/a/_history/3"), ("201 Created", "Provenance/p")),
    )
    result = write_plan(client, stale, rebuild=lambda: fresh, sleep=no_sleep)
    assert result.ok
    assert result.plan is fresh
    assert sent_body(http, 1) == fresh.bundle


def test_precondition_failure_without_rebuild_is_not_retried(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(BASE, status=412, json=outcome("version conflict"))
    result = write_plan(client, plan_with_changes(), sleep=no_sleep)
    assert not result.ok
    assert len(http.calls) == 1
    assert "changed at the same time" in result.message


def test_conflict_gives_up_after_the_attempts(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(BASE, status=409, json=outcome("conflict"))
    result = write_plan(client, plan_with_changes(), attempts=3, sleep=no_sleep)
    assert not result.ok
    assert result.attempts == 3
    assert len(http.calls) == 3
    assert result.status == 409


def test_expired_token_is_raised_for_the_caller_to_refresh(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(BASE, status=401)
    with pytest.raises(TokenExpired):
        write_plan(client, plan_with_changes())


def test_no_answer_says_saving_again_is_safe(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(BASE, body=requests.ConnectionError("refused"))
    result = write_plan(client, plan_with_changes())
    assert not result.ok
    assert "may or may not have been saved; saving again is safe" in result.message


def test_unreadable_response_is_ok_with_unknown_outcomes(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(BASE, json=tx_response())
    result = write_plan(client, plan_with_changes())
    assert result.ok
    assert {e.outcome for e in result.entries} == {"unknown"}


def test_writes_for_one_patient_are_serialised_in_process(http: responses.RequestsMock) -> None:
    overlap = Overlap()

    def slow(request: Any) -> tuple[int, dict[str, str], str]:
        with overlap:
            time.sleep(0.02)
        body = tx_response(("200 OK", "CarePlan/a"), ("201 Created", "Provenance/p"))
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(body)

    http.add_callback(responses.POST, BASE, callback=slow)
    plan = build_writeback(summary(), record(), context())

    def run() -> None:
        with FhirClient(BASE) as own:  # a client per thread, as in the web app
            assert write_plan(own, plan).ok

    run_together([run] * 8)
    assert len(http.calls) == 8
    assert overlap.most == 1


# -- acknowledge --------------------------------------------------------------------------


def test_acknowledge_posts_one_transaction(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.post(
        BASE,
        json=tx_response(("200 OK", "Task/t-hbv/_history/3"), ("201 Created", "Provenance/p")),
    )
    rec = record(tasks=[app_task("hbv-serology", DUE, task_id="t-hbv", version="2")])
    result = acknowledge(client, rec, "hbv-serology", "arranged by hepatology", "Dr Who", NOW)
    assert result.ok
    assert result.message == "Acknowledged: 1 task(s) closed with the reason."
    sent = sent_body(http, 0)
    assert [e["request"]["method"] for e in sent["entry"]] == ["PATCH", "POST"]
    assert sent["entry"][0]["request"]["ifMatch"] == 'W/"2"'


def test_acknowledge_with_nothing_open_sends_nothing(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    result = acknowledge(client, record(), "hbv-serology", "reason", "Dr Who", NOW)
    assert not result.ok
    assert "no open task" in result.message
    assert len(http.calls) == 0


def test_acknowledge_uses_the_context_user(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/Practitioner/42", json={"resourceType": "Practitioner", "id": "42"})
    http.post(
        BASE, json=tx_response(("200 OK", "Task/t/_history/2"), ("201 Created", "Provenance/p"))
    )
    rec = record(tasks=[app_task("pml", DUE, task_id="t")])
    ctx = context(author_reference=f"{BASE}/Practitioner/42", fhir_base=BASE)
    acknowledge(client, rec, "pml", "seen by neurology", "Dr Who", NOW, context=ctx)
    sent = sent_body(http, 1)
    provenance = sent["entry"][-1]["resource"]
    assert provenance["agent"][0]["who"]["reference"] == "Practitioner/42"


# -- the confirm step -----------------------------------------------------------------------


def confirm(client: FhirClient, fingerprint: str) -> WriteResult:
    """The confirm step for pat-1 (its read is replaced by the test's plan)."""
    return writeback_patient(
        client,
        "pat-1",
        context(),
        mappings=None,
        settings=None,
        as_of=DUE,
        expected_fingerprint=fingerprint,
    )


def test_confirm_writes_nothing_when_the_plan_changed_since_the_preview(
    client: FhirClient, http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = build_writeback(
        summary(finding("cbc-baseline", Status.DUE, action_code="order-cbc", due=DUE)),
        record(),
        context(),
    )
    seen = build_writeback(summary(), record(), context())
    monkeypatch.setattr(
        writeback,
        "plan_for_patient",
        lambda *a, **k: PatientPlan(record(), summary(), current),
    )
    http.get(f"{BASE}/{USER}", json={"resourceType": "Practitioner", "id": "dr-who"})
    result = confirm(client, seen.fingerprint)
    assert not result.ok
    assert result.changed
    assert result.plan is current
    assert [c.request.method for c in http.calls] == ["GET"]  # the user check; no POST


def test_confirm_writes_when_the_plan_is_what_the_user_saw(
    client: FhirClient, http: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = build_writeback(summary(), record(), context())
    monkeypatch.setattr(
        writeback, "plan_for_patient", lambda *a, **k: PatientPlan(record(), summary(), plan)
    )
    http.get(f"{BASE}/{USER}", json={"resourceType": "Practitioner", "id": "dr-who"})
    http.post(
        BASE, json=tx_response(("201 Created", "CarePlan/a"), ("201 Created", "Provenance/p"))
    )
    result = confirm(client, plan.fingerprint)
    assert result.ok
    assert result.message == "Saved: monitoring plan created, no task changes."


# -- the user's reference -------------------------------------------------------------------


def test_user_missing_on_the_server_is_recorded_by_name_only(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/Practitioner/ghost", status=404)
    ctx = with_verified_author(
        client, context(author_reference=f"{BASE}/Practitioner/ghost", fhir_base=BASE)
    )
    assert ctx.author_reference is None
    assert ctx.author == {"display": "Dr Who"}
    plan = build_writeback(
        summary(finding("cbc-baseline", Status.DUE, action_code="order-cbc", due=DUE)),
        record(),
        ctx,
    )
    (task,) = [
        e["resource"] for e in plan.bundle["entry"] if e["resource"]["resourceType"] == "Task"
    ]
    assert task["requester"] == {"display": "Dr Who"}


def test_user_without_a_name_is_recorded_by_reference_text(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/Practitioner/ghost", status=404)
    ctx = with_verified_author(
        client, context(author_reference="Practitioner/ghost", author_display=None)
    )
    assert ctx.author == {"display": "Practitioner/ghost"}


@pytest.mark.parametrize("status", [200, 403, 500])
def test_user_reference_is_kept_unless_the_server_says_it_is_gone(
    client: FhirClient, http: responses.RequestsMock, status: int
) -> None:
    http.get(f"{BASE}/Practitioner/42", status=status, json={"resourceType": "Practitioner"})
    ctx = context(author_reference="Practitioner/42")
    assert with_verified_author(client, ctx) == ctx


def test_a_read_that_returns_no_patient_writes_nothing_and_says_why(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    from fhir_mappings.site import load_mappings
    from smartapp.rules.settings import RuleSettings

    http.post(BASE, status=500, json={"resourceType": "OperationOutcome", "issue": []})
    result = writeback.writeback_patient(
        client,
        "p1",
        context(),
        mappings=load_mappings(None),
        settings=RuleSettings(),
        as_of=DUE,
    )
    assert not result.ok
    assert result.message.startswith("Nothing was written: the patient's record could not be read")
    # Only reads were attempted: no transaction was ever posted.
    assert not any(b'"transaction"' in (call.request.body or b"") for call in http.calls)
