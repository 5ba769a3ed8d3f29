"""The write-back plan: which Tasks are created, completed, cancelled; the transaction
Bundle's shape; the Provenance; and the preview the user confirms."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from domain.findings import Acknowledgement, Status
from fhir_mappings.canonical import CANONICAL
from fhir_mappings.write.common import careplan_id, task_id
from fhir_mappings.write.writeback import WritebackBlocked, WritePlan, build_writeback
from tests.writeback.factories import (
    AS_OF,
    PATIENT,
    USER,
    app_task,
    context,
    entries,
    finding,
    ok,
    patch_ops,
    r4_roundtrip,
    record,
    resources,
    summary,
)

DUE = date(2025, 6, 20)


def cbc_due(due: date | None = DUE) -> Any:
    return finding("cbc-baseline", Status.DUE, action_code="order-cbc", due=due)


def patches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["request"]["method"] == "PATCH"]


# -- which Tasks are created --------------------------------------------------------------


def test_existing_task_for_same_identifier_is_not_created_again() -> None:
    rec = record(tasks=[app_task("cbc-baseline", DUE, status="requested")])
    plan = build_writeback(summary(cbc_due()), rec, context())
    assert resources(plan.bundle, "Task") == []
    assert patches(plan.bundle) == []


@pytest.mark.parametrize("status", ["completed", "cancelled", "rejected", "on-hold", "failed"])
def test_task_closed_by_a_person_is_never_reopened(status: str) -> None:
    rec = record(tasks=[app_task("cbc-baseline", DUE, status=status, reason="done elsewhere")])
    plan = build_writeback(summary(cbc_due()), rec, context())
    assert resources(plan.bundle, "Task") == []
    assert patches(plan.bundle) == []


def test_acknowledged_finding_gets_no_task() -> None:
    ack = Acknowledgement("Dr Who", "2025-06-01", "arranged by hepatology")
    f = finding(
        "hbv-serology", Status.ALERT, action_code="review-hbv-serology", acknowledgement=ack
    )
    plan = build_writeback(summary(f), record(), context())
    assert resources(plan.bundle, "Task") == []


def test_blocked_when_tasks_could_not_be_read() -> None:
    with pytest.raises(WritebackBlocked, match="could not be read"):
        build_writeback(summary(cbc_due()), record(incomplete=frozenset({"tasks"})), context())


def test_other_incomplete_areas_do_not_block() -> None:
    plan = build_writeback(summary(cbc_due()), record(incomplete=frozenset({"imaging"})), context())
    assert len(resources(plan.bundle, "Task")) == 1


# -- completion and cancellation of open Tasks --------------------------------------------


def test_open_task_whose_finding_is_now_ok_is_completed() -> None:
    task = app_task("cbc-baseline", DUE, task_id="t-cbc", version="3")
    f = ok("cbc-baseline", detail="CBC on 2025-06-16.")
    plan = build_writeback(summary(f), record(tasks=[task]), context())
    (entry,) = patches(plan.bundle)
    assert entry["request"] == {"method": "PATCH", "url": "Task/t-cbc", "ifMatch": 'W/"3"'}
    assert patch_ops(entry) == [
        ("replace", "Task.status", "completed"),
        ("delete", "Task.statusReason", None),
        ("add", "Task.statusReason", {"text": "Requirement met: CBC on 2025-06-16."}),
        ("delete", "Task.lastModified", None),
        ("add", "Task.lastModified", "2025-06-15T14:30:00Z"),
    ]
    item = plan.preview[plan.bundle["entry"].index(entry)]
    assert (item.action, item.resource_type, item.due, item.check) == (
        "complete",
        "Task",
        DUE,
        "cbc-baseline",
    )
    assert item.reference == "Task/t-cbc"
    r4_roundtrip(entry["resource"])


@pytest.mark.parametrize("status", ["requested", "received", "accepted", "ready", "in-progress"])
def test_every_open_status_is_completed(status: str) -> None:
    plan = build_writeback(
        summary(ok("cbc-baseline")),
        record(tasks=[app_task("cbc-baseline", DUE, status=status)]),
        context(),
    )
    assert len(patches(plan.bundle)) == 1


def test_without_a_known_version_no_if_match() -> None:
    plan = build_writeback(
        summary(ok("cbc-baseline")), record(tasks=[app_task("cbc-baseline", DUE)]), context()
    )
    assert "ifMatch" not in patches(plan.bundle)[0]["request"]


def test_version_from_a_reader_field_is_used() -> None:
    class VersionedTask:  # what AppTask looks like once it carries meta.versionId
        def __init__(self) -> None:
            base = app_task("cbc-baseline", DUE, task_id="t9")
            self.__dict__.update(base.__dict__)
            self.version_id = "7"

    plan = build_writeback(
        summary(ok("cbc-baseline")),
        record(tasks=[VersionedTask()]),  # type: ignore[list-item]
        context(),
    )
    assert patches(plan.bundle)[0]["request"]["ifMatch"] == 'W/"7"'


def test_open_task_whose_finding_no_longer_applies_is_cancelled() -> None:
    f = finding(
        "dose-schedule",
        Status.NOT_APPLICABLE,
        action_code=None,
        due=None,
        detail="Therapy has not started.",
    )
    plan = build_writeback(
        summary(f), record(tasks=[app_task("dose-schedule", DUE, task_id="d1")]), context()
    )
    (entry,) = patches(plan.bundle)
    ops = patch_ops(entry)
    assert ops[0] == ("replace", "Task.status", "cancelled")
    assert ops[2] == (
        "add",
        "Task.statusReason",
        {"text": "No longer applicable: Therapy has not started."},
    )


def test_task_with_old_due_date_is_superseded_by_the_new_one() -> None:
    old = app_task("ig-monitoring", date(2025, 5, 1), task_id="old")
    f = finding(
        "ig-monitoring", Status.OVERDUE, action_code="order-immunoglobulins", due=date(2025, 6, 1)
    )
    plan = build_writeback(summary(f), record(tasks=[old]), context())
    (new_task,) = resources(plan.bundle, "Task")
    assert new_task["identifier"][0]["value"] == f"{PATIENT}:ig-monitoring:2025-06-01"
    (entry,) = patches(plan.bundle)
    assert entry["request"]["url"] == "Task/old"
    ops = patch_ops(entry)
    assert ops[0] == ("replace", "Task.status", "cancelled")
    assert ops[2] == ("add", "Task.statusReason", {"text": "Superseded by the task due 2025-06-01"})
    actions = [(i.action, i.resource_type) for i in plan.preview]
    assert actions == [
        ("update", "CarePlan"),
        ("create", "Task"),
        ("cancel", "Task"),
        ("create", "Provenance"),
    ]


@pytest.mark.parametrize(
    "f",
    [
        finding("cbc-baseline", Status.DUE, action_code="order-cbc", due=DUE),  # same due
        finding("cbc-baseline", Status.UNKNOWN, action_code="order-cbc", due=None),  # can't tell
    ],
)
def test_open_task_is_left_alone_while_still_needed_or_unknown(f: Any) -> None:
    plan = build_writeback(summary(f), record(tasks=[app_task("cbc-baseline", DUE)]), context())
    assert patches(plan.bundle) == []


def test_open_task_for_a_check_we_no_longer_run_is_left_alone() -> None:
    plan = build_writeback(summary(), record(tasks=[app_task("retired-check", DUE)]), context())
    assert patches(plan.bundle) == []


def test_duplicate_open_tasks_are_reduced_to_ours() -> None:
    ours = task_id(context(), f"{PATIENT}:cbc-baseline:{DUE.isoformat()}")
    tasks = [
        app_task("cbc-baseline", DUE, task_id="legacy-1", modified="2025-06-01T00:00:00Z"),
        app_task("cbc-baseline", DUE, task_id=ours, modified="2025-06-02T00:00:00Z"),
    ]
    plan = build_writeback(summary(cbc_due()), record(tasks=tasks), context())
    (entry,) = patches(plan.bundle)
    assert entry["request"]["url"] == "Task/legacy-1"
    assert patch_ops(entry)[2] == (
        "add",
        "Task.statusReason",
        {"text": f"Duplicate of Task/{ours}"},
    )


def test_task_read_from_a_file_is_not_patched() -> None:
    task = app_task("cbc-baseline", DUE)
    task = type(task)(**{**task.__dict__, "source": type(task.source)("urn:uuid:1", "x", "y")})
    plan = build_writeback(summary(ok("cbc-baseline")), record(tasks=[task]), context())
    assert patches(plan.bundle) == []


# -- bundle shape ---------------------------------------------------------------------------


def test_transaction_bundle_shape_with_client_ids() -> None:
    plan = build_writeback(
        summary(cbc_due(), ok("mri-monitoring")),
        record(tasks=[app_task("mri-monitoring", DUE, task_id="m1", version="2")]),
        context(),
    )
    bundle = plan.bundle
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    requests = [e["request"] for e in bundle["entry"]]
    cp = careplan_id(context(), PATIENT)
    tid = task_id(context(), f"{PATIENT}:cbc-baseline:2025-06-20")
    assert requests == [
        {"method": "PUT", "url": f"CarePlan/{cp}"},
        {"method": "PUT", "url": f"Task/{tid}"},
        {"method": "PATCH", "url": "Task/m1", "ifMatch": 'W/"2"'},
        {"method": "POST", "url": "Provenance"},
    ]
    put_resources = [e["resource"] for e in bundle["entry"][:2]]
    assert [r["id"] for r in put_resources] == [cp, tid]
    assert bundle["entry"][3]["fullUrl"].startswith("urn:uuid:")
    assert len(plan.preview) == len(bundle["entry"])
    r4_roundtrip(bundle)


def test_conditional_strategy_uses_spec_conditional_writes() -> None:
    ctx = context(id_strategy="conditional")
    plan = build_writeback(summary(cbc_due()), record(), ctx)
    careplan_entry, task_entry, provenance_entry = plan.bundle["entry"]
    assert careplan_entry["request"] == {
        "method": "PUT",
        "url": f"CarePlan?identifier={CANONICAL}/careplan|{PATIENT}",
    }
    assert "id" not in careplan_entry["resource"]
    assert careplan_entry["fullUrl"].startswith("urn:uuid:")
    assert task_entry["request"] == {
        "method": "POST",
        "url": "Task",
        "ifNoneExist": f"identifier={CANONICAL}/task|{PATIENT}:cbc-baseline:2025-06-20",
    }
    assert "id" not in task_entry["resource"]
    assert task_entry["resource"]["basedOn"] == [{"reference": careplan_entry["fullUrl"]}]
    targets = [t["reference"] for t in provenance_entry["resource"]["target"]]
    assert targets == [careplan_entry["fullUrl"], task_entry["fullUrl"]]
    r4_roundtrip(plan.bundle)


def test_same_input_same_bundle() -> None:
    def build() -> WritePlan:
        return build_writeback(summary(cbc_due()), record(), context())

    assert json.dumps(build().bundle, sort_keys=True) == json.dumps(build().bundle, sort_keys=True)
    assert build().fingerprint == build().fingerprint


def test_fingerprint_changes_with_what_the_preview_promises() -> None:
    one = build_writeback(summary(cbc_due()), record(), context())
    two = build_writeback(summary(cbc_due(date(2025, 6, 21))), record(), context())
    assert one.fingerprint != two.fingerprint


# -- Provenance -------------------------------------------------------------------------------


def test_provenance_targets_everything_written() -> None:
    tasks = [app_task("mri-monitoring", DUE, task_id="m1")]
    plan = build_writeback(summary(cbc_due(), ok("mri-monitoring")), record(tasks=tasks), context())
    (provenance,) = resources(plan.bundle, "Provenance")
    written = [
        e["request"]["url"]
        for e in entries(plan.bundle)
        if e["request"]["method"] in ("PUT", "PATCH")
    ]
    assert [t["reference"] for t in provenance["target"]] == written
    assert provenance["recorded"] == "2025-06-15T14:30:00Z"
    author, app = provenance["agent"]
    assert author["type"]["coding"][0]["code"] == "author"
    assert author["who"] == {"reference": USER, "display": "Dr Who"}
    assert app["type"]["coding"][0]["code"] == "assembler"
    assert app["who"] == {"display": "Ofatumumab safety app"}
    assert provenance["activity"]["coding"][0]["code"] == "UPDATE"
    r4_roundtrip(provenance)


def test_provenance_without_user_has_the_app_only_and_create_when_only_creating() -> None:
    plan = build_writeback(
        summary(cbc_due()), record(), context(author_reference=None, author_display=None)
    )
    (provenance,) = resources(plan.bundle, "Provenance")
    assert [a["who"] for a in provenance["agent"]] == [{"display": "Ofatumumab safety app"}]
    assert provenance["activity"]["coding"][0]["code"] == "CREATE"


def test_preview_describes_each_entry_in_order() -> None:
    plan = build_writeback(summary(cbc_due()), record(), context())
    assert [(i.action, i.resource_type) for i in plan.preview] == [
        ("update", "CarePlan"),
        ("create", "Task"),
        ("create", "Provenance"),
    ]
    task_item = plan.preview[1]
    assert task_item.due == DUE
    assert task_item.check == "cbc-baseline"
    assert task_item.description.startswith("Order a complete blood count")
    assert plan.count("create") == 1
    lines = plan.describe()
    assert lines[1].startswith("create") and "(due 2025-06-20)" in lines[1]
    doc = plan.to_json()
    assert doc["patient"] == PATIENT
    assert doc["preview"][1]["due"] == "2025-06-20"
    json.dumps(doc)


def test_task_without_due_is_due_as_of_in_the_preview() -> None:
    f = finding("pml", Status.ALERT, action_code="review-pml", due=None)
    plan = build_writeback(summary(f), record(), context())
    assert plan.preview[1].due == AS_OF


def test_context_requires_an_aware_now() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone"):
        context(now=datetime(2025, 1, 1))


def test_changes_are_fhirpath_patches_not_json_patch_binaries() -> None:
    # FHIRPath Patch (Parameters): readable, R4-valid, and it can append a note.
    plan = build_writeback(
        summary(ok("cbc-baseline")), record(tasks=[app_task("cbc-baseline", DUE)]), context()
    )
    assert patches(plan.bundle)[0]["resource"]["resourceType"] == "Parameters"
