"""Qualitative results (HBsAg, anti-HBc, HBV DNA, pregnancy tests…) in the order of SPEC §2:

1. `interpretation`: RR, WR, POS, DET, A (and AA) -> positive; NR, NEG, ND, N -> negative;
   IND, E -> uninterpretable (value sets `interpretation-*`, v3 and v2-0078 alike; for hCG
   also H/HH positive). R means *resistant* and is not read;
2. `valueCodeableConcept`: SNOMED/LOINC answer codes (value sets `qualitative-*`, and the
   pregnancy answers for a pregnancy status);
3. `valueString` words, any case: reactive, non-reactive, positive, negative, detected,
   not detected… matched as whole phrases, so "not detected" is never read as "detected"
   (for a pregnancy status also "pregnant"/"not pregnant", and `valueBoolean`);
4. `valueQuantity` as a signal-to-cutoff index: at or above the reference range's `high`
   (or the cutoff a range text gives, e.g. "<1.0") -> positive, below -> negative.
   Quantitative hCG without a usable range uses the usual serum cut-offs: < 5 m[IU]/mL
   negative, >= 25 m[IU]/mL positive, in between unknown (GLOWM/NAVMED P-5139 "Pregnancy
   test"; clinical summaries of serum beta-hCG). Quantitative HBsAg in IU/mL without a
   range is left to the rules (positive at >= 0.05 IU/mL, a setting).
5. HBV DNA quantity (`read_hbv_dna`): a number above 0 in any unit (above the laboratory's
   limit of detection, its referenceRange.low, when given) is detectable; 0 is not; a `<`
   bound is uninterpretable (a "detected" interpretation, read first, wins over it).

Anything else is uninterpretable (None): the check says unknown and shows the raw value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from domain.records import LabKind, Qualitative
from fhir_mappings.errors import Malformed
from fhir_mappings.fhirjson import CodesKey, as_list, as_object, as_text, codes_key, codings
from fhir_mappings.read.quantity import QuantityValue, read_quantity
from fhir_mappings.site import Mappings
from fhir_mappings.systems import SYSTEMS

_INTERPRETATION_SYSTEM = SYSTEMS["interpretation"].uri

_POSITIVE_WORDS = frozenset({"positive", "pos", "reactive", "repeatedly reactive", "detected"})
_NEGATIVE_WORDS = frozenset(
    {
        "negative",
        "neg",
        "non reactive",
        "nonreactive",
        "not reactive",
        "not detected",
        "target not detected",  # the wording of common viral-load assays
        "undetected",
        "none detected",
    }
)
_PREGNANT_WORDS = frozenset({"pregnant"})
_NOT_PREGNANT_WORDS = frozenset({"not pregnant"})
_PARENTHESES = re.compile(r"\([^)]*\)")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
# A cut-off in a reference range text: "<1.0", "< 1.00 non-reactive", "cutoff 1.0", ">=1".
_CUTOFF = re.compile(r"(?:<|≥|>=|cut\s*-?\s*off\s*:?)\s*([0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)

#: Kinds read with the signal-to-cutoff index rule when the value is a Quantity.
INDEX_KINDS = frozenset(
    {
        LabKind.HBSAG,
        LabKind.ANTI_HBC_TOTAL,
        LabKind.ANTI_HBC_IGM,
        LabKind.VARICELLA_IGG,
        LabKind.HCG,
    }
)
HCG_UNIT = "m[IU]/mL"
HBSAG_UNIT = "[IU]/mL"
HCG_NEGATIVE_BELOW = 5.0
HCG_POSITIVE_FROM = 25.0


class Reading(NamedTuple):
    value: Qualitative | None
    #: How it was read, for the evidence: "interpretation NEG", '"Non-Reactive"', …
    how: str


def _words(text: str) -> str:
    text = _PARENTHESES.sub(" ", text.lower().replace("-", " ").replace("_", " "))
    return " ".join(_NOT_WORD.sub(" ", text).split())


def read_words(text: str, kind: LabKind) -> Qualitative | None:
    """valueString words as positive/negative, or None when they are anything else."""
    words = _words(text)
    if kind is LabKind.PREGNANCY_STATUS:
        if words in _PREGNANT_WORDS:
            return Qualitative.POSITIVE
        if words in _NOT_PREGNANT_WORDS:
            return Qualitative.NEGATIVE
    if words in _POSITIVE_WORDS:
        return Qualitative.POSITIVE
    if words in _NEGATIVE_WORDS:
        return Qualitative.NEGATIVE
    return None


def _from_interpretation(
    part: Mapping[str, Any], kind: LabKind, mappings: Mappings, where: str
) -> Reading | None:
    """The reading the interpretation flags give; remembered per mappings by their codings."""
    concepts = part.get("interpretation")
    if concepts is None:
        return None
    key = _interpretation_key(concepts, kind)
    return mappings.recall(
        "qualitative-interpretation", key, _read_interpretation, concepts, kind, mappings, where
    )


def _interpretation_key(
    concepts: object, kind: LabKind
) -> tuple[bool, tuple[CodesKey, ...]] | None:
    """What `_read_interpretation` depends on: whether H counts (hCG) and each concept."""
    if type(concepts) is not list:
        return None
    keys = []
    for concept in concepts:
        key = codes_key(concept)
        if key is None:
            return None
        keys.append(key)
    return kind is LabKind.HCG, tuple(keys)


def _read_interpretation(
    concepts: object, kind: LabKind, mappings: Mappings, where: str
) -> Reading | None:
    positive: list[str] = []
    negative: list[str] = []
    unclear: list[str] = []
    for index, concept in enumerate(as_list(concepts, f"{where}interpretation")):
        for coding in codings(concept, f"{where}interpretation[{index}]"):
            code = coding.get("code")
            if not code:
                continue
            system = coding.get("system") or _INTERPRETATION_SYSTEM
            for hit in mappings.lookup(system, code):
                if hit.valueset == "interpretation-positive" or (
                    hit.valueset == "interpretation-high" and kind is LabKind.HCG
                ):
                    positive.append(code)
                elif hit.valueset == "interpretation-negative":
                    negative.append(code)
                elif hit.valueset == "interpretation-indeterminate":
                    unclear.append(code)
    if unclear:
        return Reading(None, f"interpretation {', '.join(unclear)} (indeterminate or equivocal)")
    if positive and negative:
        return Reading(None, f"conflicting interpretation {', '.join(positive + negative)}")
    if positive:
        return Reading(Qualitative.POSITIVE, f"interpretation {positive[0]}")
    if negative:
        return Reading(Qualitative.NEGATIVE, f"interpretation {negative[0]}")
    return None


def _from_concept(concept: object, kind: LabKind, mappings: Mappings, where: str) -> Reading:
    """The reading an answer code gives; remembered per mappings by `codes_key` (the
    codings' systems and codes are all `_read_concept` reads)."""
    codes = codes_key(concept)
    key = None if codes is None else (kind is LabKind.PREGNANCY_STATUS, codes)
    return mappings.recall(
        "qualitative-concept", key, _read_concept, concept, kind, mappings, where
    )


def _read_concept(concept: object, kind: LabKind, mappings: Mappings, where: str) -> Reading:
    positive_sets = {"qualitative-positive"}
    negative_sets = {"qualitative-negative"}
    if kind is LabKind.PREGNANCY_STATUS:
        positive_sets.add("pregnancy-answer-pregnant")
        negative_sets.add("pregnancy-answer-not-pregnant")
    found: dict[Qualitative | None, str] = {}
    for coding in codings(concept, where):
        code = coding.get("code")
        if not code:
            continue
        for hit in mappings.lookup(coding.get("system"), code):
            how = f"{hit.system_label} {code.strip()} {hit.display}".strip()
            if hit.valueset in positive_sets:
                found.setdefault(Qualitative.POSITIVE, how)
            elif hit.valueset in negative_sets:
                found.setdefault(Qualitative.NEGATIVE, how)
            elif hit.valueset == "qualitative-indeterminate":
                found.setdefault(None, how)
    if len(found) == 1:
        value, how = next(iter(found.items()))
        return Reading(value, how)
    if len(found) > 1:
        return Reading(None, "conflicting answer codes")
    return Reading(None, "answer code not recognised")


def _ranges(part: Mapping[str, Any], where: str) -> list[tuple[Mapping[str, Any], str]]:
    found = []
    for index, item in enumerate(as_list(part.get("referenceRange"), f"{where}referenceRange")):
        reference = as_object(item, f"{where}referenceRange[{index}]")
        if reference is not None:
            found.append((reference, f"{where}referenceRange[{index}]"))
    return found


def _range_value(
    part: Mapping[str, Any], quantity: QuantityValue, where: str, side: str
) -> float | None:
    """The first referenceRange `side` ("low" or "high") in the quantity's unit (a bound with
    no unit is read in it); None when no range gives one."""
    for reference, path in _ranges(part, where):
        bound = read_quantity(reference.get(side), f"{path}.{side}")
        if bound is not None:
            if not bound.unit or not quantity.unit or bound.unit == quantity.unit:
                return bound.value
            return bound.to(quantity.unit)
    return None


def _cutoff(part: Mapping[str, Any], quantity: QuantityValue, where: str) -> float | None:
    """The positivity cut-off: the reference range's high, else a cut-off in a range text
    ("<1.0"), in the quantity's unit."""
    high = _range_value(part, quantity, where, "high")
    if high is not None:
        return high
    for reference, path in _ranges(part, where):
        match = _CUTOFF.search(as_text(reference.get("text"), f"{path}.text") or "")
        if match:
            return float(match.group(1))
    return None


def _compare(quantity: QuantityValue, cutoff: float) -> Qualitative | None:
    value, comparator = quantity.value, quantity.comparator
    if comparator in ("", "ad"):
        return Qualitative.POSITIVE if value >= cutoff else Qualitative.NEGATIVE
    if comparator == "<":
        return Qualitative.NEGATIVE if value <= cutoff else None
    if comparator == "<=":
        return Qualitative.NEGATIVE if value < cutoff else None
    return Qualitative.POSITIVE if value >= cutoff else None  # ">" and ">="


def _detection_limit(part: Mapping[str, Any], quantity: QuantityValue, where: str) -> float | None:
    """The laboratory's limit of detection (referenceRange.low) in the quantity's unit."""
    return _range_value(part, quantity, where, "low")


def read_hbv_dna(part: Mapping[str, Any], quantity: QuantityValue, where: str) -> Reading:
    """An HBV DNA quantity as detectable (POSITIVE) or not (NEGATIVE); see module doc."""
    raw = quantity.raw()
    if quantity.comparator in ("<", "<="):
        return Reading(None, f"{raw}: below a limit, not known to be detected or not")
    if quantity.comparator in (">", ">="):
        if quantity.value > 0 or quantity.comparator == ">":
            return Reading(Qualitative.POSITIVE, f"{raw}: detectable")
        return Reading(None, f"{raw}: not known to be detected")
    if quantity.comparator:
        return Reading(None, f"{raw}: not a measured amount")
    if "log" in (quantity.unit or "").lower():
        # A log viral load is reported only for a measured amount (log 0 is 1 IU/mL).
        return Reading(Qualitative.POSITIVE, f"{raw}: detectable (log value)")
    if quantity.value <= 0:
        return Reading(Qualitative.NEGATIVE, f"{raw}: not detectable")
    limit = _detection_limit(part, quantity, where)
    if limit is None or quantity.value > limit:
        return Reading(Qualitative.POSITIVE, f"{raw}: detectable")
    return Reading(None, f"{raw}: at or below the limit of detection {limit:g}")


def _from_quantity(
    part: Mapping[str, Any], quantity: QuantityValue, kind: LabKind, where: str
) -> Reading:
    if kind is LabKind.HBV_DNA:
        return read_hbv_dna(part, quantity, where)
    if kind not in INDEX_KINDS:
        return Reading(None, "a quantity, not a qualitative result")
    cutoff = _cutoff(part, quantity, where)
    if cutoff is not None:
        value = _compare(quantity, cutoff)
        return Reading(value, f"index {quantity.raw()} against cut-off {cutoff:g}")
    if kind is LabKind.HCG:
        amount = quantity.to(HCG_UNIT)
        if amount is not None:
            scaled = quantity._replace(value=amount)
            if _compare(scaled, HCG_POSITIVE_FROM) is Qualitative.POSITIVE:
                return Reading(Qualitative.POSITIVE, f"hCG {amount:g} {HCG_UNIT} (>= 25)")
            if _compare(scaled, HCG_NEGATIVE_BELOW) is Qualitative.NEGATIVE:
                return Reading(Qualitative.NEGATIVE, f"hCG {amount:g} {HCG_UNIT} (< 5)")
            return Reading(None, f"hCG {amount:g} {HCG_UNIT} (between 5 and 25)")
    if kind is LabKind.HBSAG and quantity.to(HBSAG_UNIT) is not None:
        return Reading(None, "quantitative HBsAg (judged against the positivity threshold)")
    return Reading(None, "no reference range to read the index against")


def read_qualitative(
    part: Mapping[str, Any],
    kind: LabKind,
    quantity: QuantityValue | None,
    mappings: Mappings,
    where: str,
) -> Reading:
    """The qualitative reading of an Observation (or one of its components); see module doc.

    `where` is the element path prefix for messages: "" or "component[2].".
    """
    reading = _from_interpretation(part, kind, mappings, where)
    if reading is not None:
        return reading
    if "valueCodeableConcept" in part:
        return _from_concept(
            part["valueCodeableConcept"], kind, mappings, f"{where}valueCodeableConcept"
        )
    if "valueString" in part:
        text = as_text(part["valueString"], f"{where}valueString") or ""
        value = read_words(text, kind)
        return Reading(value, f'"{text.strip()}"')
    if quantity is not None:
        return _from_quantity(part, quantity, kind, where)
    if "valueBoolean" in part and kind is LabKind.PREGNANCY_STATUS:
        # Some IGs record pregnancy status as a boolean (a COVAX IG profiles LOINC 11449-6
        # with value[x] only boolean): true is pregnant.
        flag = part["valueBoolean"]
        if not isinstance(flag, bool):
            raise Malformed(f"{where}valueBoolean is not a boolean")
        return Reading(Qualitative.POSITIVE if flag else Qualitative.NEGATIVE, f"value {flag}")
    if "valueBoolean" in part or "valueInteger" in part:
        return Reading(None, "a value type that is not read as a result")
    return Reading(None, "no value")
