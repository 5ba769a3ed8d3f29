"""Property: no resource, however malformed, makes the reader crash or lose count (SPEC §2)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.records import AREAS
from fhir_mappings.read.record import UnusableInput, read_patient_record
from fhir_mappings.search.table import RECORD_SEARCHES
from fhir_mappings.site import default_mappings

from .fhirdata import patient

#: Every type the record searches read (their readers) and one the reader does not know.
TYPES = [
    *dict.fromkeys(row.rtype for row in RECORD_SEARCHES if row.rtype != "Patient"),
    "Encounter",
]
SUBJECT_FIELD = {"Immunization": "patient", "AllergyIntolerance": "patient", "Task": "for"}

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "final",
            "completed",
            "active",
            "2025-01-02",
            "2025-13-45",
            "yesterday",
            "2024",
            "2025-03-01T23:30:00-05:00",
            "http://loinc.org",
            "http://snomed.info/sct",
            "http://hl7.org/fhir/sid/cvx",
            "http://hl7.org/fhir/sid/ndc",
            "http://www.whocc.no/atc",
            "5196-1",
            "2465-3",
            "03",
            "0078-1007-68",
            "L04AG12",
            "L01FA02",
            "mg/dL",
            "g/L",
            "<",
            "#m1",
            "Medication/m1",
            "Reactive",
            "not detected",
            "kesimpta",
        ]
    ),
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "coding",
                    "system",
                    "code",
                    "text",
                    "display",
                    "value",
                    "unit",
                    "comparator",
                    "reference",
                    "start",
                    "low",
                    "high",
                    "route",
                    "dose",
                ]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
ELEMENTS = [
    "status",
    "code",
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "interpretation",
    "referenceRange",
    "component",
    "effectiveDateTime",
    "effectivePeriod",
    "issued",
    "medicationCodeableConcept",
    "medicationReference",
    "contained",
    "dosage",
    "dosageInstruction",
    "dispenseRequest",
    "authoredOn",
    "vaccineCode",
    "occurrenceDateTime",
    "occurrenceString",
    "clinicalStatus",
    "verificationStatus",
    "onsetDateTime",
    "recordedDate",
    "reaction",
    "procedureCode",
    "series",
    "modality",
    "started",
    "performedDateTime",
    "identifier",
    "owner",
    "statusReason",
    "meta",
]


@st.composite
def resource(draw: st.DrawFn, index: int) -> Any:
    kind = draw(st.sampled_from(["resource", "resource", "resource", "junk"]))
    if kind == "junk":
        return draw(json_value)
    resource_type = draw(st.sampled_from(TYPES))
    body: dict[str, Any] = {"resourceType": resource_type, "id": f"r{index}"}
    body[SUBJECT_FIELD.get(resource_type, "subject")] = {"reference": "Patient/p1"}
    body.update(draw(st.dictionaries(st.sampled_from(ELEMENTS), json_value, max_size=6)))
    return body


@st.composite
def resources(draw: st.DrawFn) -> list[Any]:
    count = draw(st.integers(0, 12))
    return [draw(resource(index)) for index in range(count)]


@settings(
    max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(resources())
def test_malformed_resources_never_make_the_reader_raise(items: list[Any]) -> None:
    record = read_patient_record([patient(), *items], mappings=default_mappings())
    data = record.data
    # Every generated resource references the patient (or is junk that cannot be read):
    # each is read or skipped exactly once, and the Patient is read. (No Medication is
    # generated, so nothing else adds to `read`.)
    assert data.read + data.skipped == len(items) + 1
    assert len(data.problems) >= data.skipped
    assert 0 <= data.uninterpretable <= len(record.labs)
    assert data.incomplete <= set(AREAS)
    junk = sum(1 for item in items if not isinstance(item, dict))
    assert data.skipped >= junk


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(json_value, max_size=6))
def test_without_a_patient_only_unusable_input_is_raised(items: list[Any]) -> None:
    try:
        read_patient_record(items, mappings=default_mappings())
    except UnusableInput as err:
        assert "\n" not in str(err)
