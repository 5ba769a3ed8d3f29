"""Everything the write-back sends is valid FHIR: fhir.resources R4B (pydantic) AND
fhirclient's exact R4 4.0.1 models, and survives both round trips unchanged."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from domain.findings import Status
from fhir_mappings.write.writeback import WritePlan, build_acknowledgement, build_writeback
from tests.writeback.factories import (
    ACTION_CASES,
    app_task,
    context,
    evidence,
    finding,
    ms,
    ok,
    r4_roundtrip,
    record,
    summary,
)


def richest_plan(strategy: str) -> WritePlan:
    findings = [
        finding(
            check,
            status,
            severity,
            action_code=code,
            due=None if status is Status.ALERT else date(2025, 6, 20),
            evidence_refs=[evidence("Observation/a"), evidence("Condition/b", day=None)],
        )
        for check, code, status, severity in ACTION_CASES
        if check not in ("ig-low", "pml")
    ]
    findings += [ok("ig-low"), finding("pml", Status.NOT_APPLICABLE, action_code=None)]
    tasks = [
        app_task("ig-low", None, task_id="t1", version="1"),
        app_task("pml", None, task_id="t2"),
        app_task("hbv-screening", date(2025, 1, 1), task_id="t3", version="4"),
        app_task("cbc-baseline", date(2025, 6, 20), task_id="t4"),
        app_task("cbc-baseline", date(2025, 6, 20), task_id="t5"),
    ]
    return build_writeback(
        summary(*findings, vaccine_window=(date(2025, 6, 20), date(2025, 7, 1))),
        record(tasks=tasks, conditions=[ms()]),
        context(id_strategy=strategy, owner_reference="Organization/clinic"),
    )


def ack_plan() -> WritePlan:
    return build_acknowledgement(
        record(tasks=[app_task("hbv-serology", date(2025, 1, 1), task_id="t")]),
        "hbv-serology",
        "arranged by hepatology",
        "Dr Who",
        context(),
        summary=summary(
            finding("hbv-serology", Status.ALERT, action_code="review-hbv-serology", due=None)
        ),
    )


PLANS = {
    "client": lambda: richest_plan("client"),
    "conditional": lambda: richest_plan("conditional"),
    "acknowledgement": ack_plan,
}


@pytest.fixture(params=sorted(PLANS))
def plan(request: pytest.FixtureRequest) -> WritePlan:
    return PLANS[request.param]()


def test_the_richest_plan_has_every_kind_of_entry() -> None:
    actions = {(i.action, i.resource_type) for i in richest_plan("client").preview}
    assert actions == {
        ("update", "CarePlan"),
        ("create", "Task"),
        ("complete", "Task"),
        ("cancel", "Task"),
        ("create", "Provenance"),
    }


def test_bundle_is_valid_r4b_and_round_trips(plan: WritePlan) -> None:
    bundle_class = get_fhir_model_class("Bundle")
    dumped = bundle_class.model_validate(plan.bundle).model_dump(mode="json", exclude_none=True)
    assert dumped == plan.bundle


def test_bundle_is_valid_r4_and_round_trips(plan: WritePlan) -> None:
    assert r4_roundtrip(plan.bundle) == plan.bundle


def test_each_resource_is_valid_r4_on_its_own(plan: WritePlan) -> None:
    for entry in plan.bundle["entry"]:
        resource: dict[str, Any] = entry["resource"]
        assert r4_roundtrip(resource) == resource


def test_r4_check_catches_what_r4b_might_let_through() -> None:
    """The cross-check is not vacuous: an element R4 lacks is refused."""
    from fhirclient.models.fhirabstractbase import FHIRValidationError

    with pytest.raises(FHIRValidationError):
        r4_roundtrip({"resourceType": "Task", "status": "requested", "intent": "order", "x": 1})
