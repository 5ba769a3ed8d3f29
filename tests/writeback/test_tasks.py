"""SPEC §4 "Write-back": one Task per actionable finding, field by field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.findings import Finding, Severity, Status
from domain.records import PatientRecord
from fhir_mappings.canonical import ACTION_SYSTEM, CANONICAL
from fhir_mappings.terminology import action_codesystem
from fhir_mappings.write.common import task_id
from fhir_mappings.write.writeback import WriteContext, WritePlan, build_writeback
from smartapp.rules.actions import ACTIONS, UNTASKED
from tests.writeback.factories import (
    ACTION_CASES,
    AS_OF,
    PATIENT,
    USER,
    context,
    evidence,
    finding,
    r4_roundtrip,
    record,
    resources,
    summary,
)


def only_task(
    *findings: Finding, ctx: WriteContext | None = None, rec: PatientRecord | None = None
) -> tuple[WritePlan, dict[str, Any]]:
    plan = build_writeback(summary(*findings), rec or record(), ctx or context())
    tasks = resources(plan.bundle, "Task")
    assert len(tasks) == 1, plan.describe()
    return plan, tasks[0]


def test_every_action_code_is_covered_and_in_the_codesystem() -> None:
    codes = {concept["code"] for concept in action_codesystem()["concept"]}
    assert {case[1] for case in ACTION_CASES} == codes - UNTASKED
    assert {a.code for a in ACTIONS} <= codes
    assert action_codesystem()["url"] == ACTION_SYSTEM


@pytest.mark.parametrize(("check", "code", "status", "severity"), ACTION_CASES)
def test_task_per_action_kind_has_the_spec_fields(
    check: str, code: str, status: Status, severity: Severity
) -> None:
    due = date(2025, 6, 20)
    f = finding(
        check,
        status,
        severity,
        action_code=code,
        due=due,
        evidence_refs=[evidence("Observation/obs-1", display="HBsAg negative")],
    )
    plan, task = only_task(f)
    careplan_ref = resources(plan.bundle, "CarePlan")[0]["id"]

    assert task["status"] == "requested"
    assert task["intent"] == "order"
    assert (
        task["priority"]
        == {
            Severity.CRITICAL: "stat",
            Severity.HIGH: "urgent",
            Severity.MODERATE: "asap",
            Severity.LOW: "routine",
            Severity.INFO: "routine",
        }[severity]
    )
    assert task["for"] == {"reference": f"Patient/{PATIENT}"}
    assert task["basedOn"] == [{"reference": f"CarePlan/{careplan_ref}"}]
    assert task["code"]["coding"] == [
        {"system": ACTION_SYSTEM, "code": code, "display": f.action.display if f.action else ""}
    ]
    assert task["description"] == f.detail
    assert task["reasonCode"] == {"text": f.title}
    assert task["reasonReference"] == {
        "reference": "Observation/obs-1",
        "display": "HBsAg negative (2025-01-10)",
    }
    assert task["restriction"] == {"period": {"end": "2025-06-20"}}
    assert task["authoredOn"] == "2025-06-15T14:30:00Z"
    assert task["lastModified"] == "2025-06-15T14:30:00Z"
    assert task["requester"] == {"reference": USER, "display": "Dr Who"}
    assert task["identifier"] == [
        {"system": f"{CANONICAL}/task", "value": f"{PATIENT}:{check}:2025-06-20"}
    ]
    assert task["id"] == task_id(context(), f"{PATIENT}:{check}:2025-06-20")
    assert "owner" not in task
    r4_roundtrip(task)


@pytest.mark.parametrize(
    ("severity", "priority"),
    [
        (Severity.CRITICAL, "stat"),
        (Severity.HIGH, "urgent"),
        (Severity.MODERATE, "asap"),
        (Severity.LOW, "routine"),
        (Severity.INFO, "routine"),
    ],
)
def test_priority_follows_severity(severity: Severity, priority: str) -> None:
    _, task = only_task(finding("pml", Status.ALERT, severity, action_code="review-pml"))
    assert task["priority"] == priority


def test_finding_without_due_date_is_identified_none_and_due_as_of() -> None:
    _, task = only_task(
        finding("pml", Status.ALERT, Severity.CRITICAL, action_code="review-pml", due=None)
    )
    assert task["identifier"][0]["value"] == f"{PATIENT}:pml:none"
    assert task["restriction"]["period"]["end"] == AS_OF.isoformat()


def test_overdue_task_keeps_its_past_due_date() -> None:
    _, task = only_task(
        finding(
            "ig-baseline", Status.OVERDUE, action_code="order-immunoglobulins", due=date(2025, 1, 1)
        )
    )
    assert task["restriction"]["period"]["end"] == "2025-01-01"
    assert task["identifier"][0]["value"].endswith(":ig-baseline:2025-01-01")


def test_first_evidence_is_the_reason_the_rest_are_inputs() -> None:
    f = finding(
        "ig-low",
        Status.ALERT,
        action_code="review-low-immunoglobulins",
        evidence_refs=[
            evidence("Observation/igg", display="IgG 500 mg/dL"),
            evidence("urn:uuid:2b3c", display="from a file"),  # not on the server: skipped
            evidence("#contained", display="contained"),  # skipped
            evidence("Observation/igm", day=None, display="IgM 20 mg/dL"),
            evidence("Observation/igg/_history/4", display="same resource"),  # duplicate
            evidence("Condition/inf-1", display="Pneumonia"),
        ],
    )
    _, task = only_task(f)
    assert task["reasonReference"]["reference"] == "Observation/igg"
    assert [i["valueReference"] for i in task["input"]] == [
        {"reference": "Observation/igm", "display": "IgM 20 mg/dL"},
        {"reference": "Condition/inf-1", "display": "Pneumonia (2025-01-10)"},
    ]
    assert all(i["type"] == {"text": "Supporting evidence"} for i in task["input"])
    r4_roundtrip(task)


def test_no_evidence_no_reason_reference() -> None:
    _, task = only_task(finding("cbc-baseline", action_code="order-cbc"))
    assert "reasonReference" not in task
    assert "input" not in task


def test_absolute_evidence_on_our_server_is_made_relative() -> None:
    base = "https://ehr.example.org/fhir"
    f = finding(
        "cbc-baseline",
        action_code="order-cbc",
        evidence_refs=[
            evidence(f"{base}/Observation/9"),
            evidence("https://other.org/fhir/Observation/1"),
        ],
    )
    _, task = only_task(f, ctx=context(fhir_base=base))
    assert task["reasonReference"]["reference"] == "Observation/9"
    assert "input" not in task


def test_requester_absent_when_user_unknown_and_owner_when_configured() -> None:
    _, task = only_task(
        finding("cbc-baseline", action_code="order-cbc"),
        ctx=context(
            author_reference=None, author_display=None, owner_reference="Organization/ms-clinic"
        ),
    )
    assert "requester" not in task
    assert task["owner"] == {"reference": "Organization/ms-clinic"}


def test_absolute_fhir_user_is_made_relative() -> None:
    base = "https://ehr.example.org/fhir"
    _, task = only_task(
        finding("cbc-baseline", action_code="order-cbc"),
        ctx=context(author_reference=f"{base}/Practitioner/42", fhir_base=base),
    )
    assert task["requester"]["reference"] == "Practitioner/42"


@pytest.mark.parametrize("status", [Status.OK, Status.UNKNOWN, Status.NOT_APPLICABLE])
def test_no_task_for_non_actionable_status(status: Status) -> None:
    action_code = "order-hbv-screening" if status is Status.UNKNOWN else None
    plan = build_writeback(
        summary(finding("hbv-screening", status, action_code=action_code)), record(), context()
    )
    assert resources(plan.bundle, "Task") == []


def test_no_task_for_alert_without_action() -> None:
    plan = build_writeback(
        summary(finding("pregnancy", Status.ALERT, action_code=None)), record(), context()
    )
    assert resources(plan.bundle, "Task") == []


def test_one_task_per_finding_for_several_findings() -> None:
    findings = [
        finding(check, status, severity, action_code=code)
        for check, code, status, severity in ACTION_CASES
    ]
    plan = build_writeback(summary(*findings), record(), context())
    tasks = resources(plan.bundle, "Task")
    assert len(tasks) == len(ACTION_CASES)
    assert len({t["id"] for t in tasks}) == len(tasks)
    assert len({t["identifier"][0]["value"] for t in tasks}) == len(tasks)


def test_awaiting_a_pending_result_is_planned_in_progress_but_never_a_task() -> None:
    due = date(2025, 6, 20)
    f = finding(
        "ig-baseline",
        Status.DUE,
        Severity.MODERATE,
        action_code="await-pending-result",
        due=due,
        evidence_refs=[evidence("Observation/obs-1", display="IgG pending")],
    )
    plan = build_writeback(summary(f), record(), context())
    assert resources(plan.bundle, "Task") == []
    (careplan,) = resources(plan.bundle, "CarePlan")
    activities = [a["detail"] for a in careplan.get("activity", [])]
    waiting = [a for a in activities if a["code"]["coding"][0]["code"] == "await-pending-result"]
    assert len(waiting) == 1 and waiting[0]["status"] == "in-progress"
