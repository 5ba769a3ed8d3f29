"""An alert has no due date, so its Task identifier ends in `none` for good (SPEC §4).

A closed alert Task stands for the evidence it cites. A later alert of the same check that
rests on something new (a second infection, a new positive result) is not hidden by the old
acknowledgement: the write-back reopens the Task with the new evidence, and acknowledging
it again cites what the clinician saw.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from domain.findings import Severity, Status
from fhir_mappings.write.writeback import WritePlan, build_acknowledgement, build_writeback
from tests.writeback.factories import (
    app_task,
    context,
    evidence,
    finding,
    patch_ops,
    record,
    summary,
)

REASON = "Treated by GP; dose deferred one week"
MARCH = "Condition/uti-march"
NOVEMBER = "Condition/pneumonia-november"


def infection_alert(*refs: str) -> Any:
    return finding(
        "infection-active",
        Status.ALERT,
        Severity.HIGH,
        action_code="hold-for-infection",
        due=None,
        evidence_refs=[evidence(ref, display=ref.split("/")[1]) for ref in refs],
    )


def acknowledged_task(*cites: str, status: str = "cancelled") -> Any:
    return app_task(
        "infection-active",
        None,
        status=status,
        task_id="t-inf",
        version="3",
        reason=REASON,
        cites=cites,
        acknowledged_by="Dr Rivera",
    )


def task_entries(plan: Any) -> list[dict[str, Any]]:
    return [e for e in plan.bundle["entry"] if e["request"]["url"].startswith("Task")]


def test_new_evidence_reopens_the_closed_alert_task() -> None:
    rec = record(tasks=[acknowledged_task(MARCH)])
    plan = build_writeback(summary(infection_alert(MARCH, NOVEMBER)), rec, context())
    (entry,) = task_entries(plan)
    assert entry["request"] == {"method": "PATCH", "url": "Task/t-inf", "ifMatch": 'W/"3"'}
    operations = patch_ops(entry)
    assert operations[0] == ("replace", "Task.status", "requested")
    assert ("delete", "Task.statusReason", None) in operations
    assert (
        "add",
        "Task.input",
        {
            "type": {"text": "Supporting evidence"},
            "value": {"reference": NOVEMBER, "display": "pneumonia-november (2025-01-10)"},
        },
    ) in operations
    # Only the new evidence is added; the acknowledged one is already cited.
    assert sum(1 for op in operations if op[1] == "Task.input") == 1
    (note,) = [op[2] for op in operations if op[1] == "Task.note"]
    assert note["text"].startswith("Reopened: the alert now also rests on pneumonia-november")
    item = next(i for i in plan.preview if i.resource_type == "Task")
    assert (item.action, item.check, item.reference) == ("update", "infection-active", "Task/t-inf")


def test_the_same_evidence_keeps_the_acknowledgement_and_writes_no_task() -> None:
    rec = record(tasks=[acknowledged_task(MARCH, NOVEMBER)])
    plan = build_writeback(summary(infection_alert(NOVEMBER)), rec, context())
    assert task_entries(plan) == []


def test_an_open_alert_task_is_left_alone() -> None:
    open_task = acknowledged_task(MARCH, status="requested")
    plan = build_writeback(summary(infection_alert(NOVEMBER)), record(tasks=[open_task]), context())
    assert task_entries(plan) == []


def test_dated_findings_are_never_reopened() -> None:
    # Their identity is the due date: a closed Task for that date stays closed.
    due = date(2025, 7, 1)
    task = app_task("hbv-screening", due, status="completed", reason="Done elsewhere")
    overdue = finding(
        "hbv-screening",
        Status.OVERDUE,
        action_code="order-hbv-screening",
        due=due,
        evidence_refs=[evidence("Observation/new")],
    )
    plan = build_writeback(summary(overdue), record(tasks=[task]), context())
    assert task_entries(plan) == []


def test_evidence_without_a_local_reference_does_not_reopen() -> None:
    # Nothing could be cited, so a reopen would never be acknowledgeable for good.
    alert = infection_alert("https://other-ehr.example.org/fhir/Condition/x")
    plan = build_writeback(summary(alert), record(tasks=[acknowledged_task(MARCH)]), context())
    assert task_entries(plan) == []


def acknowledge_infection(task: Any, alert: Any) -> WritePlan:
    """Dr Who acknowledges the infection alert whose Task is `task`."""
    return build_acknowledgement(
        record(tasks=[task]),
        "infection-active",
        REASON,
        "Dr Who",
        context(),
        summary=summary(alert),
    )


def test_acknowledging_an_open_alert_task_cites_what_the_clinician_saw() -> None:
    task = app_task("infection-active", None, task_id="t-inf", version="1", cites=[MARCH])
    alert = infection_alert(MARCH, NOVEMBER)
    plan = acknowledge_infection(task, alert)
    (entry,) = task_entries(plan)
    operations = patch_ops(entry)
    assert operations[0] == ("replace", "Task.status", "cancelled")
    cited = [op[2]["value"]["reference"] for op in operations if op[1] == "Task.input"]
    assert cited == [NOVEMBER]


def test_acknowledging_new_evidence_on_a_closed_alert_task_closes_it_again_citing_it() -> None:
    alert = infection_alert(MARCH, NOVEMBER)
    plan = acknowledge_infection(acknowledged_task(MARCH), alert)
    (entry,) = task_entries(plan)
    assert entry["request"]["url"] == "Task/t-inf"
    operations = patch_ops(entry)
    assert operations[0] == ("replace", "Task.status", "cancelled")
    assert [op[2]["value"]["reference"] for op in operations if op[1] == "Task.input"] == [NOVEMBER]
    assert any(
        op[1] == "Task.note" and "Acknowledged by Dr Who" in op[2]["text"] for op in operations
    )


def test_new_context_without_a_citable_new_ground_does_not_reopen() -> None:
    # The ground is on another server (cannot be cited); the local record is context only.
    alert = replace(
        infection_alert("https://other-ehr.example.org/fhir/Condition/x", NOVEMBER),
        grounds=("https://other-ehr.example.org/fhir/Condition/x",),
    )
    plan = build_writeback(summary(alert), record(tasks=[acknowledged_task(MARCH)]), context())
    assert task_entries(plan) == []


def test_a_new_ground_reopens_and_the_context_is_cited_with_it() -> None:
    alert = replace(infection_alert(MARCH, NOVEMBER), grounds=(NOVEMBER,))
    plan = build_writeback(summary(alert), record(tasks=[acknowledged_task()]), context())
    (entry,) = task_entries(plan)
    cited = [op[2]["value"]["reference"] for op in patch_ops(entry) if op[1] == "Task.input"]
    assert cited == [MARCH, NOVEMBER]
