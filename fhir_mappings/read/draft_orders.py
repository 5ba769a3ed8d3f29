"""CDS Hooks draft orders -> resources that read as if each order had been given on its date.

The order hooks (`order-select`, `order-sign`) send the orders being written in
`context.draftOrders`. The checks only know what happened, so each draft is turned into a
*stand-in*: the resource that would record the order once carried out, dated on the order
date, which the ordinary readers then classify with the ordinary value sets:

- a MedicationRequest coded with a CVX code (directly or through its Medication), a
  ServiceRequest coded with a CVX code, or an Immunization → a completed Immunization
  (read by `vaccines.read_immunization`: live, non-live or ambiguous);
- any other MedicationRequest → a completed MedicationAdministration with the request's
  medication, route and dose (read by `medications.read_administration`, which decides
  whether it is a counted ofatumumab dose);
- anything else (a lab order, a DeviceRequest…) → no stand-in: the checks have nothing to say.

"The order date" is the day the order is to be carried out when it says so, else the day it
was written: for a MedicationRequest the first of `dosageInstruction[0].timing.event[0]`,
`dosageInstruction[0].timing.repeat.boundsPeriod.start`,
`dispenseRequest.validityPeriod.start` and `authoredOn`; for a ServiceRequest
`occurrenceDateTime`, then `authoredOn`; for an Immunization `occurrenceDateTime`. Without
one (or with only a partial date) it is the day of the call. Stand-ins get ids `cds-draft-<n>` so
cards can say "this order" instead of naming a resource that does not exist.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_mappings.dates import parse_clinical_date
from fhir_mappings.errors import Malformed, UnusableInput
from fhir_mappings.fhirjson import as_list, as_object, codings, concept_text, reference_target
from fhir_mappings.read.bundle import resources_from_json
from fhir_mappings.systems import system_key

__all__ = ["STAND_IN_PREFIX", "DraftOrder", "DraftOrders", "read_draft_orders"]

#: Ids of stand-in resources (never sent to a server).
STAND_IN_PREFIX = "cds-draft-"
#: Draft statuses that mean the order will not be carried out.
_WITHDRAWN = frozenset({"entered-in-error", "cancelled", "revoked", "not-done", "stopped"})
_ORDER_TYPES = ("MedicationRequest", "ServiceRequest", "Immunization")


@dataclass(frozen=True)
class DraftOrder:
    """One draft order and the resource that stands in for it once given."""

    #: `Type/id` as the client sent it (`Type/#<n>` when the draft has no id).
    reference: str
    resource_type: str
    #: The day it counts as given on.
    on: date
    #: What the order is, for people ("Kesimpta 20 mg/0.4 mL pen", "MMR vaccine").
    display: str
    stand_in: Mapping[str, Any] | None

    @property
    def stand_in_reference(self) -> str | None:
        if self.stand_in is None:
            return None
        return f"{self.stand_in['resourceType']}/{self.stand_in['id']}"

    @property
    def has_id(self) -> bool:
        return "/#" not in self.reference


@dataclass(frozen=True)
class DraftOrders:
    orders: tuple[DraftOrder, ...] = ()
    #: Medications sent along with the drafts (bundle entries), for the medication reader.
    medications: tuple[Mapping[str, Any], ...] = ()
    #: `Medication/<id>` that drafts reference but the client did not send: read them from
    #: the FHIR server with the patient's data, or the draft cannot be classified.
    missing_medications: tuple[str, ...] = ()
    #: One sentence per draft that could not be used.
    problems: tuple[str, ...] = ()

    def stand_ins(self) -> list[Mapping[str, Any]]:
        return [order.stand_in for order in self.orders if order.stand_in is not None]

    def by_stand_in(self) -> dict[str, DraftOrder]:
        return {
            ref: order for order in self.orders if (ref := order.stand_in_reference) is not None
        }


def read_draft_orders(draft_orders: object, patient_id: str, today: date) -> DraftOrders:
    """The drafts of `context.draftOrders` (a Bundle) with their stand-ins. Never raises for
    bad content: what cannot be used is named in `problems`."""
    if draft_orders is None:
        return DraftOrders()
    try:
        resources = resources_from_json(draft_orders)
    except UnusableInput as err:
        return DraftOrders(problems=(f"draftOrders could not be read: {err}",))
    medications = {
        str(item["id"]): item
        for item in resources
        if isinstance(item, dict)
        and item.get("resourceType") == "Medication"
        and isinstance(item.get("id"), str)
    }
    orders: list[DraftOrder] = []
    problems: list[str] = []
    missing: list[str] = []
    for position, item in enumerate(resources):
        if not isinstance(item, dict) or item.get("resourceType") not in _ORDER_TYPES:
            continue
        label = _label(item, position)
        try:
            order = _draft(item, label, len(orders) + 1, patient_id, today, medications)
        except Malformed as err:
            problems.append(f"draft order {label} could not be read: {err}")
            continue
        if order is None:
            continue
        orders.append(order)
        wanted = _server_medication(item, medications)
        if wanted is not None and wanted not in missing:
            missing.append(wanted)
    return DraftOrders(
        orders=tuple(orders),
        medications=tuple(medications.values()),
        missing_medications=tuple(missing),
        problems=tuple(problems),
    )


def _label(resource: Mapping[str, Any], position: int) -> str:
    resource_id = resource.get("id")
    kind = str(resource.get("resourceType"))
    if isinstance(resource_id, str) and resource_id:
        return f"{kind}/{resource_id}"
    return f"{kind}/#{position + 1}"


def _draft(
    resource: Mapping[str, Any],
    label: str,
    number: int,
    patient_id: str,
    today: date,
    medications: Mapping[str, Mapping[str, Any]],
) -> DraftOrder | None:
    status = resource.get("status")
    if isinstance(status, str) and status in _WITHDRAWN:
        return None
    _require_patient(resource, patient_id)
    kind = str(resource["resourceType"])
    on = _order_date(resource, kind, today)
    stand_in_id = f"{STAND_IN_PREFIX}{number}"
    subject = {"reference": f"Patient/{patient_id}"}
    if kind == "Immunization":
        concept = resource.get("vaccineCode")
        stand_in = _immunization(stand_in_id, subject, concept, on)
    else:
        concept = _ordered_concept(resource, kind, medications)
        if _has_cvx(concept):
            stand_in = _immunization(stand_in_id, subject, concept, on)
        elif kind == "MedicationRequest":
            stand_in = _administration(stand_in_id, subject, resource, on)
        else:
            stand_in = None
    display = concept_text(concept) or _medication_display(resource) or kind
    return DraftOrder(label, kind, on, display, stand_in)


def _require_patient(resource: Mapping[str, Any], patient_id: str) -> None:
    for field in ("subject", "patient"):
        element = as_object(resource.get(field), field)
        if element is None:
            continue
        reference = element.get("reference")
        if isinstance(reference, str) and reference_target(reference) != ("Patient", patient_id):
            raise Malformed(f"its {field} is not the patient in context")


def _planned(resource: Mapping[str, Any]) -> list[tuple[str, object]]:
    """(path, value) of a MedicationRequest's planned dates, in order of preference."""
    instructions = as_list(resource.get("dosageInstruction"), "dosageInstruction")
    first = as_object(instructions[0], "dosageInstruction[0]") if instructions else None
    timing = as_object((first or {}).get("timing"), "dosageInstruction[0].timing") or {}
    events = as_list(timing.get("event"), "timing.event")
    repeat = as_object(timing.get("repeat"), "timing.repeat") or {}
    bounds = as_object(repeat.get("boundsPeriod"), "timing.repeat.boundsPeriod") or {}
    dispense = as_object(resource.get("dispenseRequest"), "dispenseRequest") or {}
    validity = as_object(dispense.get("validityPeriod"), "dispenseRequest.validityPeriod") or {}
    return [
        ("timing.event[0]", events[0] if events else None),
        ("timing.repeat.boundsPeriod.start", bounds.get("start")),
        ("dispenseRequest.validityPeriod.start", validity.get("start")),
        ("authoredOn", resource.get("authoredOn")),
    ]


