"""Condition -> `ConditionRecord`, AllergyIntolerance -> `AllergyRecord` (SPEC §2, §3).

Condition kind by code, one per condition, by priority PML > hepatitis B > pregnancy > MS >
infection (an ICD-10 A81.2 is PML, not "an infection"; B18.1 is hepatitis B). `active` when
clinicalStatus is active/recurrence/relapse (absent counts as not active); `refuted` when
verificationStatus is refuted or entered-in-error. Onset: onsetDateTime, onsetPeriod.start,
else recordedDate.

An allergy is to ofatumumab when its code (or a reaction substance) is a Kesimpta or Arzerra
code, or its text names kesimpta/ofatumumab/arzerra: the same molecule. Active unless
clinicalStatus is inactive/resolved; refuted when verification is refuted/entered-in-error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.records import AllergyRecord, ConditionKind, ConditionRecord, SourceRef
from fhir_mappings.dates import describe, first_date
from fhir_mappings.fhirjson import (
    Match,
    as_list,
    as_object,
    as_text,
    codes_key,
    codings,
    concept_text,
    concept_words,
    matches,
)
from fhir_mappings.site import Mappings

#: Condition value sets in priority order.
CONDITION_KINDS: tuple[tuple[str, ConditionKind], ...] = (
    ("condition-pml", ConditionKind.PML),
    ("condition-hepatitis-b", ConditionKind.HEPATITIS_B),
    ("condition-pregnancy", ConditionKind.PREGNANCY),
    ("condition-ms", ConditionKind.MULTIPLE_SCLEROSIS),
    ("condition-infection-chronic", ConditionKind.INFECTION),
    ("condition-infection", ConditionKind.INFECTION),
)
CHRONIC_INFECTION = "condition-infection-chronic"
_PRIORITY = {vs_id: rank for rank, (vs_id, _) in enumerate(CONDITION_KINDS)}
_KIND = dict(CONDITION_KINDS)
ACTIVE = frozenset({"active", "recurrence", "relapse"})
REFUTED = frozenset({"refuted", "entered-in-error"})
INACTIVE_ALLERGY = frozenset({"inactive", "resolved"})
OFATUMUMAB_VALUESETS = frozenset({"ofatumumab-kesimpta", "ofatumumab-arzerra"})
ANAPHYLAXIS = "reaction-anaphylaxis"
_NAMES = ("kesimpta", "ofatumumab", "arzerra")


def _status_codes(concept: object, where: str) -> set[str]:
    return {str(c["code"]).strip() for c in codings(concept, where) if c.get("code")}


def read_condition(
    resource: Mapping[str, Any], reference: str, mappings: Mappings
) -> ConditionRecord | None:
    """The condition record, or None when its code is in none of the condition value sets."""
    concept = resource.get("code")
    best = _condition_match(concept, mappings)
    if best is None:
        return None
    clinical = _status_codes(resource.get("clinicalStatus"), "clinicalStatus")
    verification = _status_codes(resource.get("verificationStatus"), "verificationStatus")
    onset = first_date(resource, ("onsetDateTime", "onsetPeriod.start", "recordedDate"), "")
    abatement = first_date(resource, ABATEMENT_DATES, "")
    abated = abatement is not None or _abated_without_date(resource)
    active = bool(clinical & ACTIVE)
    refuted = bool(verification & REFUTED)
    status = _first_status(clinical)
    name = concept_text(concept, code_fallback=False) or best.hit.display
    states = [status or "no clinical status"]
    if refuted:
        states.append("refuted")
    date_text = describe(onset) if onset else "no date"
    display = f"{name} ({', '.join(states)}), onset {date_text}"
    if abatement is not None:
        display += f", abated {describe(abatement)}"
    elif abated:
        display += ", abated (no date)"
    # Positional, in field order: keyword arguments cost a third of building the record.
    return ConditionRecord(
        _KIND[best.valueset],
        onset,
        active,
        refuted,
        name,  # display
        SourceRef(reference, display, best.matched_by),
        status,  # clinical_status
        abatement,
        abated,
        best.valueset == CHRONIC_INFECTION,  # chronic
    )


#: abatement[x] elements that give a day (period end, else its start: it had abated by then).
ABATEMENT_DATES = ("abatementDateTime", "abatementPeriod.end", "abatementPeriod.start")
_UNDATED_ABATEMENT = ("abatementString", "abatementAge", "abatementRange")
#: The clinical statuses in the order one is reported when a coding lists several.
_STATUS_ORDER = ("active", "recurrence", "relapse", "remission", "inactive", "resolved")


def _first_status(codes: set[str]) -> str | None:
    """The clinicalStatus as one code (the most active when several are coded)."""
    for status in _STATUS_ORDER:
        if status in codes:
            return status
    return min(codes) if codes else None


def _abated_without_date(resource: Mapping[str, Any]) -> bool:
    """An abatement recorded without a day (a text, an age, a range, or `true`)."""
    if resource.get("abatementBoolean") is True:
        return True
    return any(resource.get(name) is not None for name in _UNDATED_ABATEMENT)


def _condition_match(concept: object, mappings: Mappings) -> Match | None:
    """The match of the highest-priority condition value set; remembered per mappings by the
    codings' systems and codes (`codes_key`: all `matches` reads)."""
    return mappings.recall("condition-kind", codes_key(concept), _best_match, concept, mappings)


