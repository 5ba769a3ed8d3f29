"""Immunization -> `Vaccination` (SPEC §2 and §3 vaccine checks; CVX groups in
docs/terminology-sources.md §3).

Only `completed` Immunizations count. The class comes from the CVX codes: live, non-live,
ambiguous (review) or not a vaccine (excluded); every code of the CDC CVX list is in one
of the four value sets (a test checks it against the list). With several CVX codes the
most cautious class wins (live, then ambiguous, then non-live). The OID form of CVX is the
same system (`systems.py`).

An Immunization with no recognised CVX code (an unknown code, a vaccine coded only in
another system such as NDC or SNOMED CT, or no code at all) is classified by its text and
displays (SPEC §2): words of a live vaccine (MMR, varicella, yellow fever, Zostavax, nasal
flu…) make it LIVE, anything else AMBIGUOUS — reviewed, never silently non-live — and the
evidence says the code was not recognised. `occurrenceDateTime` gives the date; an
`occurrenceString` is kept for display and gives no date.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.records import SourceRef, Vaccination, VaccineClass
from fhir_mappings.dates import describe, parse_clinical_date
from fhir_mappings.fhirjson import as_text, codings, concept_key, concept_text, concept_words
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
    return mappings.recall("vaccine-class", concept_key(concept), _read_class, concept, mappings)


def _read_class(concept: object, mappings: Mappings) -> tuple[VaccineClass | None, str, str]:
    found: dict[VaccineClass, tuple[str, str]] = {}
    not_vaccine = ""
    unknown: list[str] = []
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
            unknown.append(cvx)
    for vaccine_class in _CAUTION:
        if vaccine_class in found:
            return vaccine_class, *found[vaccine_class]
    if not_vaccine and not unknown:
        return None, not_vaccine, ""
    code_text = (
        f"CVX {', '.join(unknown)} is not a known CVX code"
        if unknown
        else "no recognised vaccine code"
    )
    live_word = live_vaccine_word(concept_words(concept))
    if live_word:
        return VaccineClass.LIVE, f"{code_text}; matched by text ('{live_word}': live)", ""
    return VaccineClass.AMBIGUOUS, f"{code_text}; its text names no live vaccine (review)", ""


#: Words and phrases of live vaccines (CDC live vaccine list in the Pink Book; product
#: names from the CDC CVX/trade-name tables). Matched as whole words in the text.
LIVE_WORDS = (
    "mmr",
    "mmrv",
    "measles",
    "mumps",
    "rubella",
    "varicella",
    "chickenpox",
    "chicken pox",
    "varivax",
    "proquad",
    "priorix",
    "yellow fever",
    "yf vax",
    "stamaril",
    "zostavax",
    "zoster live",
    "live zoster",
    "nasal flu",
    "flu nasal",
    "intranasal",
    "flumist",
    "fluenz",
    "laiv",
    "bcg",
    "oral polio",
    "opv",
    "oral typhoid",
    "vivotif",
    "ty21a",
    "rotavirus",
    "rotateq",
    "rotarix",
    "dengvaxia",
    "qdenga",
    "vaxchora",
    "ixchiq",
    "acam2000",
    "ervebo",
    "imojev",
    "live",
)
_NOT_LIVE = re.compile(r"\b(?:non|not)\s+live\b")
_GLOBULIN = re.compile(r"\bimmun(?:e\s+)?o?globulin\b|\big\b")
_LIVE = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in LIVE_WORDS) + r")\b")


def live_vaccine_word(words: str) -> str:
    """The first live-vaccine word in a vaccine's text ("" when none): "MMR II" -> "mmr".
    "Non-live" and "not live" do not count, nor an immune globulin (VZIG is no vaccine)."""
    text = " ".join(re.sub(r"[^a-z0-9]+", " ", words.lower()).split())
    if _GLOBULIN.search(text):
        return ""
    text = _NOT_LIVE.sub(" ", text)
    match = _LIVE.search(text)
    return match.group(0) if match else ""


#: "live", "non-live", "ambiguous": worked out once, not on every vaccination (an Enum
#: member's `.value` is a descriptor call in 3.11; SPEC §5 throughput).
_WORDS = {vaccine_class: vaccine_class.value.replace("_", "-") for vaccine_class in VaccineClass}


def _word(vaccine_class: VaccineClass) -> str:
    return _WORDS[vaccine_class]


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
    # Positional, in field order: keyword arguments cost a third of building the record.
    return Vaccination(
        when,
        occurrence_text,
        vaccine_class,
        name,  # display
        SourceRef(reference, display, matched_by),
        "not a known CVX code" in matched_by or "no recognised vaccine code" in matched_by,
    )