def _order_date(resource: Mapping[str, Any], kind: str, today: date) -> date:
    if kind == "MedicationRequest":
        candidates = _planned(resource)
    elif kind == "ServiceRequest":
        candidates = [(path, resource.get(path)) for path in ("occurrenceDateTime", "authoredOn")]
    else:
        candidates = [("occurrenceDateTime", resource.get("occurrenceDateTime"))]
    for path, value in candidates:
        if value is None:
            continue
        when = parse_clinical_date(value, path)
        # A partial date cannot place a dose; the call's day is the honest guess.
        return when.earliest if when.earliest == when.latest else today
    return today


def _ordered_concept(
    resource: Mapping[str, Any], kind: str, medications: Mapping[str, Mapping[str, Any]]
) -> object:
    """What is ordered: ServiceRequest.code, or the MedicationRequest's medication code."""
    if kind == "ServiceRequest":
        return resource.get("code")
    if "medicationCodeableConcept" in resource:
        return resource["medicationCodeableConcept"]
    medication = _referenced_medication(resource, medications)
    return medication.get("code") if medication is not None else None


def _referenced_medication(
    resource: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    element = as_object(resource.get("medicationReference"), "medicationReference")
    reference = element.get("reference") if element else None
    if not isinstance(reference, str):
        return None
    if reference.startswith("#"):
        for item in as_list(resource.get("contained"), "contained"):
            if isinstance(item, dict) and item.get("id") == reference[1:]:
                return item
        return None
    kind, target = reference_target(reference)
    return medications.get(target) if kind in ("Medication", "") else None


def _server_medication(
    resource: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]
) -> str | None:
    """`Medication/<id>` a MedicationRequest names but the client did not send."""
    if resource.get("resourceType") != "MedicationRequest":
        return None
    if "medicationCodeableConcept" in resource:
        return None
    element = resource.get("medicationReference")
    reference = element.get("reference") if isinstance(element, dict) else None
    if not isinstance(reference, str) or reference.startswith("#"):
        return None
    kind, target = reference_target(reference)
    if kind != "Medication" or not target or target in medications:
        return None
    return f"Medication/{target}"


