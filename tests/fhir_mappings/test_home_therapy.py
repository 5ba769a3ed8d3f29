"""MedicationDispense and MedicationStatement of Kesimpta (SPEC §2 "Therapy recorded outside
the clinic"): dates, pens, status filters, referenced/contained Medications, unusable ones."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from domain.records import PatientRecord
from fhir_mappings.read import dispenses

from .fhirdata import (
    ATC,
    NDC,
    SC,
    SUBJECT,
    concept,
    kesimpta_atc,
    medication,
    quantity,
    read,
    read_skipped,
)

Resource = dict[str, Any]


def therapy_record(rtype: str, rid: str, status: str, concept: Resource | None) -> Resource:
    """The fields a dispense and a statement share (the medication when given as a concept)."""
    resource: Resource = {"resourceType": rtype, "id": rid, "status": status, "subject": SUBJECT}
    if concept is not None:
        resource["medicationCodeableConcept"] = concept
    return resource


def dispense(
    medication_concept: Resource | None = None,
    *,
    did: str = "md1",
    status: str = "completed",
    handed: str | None = "2025-03-01T10:00:00-05:00",
    **extra: Any,
) -> Resource:
    resource = therapy_record("MedicationDispense", did, status, medication_concept)
    if handed is not None:
        resource["whenHandedOver"] = handed
    resource.update(extra)
    return resource


def statement(
    medication_concept: Resource | None = None,
    *,
    sid: str = "ms1",
    status: str = "active",
    **extra: Any,
) -> Resource:
    resource = therapy_record("MedicationStatement", sid, status, medication_concept)
    resource.update(extra)
    return resource


# --- dispenses ------------------------------------------------------------------------------


def test_a_completed_dispense_is_read_on_its_handover_day_in_its_own_offset() -> None:
    record = read(dispense(kesimpta_atc(), handed="2025-03-01T23:30:00-05:00"))
    (found,) = record.dispenses
    assert found.when.earliest == date(2025, 3, 1)
    assert found.pens == 1
    assert found.source.reference == "MedicationDispense/md1"
    assert "quantity not recorded: one pen" in found.source.display
    assert record.data.incomplete == frozenset()


def test_when_prepared_is_the_fallback_date() -> None:
    (found,) = read(dispense(kesimpta_atc(), handed=None, whenPrepared="2025-02-27")).dispenses
    assert found.when.earliest == date(2025, 2, 27)


@pytest.mark.parametrize(
    "status", ["in-progress", "preparation", "on-hold", "cancelled", "entered-in-error", "stopped"]
)
def test_only_completed_dispenses_count(status: str) -> None:
    assert read(dispense(kesimpta_atc(), status=status)).dispenses == ()


@pytest.mark.parametrize(
    ("amount", "pens"),
    [
        (quantity(3, None, unit="pen"), 3),
        (quantity(3, "{pen}"), 3),
        (quantity(2, None, unit="Prefilled Pen(s)"), 2),
        (quantity(1, "1"), 1),
        (quantity(1, None, unit="each"), 1),
        ({"value": 3}, 3),
        (quantity(1.2, "mL"), 3),
        (quantity(0.4, "mL"), 1),
        (quantity(400, "uL"), 1),
        (quantity(40, "mg"), 2),
        (quantity(1, None, unit="carton"), 1),
        (quantity(2, None, unit="packs"), 2),
        (quantity(13, None, unit="pen"), 13),  # a year of doses: the most one dispense holds
    ],
)
def test_pens_from_the_quantity(amount: Resource, pens: int) -> None:
    record = read(dispense(kesimpta_atc(), quantity=amount))
    (found,) = record.dispenses
    assert found.pens == pens
    assert record.data.incomplete == frozenset()


def test_a_part_pen_is_not_a_dose() -> None:
    (found,) = read(dispense(kesimpta_atc(), quantity=quantity(1.0, "mL"))).dispenses
    assert found.pens == 2
    assert "2 whole pen(s) counted" in found.quantity


@pytest.mark.parametrize(
    "amount",
    [
        quantity(3, None, unit="tablets"),
        quantity(0.2, "mL"),
        quantity(0, None, unit="pen"),
        quantity(14, None, unit="pen"),  # more than a year of doses in one dispense
        quantity(1e9, None, unit="pen"),  # would place supply for ever
        quantity(6, "mL"),  # 15 pens
        quantity(float("inf"), None, unit="pen"),
        quantity(float("nan"), None, unit="pen"),
    ],
)
def test_any_other_quantity_makes_the_therapy_data_incomplete(amount: Resource) -> None:
    record = read(dispense(kesimpta_atc(), did="md9", quantity=amount))
    (found,) = record.dispenses
    assert found.pens == 1
    assert record.data.incomplete == frozenset({"doses"})
    assert any("MedicationDispense/md9" in text for _, text in record.data.reasons)


@pytest.mark.parametrize(
    ("first", "second"), [(20, True), (True, 20), (1, True), (20, 20.0), (20.0, 20), (0.0, -0.0)]
)
def test_dispenses_differing_only_in_the_dose_type_read_as_each_alone(
    first: object, second: object
) -> None:
    """A patient's dispenses remember what their medication and first Dosage classify as
    (`kesimpta_dosage`): JSON true is not 1 (it is no number), nor 1 the same key as 1.0."""

    def one(value: object, did: str, handed: str) -> Resource:
        dose = {"value": value, "unit": "mg"}
        return dispense(
            {"text": "ofatumumab"},
            did=did,
            handed=handed,
            dosageInstruction=[{"doseAndRate": [{"doseQuantity": dose}]}],
        )

    a = one(first, "md1", "2025-03-01T10:00:00-05:00")
    b = one(second, "md2", "2025-04-01T10:00:00-05:00")
    together, alone = read(a, b), (read(a), read(b))
    assert together.dispenses == alone[0].dispenses + alone[1].dispenses
    assert together.data.skipped == alone[0].data.skipped + alone[1].data.skipped
    assert together.data.problems == alone[0].data.problems + alone[1].data.problems
    assert together.data.incomplete == alone[0].data.incomplete | alone[1].data.incomplete


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"value": 2, "unit": "pens"}, {"value": 2.0, "unit": "pens"}),
        ({"value": 1, "unit": "pen"}, {"value": True, "unit": "pen"}),
        ({"value": 2.5, "unit": "pens"}, {"value": 2.5, "unit": "pens", "comparator": "<"}),
        ({"value": 1, "unit": "pen"}, {"value": "1", "unit": "pen"}),
        (quantity(14, None, unit="pen"), quantity(14, None, unit="pen")),  # noted each time
    ],
)
def test_dispenses_differing_only_in_the_quantity_read_as_each_alone(
    first: Resource, second: Resource
) -> None:
    """What a quantity counts as is remembered by its exact JSON (`dispenses._COUNTED`): two
    dispenses read together give what each gives read alone with nothing remembered."""

    def one(amount: Resource, did: str, handed: str) -> Resource:
        return dispense(kesimpta_atc(), did=did, handed=handed, quantity=copy.deepcopy(amount))

    def fresh(*resources: Resource) -> PatientRecord:
        dispenses._COUNTED.clear()
        return read(*resources)

    a = one(first, "md1", "2025-03-01T10:00:00-05:00")
    b = one(second, "md2", "2025-04-01T10:00:00-05:00")
    alone = (fresh(a), fresh(b))
    together = fresh(a, b)
    assert together.dispenses == alone[0].dispenses + alone[1].dispenses
    assert together.data.skipped == alone[0].data.skipped + alone[1].data.skipped
    assert together.data.problems == tuple(sorted(alone[0].data.problems + alone[1].data.problems))
    assert together.data.incomplete == alone[0].data.incomplete | alone[1].data.incomplete


def test_an_undated_dispense_is_skipped_and_makes_doses_incomplete() -> None:
    read_skipped(dispense(kesimpta_atc(), handed=None), "dispenses", "doses")


def test_a_dispense_of_a_referenced_or_contained_medication() -> None:
    med = medication("k1", concept(NDC, "0078-1007-68"))
    referenced = read(
        med, dispense(None, medicationReference={"reference": "Medication/k1"})
    ).dispenses
    assert len(referenced) == 1
    contained = read(
        dispense(
            None,
            contained=[{"resourceType": "Medication", "id": "m", "code": concept(ATC, "L04AG12")}],
            medicationReference={"reference": "#m"},
        )
    ).dispenses
    assert len(contained) == 1


def test_a_dispense_of_arzerra_is_listed_not_counted_and_not_incomplete() -> None:
    record = read(dispense(concept(NDC, "0078-0690-61", text="Arzerra")))
    assert record.dispenses == ()
    assert record.data.incomplete == frozenset()
    assert "IV ofatumumab" in record.data.problems[0]


def test_the_generic_word_alone_on_a_dispense_is_unusable() -> None:
    record = read(dispense({"text": "ofatumumab"}))
    assert record.dispenses == ()
    assert record.data.incomplete == frozenset({"doses"})
    with_route = read(dispense({"text": "ofatumumab"}, dosageInstruction=[{"route": SC}]))
    assert len(with_route.dispenses) == 1


def test_the_brand_word_alone_on_a_dispense_is_enough() -> None:
    (found,) = read(dispense({"text": "Kesimpta Sensoready pen"})).dispenses
    assert found.source.matched_by == "matched by text (brand name Kesimpta)"


# --- statements -----------------------------------------------------------------------------


def test_an_active_statement_with_its_effective_start() -> None:
    (found,) = read(statement(kesimpta_atc(), effectivePeriod={"start": "2024-10-01"})).statements
    assert found.status == "active"
    assert found.start is not None and found.start.earliest == date(2024, 10, 1)
    assert found.end is None
    assert not found.start_asserted


def test_an_active_statement_without_effective_starts_when_asserted() -> None:
    (found,) = read(statement(kesimpta_atc(), dateAsserted="2025-01-15")).statements
    assert found.start is not None and found.start.earliest == date(2025, 1, 15)
    assert found.start_asserted
    assert "date asserted" in found.source.display


def test_a_completed_statement_keeps_its_end() -> None:
    (found,) = read(
        statement(
            kesimpta_atc(),
            status="completed",
            effectivePeriod={"start": "2023-01-01", "end": "2024-06"},
        )
    ).statements
    assert found.end is not None and found.end.partial


def test_an_entered_in_error_statement_is_not_read() -> None:
    assert read(statement(kesimpta_atc(), status="entered-in-error")).statements == ()


def test_an_undated_active_statement_is_kept_but_makes_doses_incomplete() -> None:
    record = read(statement(kesimpta_atc()))
    (found,) = record.statements
    assert found.start is None
    assert record.data.incomplete == frozenset({"doses"})
    assert "no date" in record.data.reasons[0][1]


def test_an_undated_stopped_statement_is_still_a_stop() -> None:
    (found,) = read(statement(kesimpta_atc(), status="stopped")).statements
    assert found.start is None


def test_a_brand_word_statement_is_read() -> None:
    (found,) = read(statement({"text": "kesimpta"}, effectiveDateTime="2025-02-01")).statements
    assert found.source.matched_by == "matched by text (brand name Kesimpta)"


# --- orders: the stop date and the authored date -----------------------------------------------


def test_an_order_keeps_its_stop_date_and_authored_date() -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "stopped",
        "intent": "order",
        "subject": SUBJECT,
        "authoredOn": "2024-01-10",
        "medicationCodeableConcept": kesimpta_atc(),
        "dispenseRequest": {"validityPeriod": {"start": "2024-01-15", "end": "2025-02-01"}},
    }
    (found,) = read(order).orders
    assert found.end is not None and found.end.earliest == date(2025, 2, 1)
    assert found.authored is not None and found.authored.earliest == date(2024, 1, 10)
    assert "until 2025-02-01" in found.source.display