def _best_match(concept: object, mappings: Mappings) -> Match | None:
    best = None
    for match in matches(concept, mappings, "code"):
        rank = _PRIORITY.get(match.valueset)
        if rank is not None and (best is None or rank < _PRIORITY[best.valueset]):
            best = match
    return best


def read_allergy(
    resource: Mapping[str, Any], reference: str, mappings: Mappings
) -> AllergyRecord | None:
    """An allergy to ofatumumab, or None when the substance is something else."""
    concepts: list[tuple[object, str]] = [(resource.get("code"), "code")]
    for index, item in enumerate(as_list(resource.get("reaction"), "reaction")):
        reaction = as_object(item, f"reaction[{index}]")
        if reaction is not None and "substance" in reaction:
            concepts.append((reaction["substance"], f"reaction[{index}].substance"))
    matched_by = ""
    for concept, where in concepts:
        for match in matches(concept, mappings, where):
            if match.valueset in OFATUMUMAB_VALUESETS:
                matched_by = match.matched_by
                break
        if matched_by:
            break
        words = concept_words(concept)
        named = next((name for name in _NAMES if name in words), "")
        if named:
            matched_by = f"matched by text ('{named}')"
            break
    if not matched_by:
        return None
    clinical = _status_codes(resource.get("clinicalStatus"), "clinicalStatus")
    verification = _status_codes(resource.get("verificationStatus"), "verificationStatus")
    active = not (clinical & INACTIVE_ALLERGY)
    refuted = bool(verification & REFUTED)
    status = min(clinical) if clinical else None
    allergy_type = _code_text(resource.get("type"), "type")
    criticality = _code_text(resource.get("criticality"), "criticality")
    severe, anaphylaxis = _reactions(resource, mappings)
    name = concept_text(resource.get("code")) or "ofatumumab"
    states = [status or "no clinical status"] + (["refuted"] if refuted else [])
    facts = [
        f"type {allergy_type or 'not recorded'}",
        f"criticality {criticality or 'not recorded'}",
    ]
    if anaphylaxis:
        facts.append("anaphylaxis")
    elif severe:
        facts.append("severe reaction")
    display = f"Allergy to {name} ({', '.join(states)}; {', '.join(facts)})"
    return AllergyRecord(
        active=active,
        refuted=refuted,
        display=name,
        source=SourceRef(reference, display, matched_by),
        clinical_status=status,
        allergy_type=allergy_type,
        criticality=criticality,
        severe_reaction=severe,
        anaphylaxis=anaphylaxis,
    )


def _code_text(value: object, where: str) -> str | None:
    """A `code` element's value, trimmed and lower-case; None when absent."""
    text = as_text(value, where)
    if text is None:
        return None
    return text.strip().lower() or None


def _reactions(resource: Mapping[str, Any], mappings: Mappings) -> tuple[bool, bool]:
    """(any reaction severe, any manifestation anaphylaxis — by code or by the word)."""
    severe = anaphylaxis = False
    for index, item in enumerate(as_list(resource.get("reaction"), "reaction")):
        reaction = as_object(item, f"reaction[{index}]")
        if reaction is None:
            continue
        severe = severe or _code_text(reaction.get("severity"), f"reaction[{index}].severity") == (
            "severe"
        )
        for position, manifestation in enumerate(
            as_list(reaction.get("manifestation"), f"reaction[{index}].manifestation")
        ):
            where = f"reaction[{index}].manifestation[{position}]"
            coded = any(m.valueset == ANAPHYLAXIS for m in matches(manifestation, mappings, where))
            anaphylaxis = anaphylaxis or coded or "anaphyla" in concept_words(manifestation)
    return severe, anaphylaxis
