"""Immunization -> `Vaccination` (SPEC §2 and §3 vaccine checks; terminology.md §3 CVX groups).

Only `completed` Immunizations count. The class comes from the CVX codes: live, non-live,
ambiguous (review) or not a vaccine (excluded). A CVX code we do not know, or a vaccine
coded only in another system (NDC, SNOMED…) or not coded at all, is AMBIGUOUS: a clinician
reviews it, it is never silently non-live. With several CVX codes the most cautious class
wins (live, then ambiguous, then non-live). `occurrenceDateTime` gives the date; an
`occurrenceString` is kept for display and gives no date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings.dates import describe, parse_clinical_date
from fhir_mappings.fhirjson import as_text, codings, concept_key, concept_text
from fhir_mappings.records import SourceRef, Vaccination, VaccineClass
from fhir_mappings.site import Mappings
from fhir_mappings.systems import system_key

_CLASSES = {
    "cvx-live": VaccineClass.LIVE,
    "cvx-non-live": VaccineClass.NON_LIVE,
    "cvx-ambiguous": VaccineClass.AMBIGUOUS,
}
_CAUTION = (VaccineClass.LIVE, VaccineClass.AMBIGUOUS, VaccineClass.NON_LIVE)


def _classify(concept: object, mappings: Mappings) -> tuple[VaccineClass | None, str, str]:
    """The vaccine class, how it was decided and the value set's name for it.

    The class is None when every CVX code says it is not a vaccine. Remembered per mappings
    by `concept_key`: the same few vaccine codes recur in every patient.
    """
    key = concept_key(concept)
    if key is None:
        return _read_class(concept, mappings)
    memo = mappings.memo("vaccine-class")
    found: tuple[VaccineClass | None, str, str] | None = memo.get(key)
    if found is None:
        found = memo.keep(key, _read_class(concept, mappings))
    return found


def _read_class(concept: object, mappings: Mappings) -> tuple[VaccineClass | None, str, str]:
    found: dict[VaccineClass, tuple[str, str]] = {}
    not_vaccine = ""
    for coding in codings(concept, "vaccineCode"):
        code = coding.get("code")
        if not code or system_key(coding.get("system")) != "cvx":
            continue
        cvx = code.strip()
        hits = mappings.lookup(coding.get("system"), code)
        known = [(_CLASSES[hit.valueset], hit.display) for hit in hits if hit.valueset in _CLASSES]
        if known:
            vaccine_class, name = known[0]
            found.setdefault(vaccine_class, (f"CVX {cvx} ({_word(vaccine_class)})", name))
        elif any(hit.valueset == "cvx-not-a-vaccine" for hit in hits):
            not_vaccine = f"CVX {cvx}"
        else:
            found.setdefault(VaccineClass.AMBIGUOUS, (f"CVX {cvx} (not a known CVX code)", ""))
    for vaccine_class in _CAUTION:
        if vaccine_class in found:
            return vaccine_class, *found[vaccine_class]
    if not_vaccine:
        return None, not_vaccine, ""
    return VaccineClass.AMBIGUOUS, "no CVX code (review)", ""


def _word(vaccine_class: VaccineClass) -> str:
    return vaccine_class.value.replace("_", "-")


def read_immunization(
    resource: Mapping[str, Any], reference: str, mappings: Mappings
) -> Vaccination | None:
    """A vaccination from a completed Immunization; None when not completed or not a vaccine."""
    status = as_text(resource.get("status"), "status")
    if status != "completed":
        return None
    concept = resource.get("vaccineCode")
    vaccine_class, matched_by, valueset_name = _classify(concept, mappings)
    if vaccine_class is None:
        return None
    when = None
    if resource.get("occurrenceDateTime") is not None:
        when = parse_clinical_date(resource["occurrenceDateTime"], "occurrenceDateTime")
    occurrence_text = as_text(resource.get("occurrenceString"), "occurrenceString")
    name = (
        concept_text(concept, code_fallback=False) or valueset_name or "vaccine (no name recorded)"
    )
    if when is not None:
        date_text = describe(when)
    elif occurrence_text:
        date_text = f'"{occurrence_text}" (no date)'
    else:
        date_text = "no date"
    display = f"{name} ({_word(vaccine_class)}) on {date_text}"
    return Vaccination(
        when=when,
        occurrence_text=occurrence_text,
        vaccine_class=vaccine_class,
        display=name,
        source=SourceRef(reference, display, matched_by),
    )