def _medication_display(resource: Mapping[str, Any]) -> str:
    element = resource.get("medicationReference")
    display = element.get("display") if isinstance(element, dict) else None
    return display if isinstance(display, str) else ""


def _has_cvx(concept: object) -> bool:
    return any(system_key(coding.get("system")) == "cvx" for coding in codings(concept, "code"))


def _immunization(
    stand_in_id: str, subject: dict[str, str], concept: object, on: date
) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": stand_in_id,
        "status": "completed",
        "patient": subject,
        "vaccineCode": copy.deepcopy(concept) if concept is not None else {},
        "occurrenceDateTime": on.isoformat(),
    }


def _administration(
    stand_in_id: str, subject: dict[str, str], request: Mapping[str, Any], on: date
) -> dict[str, Any]:
    stand_in: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": stand_in_id,
        "status": "completed",
        "subject": subject,
        "effectiveDateTime": on.isoformat(),
    }
    for field in ("medicationCodeableConcept", "medicationReference", "contained"):
        if field in request:
            stand_in[field] = copy.deepcopy(request[field])
    instructions = as_list(request.get("dosageInstruction"), "dosageInstruction")
    first = as_object(instructions[0], "dosageInstruction[0]") if instructions else None
    dosage: dict[str, Any] = {}
    if first is not None:
        if first.get("route") is not None:
            dosage["route"] = copy.deepcopy(first["route"])
        rates = as_list(first.get("doseAndRate"), "dosageInstruction[0].doseAndRate")
        rate = as_object(rates[0], "dosageInstruction[0].doseAndRate[0]") if rates else None
        if rate is not None and rate.get("doseQuantity") is not None:
            dosage["dose"] = copy.deepcopy(rate["doseQuantity"])
    if dosage:
        stand_in["dosage"] = dosage
    return stand_in
