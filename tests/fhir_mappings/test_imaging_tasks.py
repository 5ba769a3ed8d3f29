"""Brain MRI from three resource types, and the app's own Tasks (SPEC §2, §4)."""

from __future__ import annotations

from datetime import date

import pytest

from fhir_mappings.canonical import TASK_IDENTIFIER_SYSTEM

from .fhirdata import LOINC, SNOMED, SUBJECT, concept, read

CPT = "http://www.ama-assn.org/go/cpt"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


def report(code: str = "24587-8", status: str = "final", **extra: object) -> dict[str, object]:
    return {
        "resourceType": "DiagnosticReport",
        "id": "dr1",
        "status": status,
        "code": concept(LOINC, code, "MR Brain WO and W contrast IV"),
        "subject": SUBJECT,
        "effectiveDateTime": "2025-02-10T14:00:00+01:00",
        **extra,
    }


@pytest.mark.parametrize("status", ["final", "amended", "corrected", "appended"])
def test_final_brain_mri_report_counts(status: str) -> None:
    (image,) = read(report(status=status)).imaging
    assert image.when.earliest == date(2025, 2, 10)
    assert image.source.matched_by == "LOINC 24587-8"


@pytest.mark.parametrize("status", ["preliminary", "registered", "cancelled", "entered-in-error"])
def test_unfinished_brain_mri_report_does_not_count(status: str) -> None:
    assert read(report(status=status)).imaging == ()


def test_other_imaging_report_is_ignored() -> None:
    assert read(report(code="36643-5")).imaging == ()


def test_brain_mri_without_a_date_is_skipped_and_imaging_incomplete() -> None:
    resource = report()
    del resource["effectiveDateTime"]
    record = read(resource)
    assert record.imaging == ()
    assert record.data.incomplete == frozenset({"imaging"})


def procedure(status: str = "completed", **extra: object) -> dict[str, object]:
    return {
        "resourceType": "Procedure",
        "id": "pr1",
        "status": status,
        "code": concept(CPT, "70553"),
        "subject": SUBJECT,
        "performedPeriod": {"start": "2024-12-01T08:00:00Z"},
        **extra,
    }


def test_completed_brain_mri_procedure_counts() -> None:
    (image,) = read(procedure()).imaging
    assert image.source.matched_by == "CPT 70553"
    assert image.when.earliest == date(2024, 12, 1)


def test_not_completed_procedure_does_not_count() -> None:
    assert read(procedure(status="in-progress")).imaging == ()


def study(**extra: object) -> dict[str, object]:
    return {
        "resourceType": "ImagingStudy",
        "id": "is1",
        "status": "available",
        "subject": SUBJECT,
        "started": "2025-03-03T10:00:00-05:00",
        **extra,
    }


def test_imaging_study_by_procedure_code() -> None:
    (image,) = read(study(procedureCode=[concept(LOINC, "24590-2", "MR Brain")])).imaging
    assert image.source.matched_by == "LOINC 24590-2"


def test_imaging_study_by_mr_modality_and_brain_body_site() -> None:
    series = [
        {
            "uid": "1",
            "modality": {"system": DCM, "code": "MR"},
            "bodySite": {"system": SNOMED, "code": "12738006"},
        }
    ]
    (image,) = read(study(modality=[{"system": DCM, "code": "MR"}], series=series)).imaging
    assert "MR of the brain" in image.source.matched_by
    assert image.when.earliest == date(2025, 3, 3)


def test_ct_of_the_brain_is_not_an_mri() -> None:
    series = [
        {
            "uid": "1",
            "modality": {"system": DCM, "code": "CT"},
            "bodySite": {"system": SNOMED, "code": "12738006"},
        }
    ]
    assert read(study(series=series)).imaging == ()


def task(value: str, **extra: object) -> dict[str, object]:
    return {
        "resourceType": "Task",
        "id": "t1",
        "status": "cancelled",
        "intent": "order",
        "for": SUBJECT,
        "identifier": [{"system": TASK_IDENTIFIER_SYSTEM, "value": value}],
        **extra,
    }


def test_app_task_is_read_with_owner_reason_and_last_update() -> None:
    resource = task(
        "p1:hbv-serology:2025-04-01",
        owner={"reference": "Practitioner/9", "display": "Dr Who"},
        statusReason={"text": "HBV DNA monitoring arranged by hepatology"},
        meta={"lastUpdated": "2025-03-05T10:00:00Z"},
    )
    (found,) = read(resource).tasks
    assert (found.check, found.due, found.status) == ("hbv-serology", date(2025, 4, 1), "cancelled")
    assert found.owner == "Dr Who"
    assert found.status_reason == "HBV DNA monitoring arranged by hepatology"
    assert found.last_modified == "2025-03-05T10:00:00Z"
    assert found.identifier == "p1:hbv-serology:2025-04-01"


def test_app_task_without_due_date() -> None:
    (found,) = read(task("p1:pml:", owner={"reference": "Practitioner/9"})).tasks
    assert found.due is None
    assert found.owner == "Practitioner/9"


def test_other_tasks_are_not_the_apps() -> None:
    other = task("x")
    other["identifier"] = [
        {"system": "http://other.example.org/task", "value": "p1:pml:2025-01-01"}
    ]
    assert read(other).tasks == ()


def test_acknowledgement_note_gives_who_and_when_and_version_is_kept() -> None:
    resource = task(
        "p1:hbv-serology:2025-04-01",
        statusReason={"text": "HBV DNA monitoring arranged by hepatology"},
        note=[
            {"text": "called the patient"},
            {
                "authorString": "Dr Rivera",
                "time": "2025-03-05T10:00:00+01:00",
                "text": "Acknowledged by Dr Rivera on 2025-03-05: HBV DNA monitoring arranged",
            },
        ],
        meta={"lastUpdated": "2025-03-06T10:00:00Z", "versionId": "3"},
    )
    (found,) = read(resource).tasks
    assert (found.acknowledged_by, found.acknowledged_on) == ("Dr Rivera", "2025-03-05")
    assert found.version_id == "3"


def test_a_task_closed_without_an_acknowledgement_note_is_not_acknowledged() -> None:
    resource = task(
        "p1:ig-monitoring:2025-04-01", statusReason={"text": "Requirement met: IgG done"}
    )
    (found,) = read(resource).tasks
    assert found.acknowledged_by is None and found.acknowledged_on is None


def test_app_task_evidence_is_what_it_cites_in_any_reference_form() -> None:
    resource = task(
        "p1:infection-active:none",
        reasonReference={"reference": "https://ehr.example.org/fhir/Condition/c1"},
        input=[
            {
                "type": {"text": "Supporting evidence"},
                "valueReference": {"reference": "Condition/c2/_history/4"},
            },
            {
                "type": {"text": "Supporting evidence"},
                "valueReference": {"reference": "urn:uuid:abc"},
            },
            {"type": {"text": "Note"}, "valueString": "not a reference"},
        ],
    )
    (found,) = read(resource).tasks
    assert found.evidence == frozenset({"Condition/c1", "Condition/c2"})


def test_unreadable_task_citations_count_as_none_and_keep_the_task() -> None:
    (found,) = read(task("p1:infection-active:none", input="not a list of inputs")).tasks
    assert found.check == "infection-active"
    assert found.evidence == frozenset()
