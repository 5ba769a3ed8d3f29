"""FHIR resources -> one `PatientRecord`: the read side of the boundary (SPEC §2).

`read_patient_record` picks the Patient, keeps the resources that reference it (subject,
patient or for) and the Medications they refer to, and hands each resource to the reader
for its type (labs, medications, vaccines, conditions, imaging, tasks). Every resource
considered is counted as read or skipped:

- skipped: not an object, no resourceType, or a relevant element of the wrong type or an
  unreadable date. One sentence per resource in `DataQuality.problems`, and its area (see
  `AREAS`) is marked incomplete, so the checks that need it never say ok. Never fatal.
- uninterpretable: a final lab result that parsed but cannot be read as its kind needs.

The input is never modified and nothing is validated with pydantic here: this runs for
thousands of patients a second (SPEC §5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from operator import attrgetter
from typing import Any, Protocol, TypeVar

from domain.records import (
    AREAS,
    AllergyRecord,
    AppCarePlan,
    AppTask,
    ConditionRecord,
    DataQuality,
    Dispense,
    Dose,
    ImagingRecord,
    LabResult,
    MedicationOrder,
    PatientInfo,
    PatientRecord,
    ResultStatus,
    SourceRef,
    TherapyStatement,
    Vaccination,
)
from fhir_mappings.dates import parse_clinical_date
from fhir_mappings.errors import Malformed, UnusableInput
from fhir_mappings.fhirjson import reference_target
from fhir_mappings.names import human_name
from fhir_mappings.read.bundle import resources_from_json
from fhir_mappings.read.careplans import read_app_careplan
from fhir_mappings.read.conditions import read_allergy, read_condition
from fhir_mappings.read.dispenses import read_dispense
from fhir_mappings.read.imaging import read_imaging_study, read_procedure, read_report_imaging
from fhir_mappings.read.labs import LABELS, read_observation, read_report_labs
from fhir_mappings.read.medications import MedicationResolver, read_administration, read_request
from fhir_mappings.read.statements import read_statement
from fhir_mappings.read.tasks import read_task
from fhir_mappings.read.vaccines import read_immunization
from fhir_mappings.site import Mappings

__all__ = ["UnusableInput", "read_patient_record", "resources_from_json"]

#: The record area each resource type feeds (a type not listed feeds none).
AREA_OF: dict[str, tuple[str, ...]] = {
    "Patient": ("patient",),
    "Observation": ("labs",),
    "MedicationAdministration": ("doses",),
    "MedicationDispense": ("doses",),
    "MedicationStatement": ("doses",),
    "MedicationRequest": ("orders",),
    "Medication": ("doses", "orders"),
    "Immunization": ("vaccinations",),
    "Condition": ("conditions",),
    "AllergyIntolerance": ("allergies",),
    "DiagnosticReport": ("labs", "imaging"),
    "ImagingStudy": ("imaging",),
    "Procedure": ("imaging",),
    "Task": ("tasks",),
    "CarePlan": ("tasks",),
}
_SUBJECT_FIELDS = ("subject", "patient", "for")
_DOSE_KEY = attrgetter("when.earliest", "when.latest", "source.reference")
_SOURCE_KEY = attrgetter("source.reference", "source.display", "source.matched_by")
_DATA_AREAS = frozenset(AREAS) - {"patient"}


class _Collected:
    """What the per-type readers produce, and the bookkeeping of what was read."""

    def __init__(self, problems: Iterable[str], incomplete: Iterable[str]) -> None:
        self.labs: list[LabResult] = []
        self.doses: list[Dose] = []
        self.orders: list[MedicationOrder] = []
        self.dispenses: list[Dispense] = []
        self.statements: list[TherapyStatement] = []
        self.vaccinations: list[Vaccination] = []
        self.conditions: list[ConditionRecord] = []
        self.allergies: list[AllergyRecord] = []
        self.imaging: list[ImagingRecord] = []
        self.tasks: list[AppTask] = []
        self.careplans: list[AppCarePlan] = []
        self.read = 0
        self.skipped = 0
        self.problems: list[str] = list(problems)
        self.incomplete: set[str] = set(incomplete)
        self.reasons: list[tuple[str, str]] = []

    def skip(
        self, label: str, reason: str, resource_type: str | None, area: str | None = None
    ) -> None:
        self.skipped += 1
        text = f"{label} could not be read: {reason}"
        self.problems.append(text)
        areas = (area,) if area else AREA_OF.get(resource_type or "", ())
        self.incomplete.update(areas)
        self.reasons.extend((name, text) for name in areas)

    def note(self, text: str) -> None:
        """A record listed in the data panel that leaves the data complete."""
        self.problems.append(text)

    def unusable(self, text: str, area: str) -> None:
        """A record read but not usable: listed, and its area is incomplete."""
        self.problems.append(text)
        self.incomplete.add(area)
        self.reasons.append((area, text))


def _label(resource: Mapping[str, Any], position: int) -> str:
    resource_type = resource.get("resourceType")
    resource_id = resource.get("id")
    if isinstance(resource_id, str) and resource_id:
        return f"{resource_type}/{resource_id}"
    return f"{resource_type} (entry {position + 1}, no id)"


def _patient_name(patient: Mapping[str, Any]) -> str:
    return human_name(patient.get("name")) or "(no name recorded)"


def _patient_info(patient: Mapping[str, Any], collected: _Collected) -> PatientInfo:
    patient_id = str(patient["id"])
    try:
        name = _patient_name(patient)
    except Malformed as err:
        name = "(name could not be read)"
        collected.problems.append(f"Patient/{patient_id} name could not be read: {err}")
    birth_date: date | None = None
    if patient.get("birthDate") is not None:
        try:
            birth_date = parse_clinical_date(patient["birthDate"], "birthDate").earliest
        except Malformed as err:
            collected.problems.append(f"Patient/{patient_id} birthDate could not be read: {err}")
            collected.incomplete.add("patient")
    gender = patient.get("gender")
    return PatientInfo(patient_id, name, birth_date, gender if isinstance(gender, str) else None)


def _choose_patient(
    patients: dict[str, Mapping[str, Any]], patient_id: str | None, anonymous: int
) -> Mapping[str, Any]:
    if patient_id is not None:
        if patient_id not in patients:
            raise UnusableInput(f"Patient {patient_id} is not in the data")
        return patients[patient_id]
    if not patients:
        if anonymous:
            raise UnusableInput("the Patient in the bundle has no id (and no urn:uuid fullUrl)")
        raise UnusableInput("no Patient in the bundle")
    if len(patients) > 1:
        ids = ", ".join(sorted(patients)[:5]) + (", …" if len(patients) > 5 else "")
        raise UnusableInput(f"several Patients ({ids}): pass --patient")
    return next(iter(patients.values()))


def _subject(resource: Mapping[str, Any]) -> object:
    """The patient reference string; None when there is none; Ellipsis when malformed."""
    element = resource.get("subject")
    if type(element) is dict:  # the usual case, answered without the loop below
        reference = element.get("reference")
        if type(reference) is str:
            return reference
    for name in _SUBJECT_FIELDS:
        element = resource.get(name)
        if element is None:
            continue
        if not isinstance(element, dict):
            return ...
        reference = element.get("reference")
        if reference is None:
            continue
        return reference if isinstance(reference, str) else ...
    return None


def _is_patient(reference: str, patient_id: str) -> bool:
    if reference == f"Patient/{patient_id}":
        return True
    resource_type, target = reference_target(reference)
    return target == patient_id and resource_type in ("Patient", "")


def _outcome_problem(resource: Mapping[str, Any], collected: _Collected) -> None:
    """A failed request in a batch-response: report it, and trust no area to be complete."""
    issues = resource.get("issue")
    errors = [
        issue
        for issue in (issues if isinstance(issues, list) else [])
        if isinstance(issue, dict) and issue.get("severity") in ("error", "fatal")
    ]
    if not errors:
        return
    detail = errors[0].get("diagnostics")
    if not isinstance(detail, str):
        detail = errors[0].get("code") if isinstance(errors[0].get("code"), str) else "error"
    collected.problems.append(f"The server reported an error, so data may be missing: {detail}")
    collected.incomplete.update(_DATA_AREAS)


Reader = Callable[[Mapping[str, Any], str, Mappings, MedicationResolver, _Collected], None]


def _observation(r: Mapping[str, Any], ref: str, m: Mappings, _: Any, c: _Collected) -> None:
    c.labs.extend(read_observation(r, ref, m))


def _report(r: Mapping[str, Any], ref: str, m: Mappings, _: Any, c: _Collected) -> None:
    labs = read_report_labs(r, ref, m)
    image = read_report_imaging(r, ref, m)
    c.labs.extend(labs)
    if image is not None:
        c.imaging.append(image)


def _medication_reader(
    reader: Callable[[Mapping[str, Any], str, MedicationResolver, Mappings, _Collected], Any],
    field: str,
) -> Reader:
    def read(r: Mapping[str, Any], ref: str, m: Mappings, meds: Any, c: _Collected) -> None:
        found = reader(r, ref, meds, m, c)
        if found is not None:
            getattr(c, field).append(found)

    return read


def _appender(reader: Callable[[Mapping[str, Any], str, Mappings], Any], field: str) -> Reader:
    def read(r: Mapping[str, Any], ref: str, m: Mappings, _: Any, c: _Collected) -> None:
        found = reader(r, ref, m)
        if found is not None:
            getattr(c, field).append(found)

    return read


def _task(r: Mapping[str, Any], ref: str, _m: Mappings, _: Any, c: _Collected) -> None:
    task = read_task(r, ref)
    if task is not None:
        c.tasks.append(task)


def _careplan(r: Mapping[str, Any], ref: str, _m: Mappings, _: Any, c: _Collected) -> None:
    careplan = read_app_careplan(r, ref)
    if careplan is not None:
        c.careplans.append(careplan)


READERS: dict[str, Reader] = {
    "Observation": _observation,
    "DiagnosticReport": _report,
    "MedicationAdministration": _medication_reader(read_administration, "doses"),
    "MedicationRequest": _medication_reader(read_request, "orders"),
    "MedicationDispense": _medication_reader(read_dispense, "dispenses"),
    "MedicationStatement": _medication_reader(read_statement, "statements"),
    "Immunization": _appender(read_immunization, "vaccinations"),
    "Condition": _appender(read_condition, "conditions"),
    "AllergyIntolerance": _appender(read_allergy, "allergies"),
    "ImagingStudy": _appender(read_imaging_study, "imaging"),
    "Procedure": _appender(read_procedure, "imaging"),
    "Task": _task,
    "CarePlan": _careplan,
}


def _read_each(
    others: list[tuple[str, Mapping[str, Any], str]],
    patient_id: str,
    mappings: Mappings,
    resolver: MedicationResolver,
    collected: _Collected,
) -> int:
    """Hand each resource about the patient (with its label) to the reader for its type; how
    many were read (the skipped ones are counted in `collected`)."""
    read = 0
    patient_reference = f"Patient/{patient_id}"
    for label, resource, resource_type in others:
        # `_subject`, with its usual case (a subject Reference with a string) inline.
        element = resource.get("subject")
        subject = element.get("reference") if type(element) is dict else None
        if type(subject) is not str:
            subject = _subject(resource)
            if subject is ...:
                collected.skip(label, "its patient reference is not a Reference", resource_type)
                continue
        # The usual "Patient/<id>" is compared first; other spellings go to _is_patient.
        if subject != patient_reference and (
            not isinstance(subject, str) or not _is_patient(subject, patient_id)
        ):
            continue
        reader = READERS.get(resource_type)
        if reader is None:
            read += 1
            continue
        try:
            reader(resource, label, mappings, resolver, collected)
        except Malformed as err:
            collected.skip(label, str(err), resource_type, err.area)
            continue
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as err:
            # A shape no reader anticipated: still a skipped resource, never a crash.
            collected.skip(label, f"unexpected content ({type(err).__name__})", resource_type)
            continue
        read += 1
    return read


def read_patient_record(
    resources: Iterable[object],
    patient_id: str | None = None,
    *,
    mappings: Mappings,
    incomplete: frozenset[str] = frozenset(),
    problems: tuple[str, ...] = (),
) -> PatientRecord:
    """One patient's record from FHIR resources (any order; duplicates by type/id once).

    `patient_id` chooses among several Patients; with none given there must be exactly one
    (else `UnusableInput`: "no Patient in the bundle" / "several Patients (a, b): pass
    --patient"). `incomplete` and `problems` come from the HTTP client (failed searches)
    and are merged into `DataQuality`. Never raises for a malformed resource.
    """
    collected = _Collected(problems, incomplete)
    patients: dict[str, Mapping[str, Any]] = {}
    others: list[tuple[str, Mapping[str, Any], str]] = []
    medications: dict[str, Mapping[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    junk: list[str] = []
    anonymous = 0
    for position, item in enumerate(resources):
        if not isinstance(item, dict):
            junk.append(f"entry {position + 1} is not a FHIR resource")
            continue
        resource_type = item.get("resourceType")
        if not isinstance(resource_type, str) or not resource_type:
            junk.append(f"entry {position + 1} has no resourceType")
            continue
        resource_id = item.get("id")
        label: str | None = None
        if isinstance(resource_id, str) and resource_id:
            key = (resource_type, resource_id)
            if key in seen:
                continue
            seen.add(key)
            label = f"{resource_type}/{resource_id}"  # `_label`, inline for the usual case
        elif resource_type == "Patient":
            anonymous += 1
            junk.append(f"entry {position + 1} is a Patient with no id")
            continue
        if resource_type == "Patient":
            patients[str(resource_id)] = item
        elif resource_type == "Medication":
            if isinstance(resource_id, str) and resource_id:
                medications[resource_id] = item
        elif resource_type == "OperationOutcome":
            _outcome_problem(item, collected)
        else:
            others.append((label or _label(item, position), item, str(resource_type)))
    patient = _choose_patient(patients, patient_id, anonymous)
    chosen = str(patient["id"])
    for reason in junk:
        collected.skipped += 1
        collected.problems.append(f"{reason}; it was skipped")
    info = _patient_info(patient, collected)
    collected.read += 1
    resolver = MedicationResolver(medications, mappings)
    collected.read += _read_each(others, chosen, mappings, resolver, collected)
    for medication_id, facts in resolver.used.items():
        if isinstance(facts, Malformed):
            collected.skip(f"Medication/{medication_id}", str(facts), "Medication")
        else:
            collected.read += 1
    unreadable = [
        lab for lab in collected.labs if lab.status is ResultStatus.FINAL and not lab.interpretable
    ]
    uninterpretable = len(unreadable)
    # Listed too (SPEC §4 data.problems: each record the app could not use, and why).
    collected.problems.extend(
        f"{lab.source.reference}: {LABELS[lab.kind]} '{lab.raw}' could not be interpreted; "
        "shown, not used"
        for lab in unreadable
    )
    # Every tuple in a canonical order (by source, doses by day then source), so the order
    # of entries in the server's response never changes an answer (SPEC §2, §3a).
    return PatientRecord(
        patient=info,
        labs=_canonical(collected.labs),
        doses=tuple(sorted(collected.doses, key=_DOSE_KEY)),
        orders=_canonical(collected.orders),
        dispenses=tuple(sorted(collected.dispenses, key=_DOSE_KEY)),
        statements=_canonical(collected.statements),
        vaccinations=_canonical(collected.vaccinations),
        conditions=_canonical(collected.conditions),
        allergies=_canonical(collected.allergies),
        imaging=_canonical(collected.imaging),
        tasks=_canonical(collected.tasks),
        careplans=_canonical(collected.careplans),
        data=DataQuality(
            read=collected.read,
            skipped=collected.skipped,
            uninterpretable=uninterpretable,
            problems=tuple(sorted(collected.problems)),
            incomplete=frozenset(collected.incomplete),
            reasons=tuple(sorted(collected.reasons)),
        ),
    )


class _Sourced(Protocol):
    @property
    def source(self) -> SourceRef: ...


_T = TypeVar("_T", bound=_Sourced)


def _canonical(items: list[_T]) -> tuple[_T, ...]:
    """Sorted by where each came from (reference, then what it says), not by input order."""
    if len(items) < 2:
        return tuple(items)
    return tuple(sorted(items, key=_SOURCE_KEY))
