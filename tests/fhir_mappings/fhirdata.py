"""Small FHIR R4 JSON builders for the reader tests: only the elements a test is about."""

from __future__ import annotations

from typing import Any

from domain.records import PatientRecord
from fhir_mappings.read.record import read_patient_record
from fhir_mappings.site import Mappings, default_mappings

# The code-system URIs as the demo's FHIR builders write them (one hand-written list, not
# the readers' own table, so a wrong URI there still fails these tests).
from smartapp.demo.fhir_builders import (
    ATC,
    CVX,
    INTERPRETATION,
    LOINC,
    SNOMED,
    UCUM,
    Resource,
)
from smartapp.demo.fhir_builders import CONDITION_CLINICAL as CLINICAL
from smartapp.demo.fhir_builders import CONDITION_VERIFICATION as VERIFICATION
from smartapp.demo.fhir_builders import ICD10CM as ICD10CM  # re-exported for the tests
from smartapp.demo.fhir_builders import NDC as NDC  # re-exported for the tests

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

PID = "p1"
SUBJECT = {"reference": f"Patient/{PID}"}
SC = {"coding": [{"system": SNOMED, "code": "34206005", "display": "Subcutaneous route"}]}
IV = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}

HBSAG = "5196-1"
ANTI_HBC = "13952-7"
IGG = "2465-3"
IGM = "2472-9"


def patient(pid: str = PID, **extra: Any) -> Resource:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"use": "official", "given": ["Ada"], "family": "Tester"}],
        "gender": "female",
        "birthDate": "1985-04-12",
        **extra,
    }


def concept(
    system: str, code: str, display: str | None = None, text: str | None = None
) -> Resource:
    coding: Resource = {"system": system, "code": code}
    if display:
        coding["display"] = display
    result: Resource = {"coding": [coding]}
    if text:
        result["text"] = text
    return result


def quantity(value: float, code: str | None, unit: str | None = None, **extra: Any) -> Resource:
    result: Resource = {"value": value, **extra}
    if code is not None:
        result.update(system=UCUM, code=code)
    if unit is not None or code is not None:
        result["unit"] = unit or code
    return result


def observation(
    code: str = HBSAG,
    *,
    oid: str = "o1",
    status: str = "final",
    when: str | None = "2025-03-02",
    system: str = LOINC,
    **value: Any,
) -> Resource:
    resource: Resource = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "code": concept(system, code),
        "subject": SUBJECT,
    }
    if when is not None:
        resource["effectiveDateTime"] = when
    resource.update(value)
    return resource


def interpretation(code: str) -> list[Resource]:
    return [concept(INTERPRETATION, code)]


def administration(
    medication: Resource | None = None,
    *,
    aid: str = "ma1",
    status: str = "completed",
    when: str = "2025-01-06T09:00:00+01:00",
    route: Resource | None = SC,
    dose: Resource | None = None,
    **extra: Any,
) -> Resource:
    resource: Resource = {
        "resourceType": "MedicationAdministration",
        "id": aid,
        "status": status,
        "subject": SUBJECT,
        "effectiveDateTime": when,
    }
    if medication is not None:
        resource["medicationCodeableConcept"] = medication
    dosage: Resource = {}
    if route is not None:
        dosage["route"] = route
    dosage["dose"] = dose if dose is not None else quantity(20, "mg")
    resource["dosage"] = dosage
    resource.update(extra)
    return resource


def order(status: str = "active", **fields: Any) -> Resource:
    """A MedicationRequest `mr1` (an order) with these fields."""
    return {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": status,
        "intent": "order",
        **fields,
    }


def kesimpta_atc() -> Resource:
    return concept(ATC, "L04AG12", "ofatumumab", text="Kesimpta 20 mg/0.4 mL pen")


def medication(mid: str, code: Resource, **extra: Any) -> Resource:
    return {"resourceType": "Medication", "id": mid, "code": code, **extra}


def immunization(
    cvx: str | None, *, iid: str = "i1", status: str = "completed", **extra: Any
) -> Resource:
    resource: Resource = {
        "resourceType": "Immunization",
        "id": iid,
        "status": status,
        "patient": SUBJECT,
        "occurrenceDateTime": "2025-02-01",
    }
    if cvx is not None:
        resource["vaccineCode"] = concept(CVX, cvx)
    resource.update(extra)
    return resource


def condition(
    system: str,
    code: str,
    *,
    cid: str = "c1",
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    **extra: Any,
) -> Resource:
    resource: Resource = {
        "resourceType": "Condition",
        "id": cid,
        "code": concept(system, code),
        "subject": SUBJECT,
        "onsetDateTime": "2025-01-10",
    }
    if clinical is not None:
        resource["clinicalStatus"] = concept(CLINICAL, clinical)
    if verification is not None:
        resource["verificationStatus"] = concept(VERIFICATION, verification)
    resource.update(extra)
    return resource


def read(*resources: Any, mappings: Mappings | None = None, **kwargs: Any) -> PatientRecord:
    """The record of `resources` plus the test Patient (added first)."""
    return read_patient_record(
        [patient(), *resources], mappings=mappings or default_mappings(), **kwargs
    )


def read_skipped(resource: Resource, records: str, area: str | None = None) -> PatientRecord:
    """The record of a resource the reader cannot use: no `records` (a field of the record)
    come of it, it is counted as skipped, and only its area (default: `records`) is marked
    incomplete."""
    record = read(resource)
    assert getattr(record, records) == ()
    assert record.data.skipped == 1
    assert record.data.incomplete == frozenset({area or records})
    return record
