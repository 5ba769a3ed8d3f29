"""Small builders for write-back tests: findings, summaries, records, app Tasks, contexts,
and the R4 (fhirclient 4.0.1) cross-check of everything we write."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from fhirclient.models.fhirelementfactory import FHIRElementFactory

from domain.findings import (
    Acknowledgement,
    Action,
    Evidence,
    Finding,
    Phase,
    Schedule,
    Severity,
    Status,
    Summary,
)
from domain.records import (
    AppTask,
    ConditionKind,
    ConditionRecord,
    DataQuality,
    PatientInfo,
    PatientRecord,
    SourceRef,
)
from fhir_mappings.canonical import CANONICAL
from fhir_mappings.terminology import action_displays
from fhir_mappings.write.writeback import WriteContext
from tests.support.fake_fhir import patch_operations

AS_OF = date(2025, 6, 15)
NOW = datetime(2025, 6, 15, 14, 30, tzinfo=UTC)
PATIENT = "pat-1"
USER = "Practitioner/dr-who"

#: (check, action code, status, severity): one realistic finding per action code.
ACTION_CASES: list[tuple[str, str, Status, Severity]] = [
    ("hbv-screening", "order-hbv-screening", Status.DUE, Severity.MODERATE),
    ("hbv-serology", "review-hbv-serology", Status.ALERT, Severity.CRITICAL),
    ("ig-baseline", "order-immunoglobulins", Status.OVERDUE, Severity.HIGH),
    ("ig-low", "review-low-immunoglobulins", Status.ALERT, Severity.MODERATE),
    ("cbc-baseline", "order-cbc", Status.DUE, Severity.LOW),
    ("dose-schedule", "give-dose", Status.OVERDUE, Severity.HIGH),
    ("dose-interval", "review-dose-record", Status.ALERT, Severity.MODERATE),
    ("vaccine-window", "review-vaccine-timing", Status.ALERT, Severity.LOW),
    ("vaccine-live-on-therapy", "review-live-vaccine", Status.ALERT, Severity.HIGH),
    ("infection-active", "hold-for-infection", Status.ALERT, Severity.HIGH),
    ("hypersensitivity", "review-hypersensitivity", Status.ALERT, Severity.CRITICAL),
    ("pml", "review-pml", Status.ALERT, Severity.CRITICAL),
    ("pregnancy", "review-pregnancy", Status.ALERT, Severity.HIGH),
    ("mri-monitoring", "book-mri", Status.DUE, Severity.MODERATE),
    ("vaccine-before-start", "wait-for-vaccine-interval", Status.DUE, Severity.INFO),
]


def action(code: str) -> Action:
    return Action(code, action_displays()[code])


def evidence(reference: str, day: str | None = "2025-01-10", display: str = "a result") -> Evidence:
    return Evidence(reference, day, display, "code")


def finding(
    check: str,
    status: Status = Status.DUE,
    severity: Severity = Severity.MODERATE,
    *,
    action_code: str | None = "order-cbc",
    due: date | None = date(2025, 6, 20),
    evidence_refs: Iterable[Evidence] = (),
    detail: str | None = None,
    acknowledgement: Acknowledgement | None = None,
) -> Finding:
    return Finding(
        check=check,
        status=status,
        severity=severity,
        title=f"{check}: {status.value}",
        detail=detail or f"The {check} check says {status.value}.",
        due=due,
        evidence=tuple(evidence_refs),
        action=action(action_code) if action_code else None,
        citation="USPI",
        acknowledgement=acknowledgement,
    )


def ok(check: str, *, due: date | None = None, detail: str | None = None) -> Finding:
    return finding(check, Status.OK, Severity.INFO, action_code=None, due=due, detail=detail)


def summary(
    *findings: Finding,
    phase: Phase = Phase.MAINTENANCE,
    first_dose: date | None = date(2024, 1, 2),
    last_dose: date | None = date(2025, 5, 20),
    doses: int = 10,
    next_due: date | None = date(2025, 6, 17),
    vaccine_window: tuple[date, date] | None = (date(2025, 6, 3), date(2025, 6, 10)),
    as_of: date = AS_OF,
    patient_id: str = PATIENT,
) -> Summary:
    return Summary(
        patient=PatientInfo(patient_id, "Test Patient", date(1990, 1, 1), "female"),
        as_of=as_of,
        phase=phase,
        schedule=Schedule(first_dose, last_dose, doses, next_due, vaccine_window, None),
        findings=tuple(findings),
        data=DataQuality(),
    )


def app_task(
    check: str,
    due: date | None,
    *,
    status: str = "requested",
    task_id: str = "t1",
    reason: str | None = None,
    patient_id: str = PATIENT,
    version: str | None = None,
    modified: str | None = "2025-06-01T09:00:00Z",
    cites: Iterable[str] = (),
    acknowledged_by: str | None = None,
) -> AppTask:
    reference = f"Task/{task_id}" + (f"/_history/{version}" if version else "")
    return AppTask(
        identifier=f"{patient_id}:{check}:{due.isoformat() if due else 'none'}",
        check=check,
        due=due,
        status=status,
        owner=None,
        status_reason=reason,
        last_modified=modified,
        source=SourceRef(reference, f"Task {check}", "identifier"),
        acknowledged_by=acknowledged_by,
        evidence=frozenset(cites),
    )


def ms(reference: str = "Condition/ms-1", *, active: bool = True) -> ConditionRecord:
    return ConditionRecord(
        ConditionKind.MULTIPLE_SCLEROSIS,
        None,
        active,
        False,
        "Relapsing remitting multiple sclerosis",
        SourceRef(reference, "MS", "code"),
        clinical_status="active" if active else "inactive",
    )


def record(
    *,
    tasks: Iterable[AppTask] = (),
    conditions: Iterable[ConditionRecord] = (),
    incomplete: frozenset[str] = frozenset(),
    patient_id: str = PATIENT,
) -> PatientRecord:
    return PatientRecord(
        patient=PatientInfo(patient_id, "Test Patient", date(1990, 1, 1), "female"),
        conditions=tuple(conditions),
        tasks=tuple(tasks),
        data=DataQuality(incomplete=incomplete),
    )


def context(**overrides: Any) -> WriteContext:
    values: dict[str, Any] = {
        "now": NOW,
        "canonical": CANONICAL,
        "author_reference": USER,
        "author_display": "Dr Who",
    }
    values.update(overrides)
    return WriteContext(**values)


def entries(bundle: dict[str, Any], resource_type: str | None = None) -> list[dict[str, Any]]:
    found = bundle["entry"]
    if resource_type is None:
        return list(found)
    return [e for e in found if e["resource"]["resourceType"] == resource_type]


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in entries(bundle, resource_type)]


def r4_roundtrip(resource: dict[str, Any]) -> dict[str, Any]:
    """Parse with fhirclient's exact R4 4.0.1 models (strict: unknown or mistyped elements
    and missing required ones raise) and return its JSON."""
    model = FHIRElementFactory.instantiate(resource["resourceType"], resource)
    model.as_json()  # runs the required-element checks
    result: dict[str, Any] = model.as_json()
    return result


def patch_ops(entry: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(type, path or path.name, value) of each FHIRPath Patch operation in a bundle entry."""
    return patch_operations(entry["resource"])


def tx_response(*answers: tuple[str, str] | tuple[str, str, str]) -> dict[str, Any]:
    entries = []
    for answer in answers:
        response: dict[str, Any] = {"status": answer[0], "location": answer[1]}
        if len(answer) == 3:
            response["outcome"] = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "information",
                        "code": "informational",
                        "details": {
                            "coding": [
                                {
                                    "system": "https://hapifhir.io/fhir/CodeSystem/hapi-fhir-storage-response-code",
                                    "code": answer[2],
                                }
                            ]
                        },
                    }
                ],
            }
        entries.append({"response": response})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
