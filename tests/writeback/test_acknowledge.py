"""SPEC §3, last paragraph: a clinician acknowledges a finding with a reason."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.findings import Status
from fhir_mappings.read.tasks import read_task
from fhir_mappings.write.writeback import WritebackBlocked, WritePlan, build_acknowledgement
from smartapp.rules.acknowledgements import find_acknowledgement
from tests.writeback.factories import (
    PATIENT,
    USER,
    app_task,
    context,
    finding,
    patch_ops,
    r4_roundtrip,
    record,
    resources,
    summary,
)

DUE = date(2025, 7, 1)
REASON = "HBV DNA monitoring arranged by hepatology"


def hbv_alert(due: date | None = DUE) -> Any:
    return finding("hbv-serology", Status.ALERT, action_code="review-hbv-serology", due=due)


def acknowledge_hbv(*tasks: Any, alert: Any = None) -> WritePlan:
    """Dr Who acknowledges hbv-serology with REASON; `alert` is the finding as it is now."""
    return build_acknowledgement(
        record(tasks=list(tasks)),
        "hbv-serology",
        REASON,
        "Dr Who",
        context(),
        summary=summary(alert) if alert is not None else None,
    )


def test_open_task_is_cancelled_with_the_reason_and_a_note() -> None:
    task = app_task("hbv-serology", DUE, task_id="t-hbv", version="2")
    plan = acknowledge_hbv(task)
    patch, provenance = plan.bundle["entry"]
    assert patch["request"] == {"method": "PATCH", "url": "Task/t-hbv", "ifMatch": 'W/"2"'}
    assert patch_ops(patch) == [
        ("replace", "Task.status", "cancelled"),
        ("delete", "Task.statusReason", None),
        ("add", "Task.statusReason", {"text": REASON}),
        ("delete", "Task.lastModified", None),
        ("add", "Task.lastModified", "2025-06-15T14:30:00Z"),
        (
            "add",
            "Task.note",
            {
                "authorString": "Dr Who",
                "time": "2025-06-15T14:30:00Z",
                "text": f"Acknowledged by Dr Who on 2025-06-15: {REASON}",
            },
        ),
    ]
    prov = provenance["resource"]
    assert [t["reference"] for t in prov["target"]] == ["Task/t-hbv"]
    assert prov["reason"] == [{"text": f"Acknowledged: {REASON}"}]
    assert prov["agent"][0]["who"]["reference"] == USER
    assert [(i.action, i.resource_type) for i in plan.preview] == [
        ("cancel", "Task"),
        ("create", "Provenance"),
    ]
    r4_roundtrip(plan.bundle)


def test_every_open_task_for_the_check_is_closed() -> None:
    tasks = [
        app_task("hbv-serology", date(2025, 5, 1), task_id="old"),
        app_task("hbv-serology", DUE, task_id="new"),
        app_task("hbv-serology", date(2025, 1, 1), task_id="closed", status="completed"),
        app_task("pml", DUE, task_id="other"),
    ]
    plan = acknowledge_hbv(*tasks)
    urls = [e["request"]["url"] for e in plan.bundle["entry"] if e["request"]["method"] == "PATCH"]
    assert urls == ["Task/old", "Task/new"]


def test_finding_never_tasked_gets_a_task_created_already_cancelled() -> None:
    plan = acknowledge_hbv(alert=hbv_alert())
    (careplan,) = resources(plan.bundle, "CarePlan")
    (task,) = resources(plan.bundle, "Task")
    assert task["status"] == "cancelled"
    assert task["statusReason"] == {"text": REASON}
    assert task["note"][0]["text"] == f"Acknowledged by Dr Who on 2025-06-15: {REASON}"
    assert task["identifier"][0]["value"] == f"{PATIENT}:hbv-serology:2025-07-01"
    assert task["basedOn"] == [{"reference": f"CarePlan/{careplan['id']}"}]
    r4_roundtrip(plan.bundle)


def test_the_rules_see_the_acknowledgement_that_was_written() -> None:
    """Round trip through the reader: the Task we write reads back as an acknowledgement."""
    plan = acknowledge_hbv(alert=hbv_alert())
    (task,) = resources(plan.bundle, "Task")
    stored = {**task, "meta": {"versionId": "1", "lastUpdated": "2025-06-15T14:30:01Z"}}
    app = read_task(stored, f"Task/{task['id']}")
    assert app is not None
    ack = find_acknowledgement([app], "hbv-serology", DUE)
    assert ack is not None
    assert ack.reason == REASON
    assert ack.on == "2025-06-15"


def test_open_task_with_an_old_due_date_also_records_the_current_one() -> None:
    old = app_task("hbv-serology", date(2025, 5, 1), task_id="old")
    plan = acknowledge_hbv(old, alert=hbv_alert())
    methods = [
        (e["request"]["method"], e["resource"]["resourceType"]) for e in plan.bundle["entry"]
    ]
    assert methods == [
        ("PATCH", "Parameters"),
        ("PUT", "CarePlan"),
        ("PUT", "Task"),
        ("POST", "Provenance"),
    ]


def test_nothing_to_acknowledge() -> None:
    with pytest.raises(WritebackBlocked, match="no open task"):
        acknowledge_hbv()
    closed = app_task("hbv-serology", DUE, status="cancelled", reason="earlier")
    with pytest.raises(WritebackBlocked, match="no open task"):
        acknowledge_hbv(closed, alert=hbv_alert())


@pytest.mark.parametrize(("reason", "by"), [("  ", "Dr Who"), (REASON, " ")])
def test_reason_and_name_are_required(reason: str, by: str) -> None:
    task = app_task("hbv-serology", DUE)
    with pytest.raises(WritebackBlocked):
        build_acknowledgement(record(tasks=[task]), "hbv-serology", reason, by, context())


def test_reason_whitespace_is_normalised() -> None:
    task = app_task("hbv-serology", DUE)
    plan = build_acknowledgement(
        record(tasks=[task]), "hbv-serology", "  arranged\n by   hepatology ", "Dr Who", context()
    )
    assert patch_ops(plan.bundle["entry"][0])[2][2] == {"text": "arranged by hepatology"}
