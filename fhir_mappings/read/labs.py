"""Observations (and CBC DiagnosticReports) -> `LabResult` (SPEC §2 rules for labs).

- Kind from the code (value sets named in `LAB_KINDS`), for the Observation and for each of
  its components; a code that is no lab we know gives nothing.
- Status: final/amended/corrected are used; preliminary/registered are kept as pending;
  entered-in-error, cancelled and anything else give nothing.
- Date: effectiveDateTime, effectivePeriod.start, (effectiveInstant), issued, in that order.
- Quantities are converted to `CANONICAL_UNITS` (module `ucum`); a unit that cannot be
  converted leaves the value None. The result's own referenceRange.low, converted the same
  way, is `lower_limit`. Qualitative kinds are read by `qualitative.read_qualitative`; for
  IgG/IgM an interpretation flag (L, H) is not the value and is not read.
- A result that parsed but cannot be read as its kind needs is `interpretable=False`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from domain.records import (
    CANONICAL_UNITS,
    ClinicalDate,
    LabKind,
    LabResult,
    Qualitative,
    ResultStatus,
    SourceRef,
)
from fhir_mappings.dates import describe, first_date
from fhir_mappings.errors import Malformed
from fhir_mappings.fhirjson import (
    Match,
    as_list,
    as_object,
    codes_key,
    coding_matches,
    codings,
    concept_text,
)
from fhir_mappings.memo import json_key
from fhir_mappings.read.qualitative import read_qualitative
from fhir_mappings.read.quantity import QuantityValue, read_quantity
from fhir_mappings.site import Mappings
from fhir_mappings.ucum import convert

LAB_KINDS: dict[str, LabKind] = {
    "hbsag": LabKind.HBSAG,
    "anti-hbc-total": LabKind.ANTI_HBC_TOTAL,
    "anti-hbc-igm": LabKind.ANTI_HBC_IGM,
    "hbv-dna": LabKind.HBV_DNA,
    "anti-hbs": LabKind.ANTI_HBS,
    "igg": LabKind.IGG,
    "igm": LabKind.IGM,
    "cbc-panel": LabKind.CBC_PANEL,
    "wbc": LabKind.WBC,
    "lymphocytes": LabKind.LYMPHOCYTES,
    "cd19": LabKind.CD19,
    "varicella-igg": LabKind.VARICELLA_IGG,
    "pregnancy-status": LabKind.PREGNANCY_STATUS,
    "hcg": LabKind.HCG,
}
#: The lab value sets, for search URLs (queries.py).
LAB_VALUESETS = tuple(LAB_KINDS)

LABELS: dict[LabKind, str] = {
    LabKind.HBSAG: "HBsAg",
    LabKind.ANTI_HBC_TOTAL: "Anti-HBc (total)",
    LabKind.ANTI_HBC_IGM: "Anti-HBc IgM",
    LabKind.HBV_DNA: "HBV DNA",
    LabKind.ANTI_HBS: "Anti-HBs",
    LabKind.IGG: "IgG",
    LabKind.IGM: "IgM",
    LabKind.CBC_PANEL: "CBC",
    LabKind.WBC: "WBC",
    LabKind.LYMPHOCYTES: "Lymphocytes",
    LabKind.CD19: "CD19 B cells",
    LabKind.VARICELLA_IGG: "Varicella IgG",
    LabKind.PREGNANCY_STATUS: "Pregnancy status",
    LabKind.HCG: "hCG",
}

#: Kinds whose result is a qualitative reading, a quantity, either, or just being there.
QUALITATIVE = frozenset(
    {
        LabKind.HBV_DNA,  # detectable or not: the quantity is read for that (and shown)
        LabKind.ANTI_HBC_TOTAL,
        LabKind.ANTI_HBC_IGM,
        LabKind.VARICELLA_IGG,
        LabKind.PREGNANCY_STATUS,
    }
)
#: A qualitative reading, or failing that a quantity the rules judge (quantitative HBsAg in
#: IU/mL against its threshold, hCG against its cut-offs).
EITHER = frozenset({LabKind.HBSAG, LabKind.ANTI_HBS, LabKind.HCG})
PRESENCE = frozenset({LabKind.CBC_PANEL})

# Bound once: reading a member off its Enum class costs a lookup each time in 3.11, and
# these are read for every result (SPEC §5 throughput).
_PENDING = ResultStatus.PENDING
_PREGNANCY_STATUS = LabKind.PREGNANCY_STATUS
_POSITIVE = Qualitative.POSITIVE
#: The set above each kind is in (`_NUMBER` for the rest, read by their quantity): one
#: look-up per result instead of up to four set tests.
_NUMBER: frozenset[LabKind] = frozenset()
_ROLES: dict[LabKind, frozenset[LabKind]] = {
    kind: next((role for role in (QUALITATIVE, EITHER, PRESENCE) if kind in role), _NUMBER)
    for kind in LabKind
}

OBSERVATION_STATUS = {
    "final": ResultStatus.FINAL,
    "amended": ResultStatus.FINAL,
    "corrected": ResultStatus.FINAL,
    "preliminary": ResultStatus.PENDING,
    "registered": ResultStatus.PENDING,
}
REPORT_STATUS = {
    **OBSERVATION_STATUS,
    "appended": ResultStatus.FINAL,
    "partial": ResultStatus.PENDING,
}
OBSERVATION_DATES = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued")
REPORT_DATES = ("effectiveDateTime", "effectivePeriod.start", "issued")
_ISSUED = ("issued",)


def _lab_matches(
    concept: object, mappings: Mappings, where: str
) -> tuple[tuple[LabKind, Match], ...]:
    """Each lab kind a code is in, with its first match; remembered per mappings by the
    codings' systems and codes (all `_find_lab_matches` reads)."""
    key = codes_key(concept)
    return mappings.recall("lab-kinds", key, _find_lab_matches, concept, mappings, where)


def _find_lab_matches(
    concept: object, mappings: Mappings, where: str
) -> tuple[tuple[LabKind, Match], ...]:
    found: dict[LabKind, Match] = {}
    for coding in codings(concept, where):
        code = coding.get("code")
        if not code:
            continue
        for match in coding_matches(coding.get("system"), code, mappings):
            kind = LAB_KINDS.get(match.valueset)
            if kind is not None and kind not in found:
                found[kind] = match
    return tuple(found.items())


def _status(
    resource: Mapping[str, Any], table: Mapping[str, ResultStatus]
) -> tuple[ResultStatus | None, str]:
    """The status as the rules use it (None: never used) and as recorded."""
    status = resource.get("status")
    if not isinstance(status, str):
        raise Malformed("status is missing or not a code")
    return table.get(status), status


def read_observation(
    resource: Mapping[str, Any], reference: str, mappings: Mappings
) -> list[LabResult]:
    """The lab results an Observation holds (none when it is no lab we read, or not usable)."""
    found = [
        (kind, match, resource, "")
        for kind, match in _lab_matches(resource.get("code"), mappings, "code")
    ]
    if resource.get("component") is not None:
        found.extend(_component_matches(resource["component"], mappings))
    return _results(resource, found, OBSERVATION_STATUS, OBSERVATION_DATES, reference, mappings)


def _component_matches(
    components: object, mappings: Mappings
) -> list[tuple[LabKind, Match, Mapping[str, Any], str]]:
    found = []
    for index, item in enumerate(as_list(components, "component")):
        component = as_object(item, f"component[{index}]")
        if component is None:
            continue
        where = f"component[{index}]"
        for kind, match in _lab_matches(component.get("code"), mappings, f"{where}.code"):
            found.append((kind, match, component, where))
    return found


def read_report_labs(
    resource: Mapping[str, Any], reference: str, mappings: Mappings
) -> list[LabResult]:
    """A DiagnosticReport coded as a CBC panel counts as a CBC (SPEC §3 cbc-baseline)."""
    found = _lab_matches(resource.get("code"), mappings, "code")
    panels = [(kind, match, resource, "") for kind, match in found if kind in PRESENCE]
    return _results(resource, panels, REPORT_STATUS, REPORT_DATES, reference, mappings)


def _results(
    resource: Mapping[str, Any],
    found: list[tuple[LabKind, Match, Mapping[str, Any], str]],
    statuses: Mapping[str, ResultStatus],
    dates: tuple[str, ...],
    reference: str,
    mappings: Mappings,
) -> list[LabResult]:
    """The results `found` (kind, match, the element holding the value, its path) in an
    Observation or report with a status we read, dated by the resource; none without."""
    if not found:
        return []
    raw_status = resource.get("status")  # `_status`, inline: this runs for every result
    if type(raw_status) is not str:
        status, raw_status = _status(resource, statuses)
    else:
        status = statuses.get(raw_status)
    if status is None:
        return []
    when = first_date(resource, dates, "")
    issued = first_date(resource, _ISSUED, "") if "issued" in resource else None
    return [
        _result(part, kind, match, status, raw_status, (when, issued), reference, mappings, where)
        for kind, match, part, where in found
    ]


def _lower_limit(
    part: Mapping[str, Any], quantity: QuantityValue, target: str, where: str
) -> tuple[float | None, bool]:
    """The first referenceRange.low in `target` units, and whether it had no unit (then it
    is read in the value's unit, and the rules check that reading is plausible)."""
    ranges = part.get("referenceRange")
    if type(ranges) is not list:  # absent (nothing to read) or checked by as_list
        ranges = as_list(ranges, f"{where}referenceRange")
    for index, item in enumerate(ranges):
        reference = (
            item if type(item) is dict else as_object(item, f"{where}referenceRange[{index}]")
        )
        element = reference.get("low") if reference is not None else None
        if element is None:
            continue
        low = _quantity(element, where, "referenceRange[", index, "].low")
        if low is None:
            continue
        # `convert` rather than `QuantityValue.to`: one call less for every range.
        if not low.unit:
            return convert(low.value, quantity.unit, target), True
        return convert(low.value, low.unit, target), False
    return None, False


def _quantity(element: object, *path: object) -> QuantityValue | None:
    """`read_quantity` of the element at the path `path` joins, joined only when there is an
    error to report: this runs for every lab value and reference range (SPEC §5 throughput)."""
    try:
        return read_quantity(element, "")
    except Malformed:  # read again to raise the same error naming the element
        return read_quantity(element, "".join(map(str, path)))


def _interpretation_codes(part: Mapping[str, Any]) -> str:
    concepts = part.get("interpretation")
    if not concepts:
        return ""
    codes = [
        coding["code"]
        for concept in concepts
        if isinstance(concept, dict)
        for coding in concept.get("coding") or ()
        if isinstance(coding, dict) and isinstance(coding.get("code"), str)
    ]
    return ", ".join(codes)


def _raw(part: Mapping[str, Any], quantity: QuantityValue | None) -> str:
    if quantity is not None:
        text = quantity.raw()
    elif "valueCodeableConcept" in part:
        text = concept_text(part["valueCodeableConcept"]) or "coded value"
    elif isinstance(part.get("valueString"), str):
        text = part["valueString"].strip()
    elif "valueBoolean" in part:
        text = str(part["valueBoolean"]).lower()
    elif "dataAbsentReason" in part:
        text = f"no value ({concept_text(part['dataAbsentReason']) or 'data absent'})"
    else:
        text = ""
    flags = _interpretation_codes(part) if "interpretation" in part else ""
    if flags:
        return f"{text} (interpretation {flags})" if text else f"interpretation {flags}"
    return text or "no value"


def _describe(
    kind: LabKind,
    status: ResultStatus,
    raw_status: str,
    qualitative: Qualitative | None,
    how: str,
    value: float | None,
    raw: str,
) -> str:
    if status is _PENDING:
        return f"pending ({raw_status}), {raw}"
    if kind in PRESENCE:
        return "resulted"
    if qualitative is None and value is not None:  # a number alone, nearly every result
        text = f"{value:g} {CANONICAL_UNITS[kind]}"
        return text if raw.startswith(text) else f"{text} ({raw})"
    parts: list[str] = []
    if qualitative is not None:
        word = qualitative.value.capitalize()
        if kind is _PREGNANCY_STATUS:
            word = "Pregnant" if qualitative is _POSITIVE else "Not pregnant"
        parts.append(f"{word} ({how})")
    if value is not None:
        canonical = CANONICAL_UNITS[kind]
        text = f"{value:g} {canonical}"
        parts.append(text if raw.startswith(text) else f"{text} ({raw})")
    return "; ".join(parts) if parts else f"cannot be interpreted ({raw})"


#: The elements of an Observation (or a component) that `_read_value` reads: its key.
_VALUE_ELEMENTS = (
    "valueQuantity",
    "referenceRange",
    "interpretation",
    "valueCodeableConcept",
    "valueString",
    "valueBoolean",
    "valueInteger",
    "dataAbsentReason",
)


class _Value(NamedTuple):
    """What a result's value reads as: all of a `LabResult` but its kind, status and dates
    and where it came from."""

    qualitative: Qualitative | None
    value: float | None
    unit: str | None
    lower_limit: float | None
    raw: str
    interpretable: bool
    comparator: str
    lower_limit_unitless: bool
    #: The value as the evidence describes it ("1.3 10*3/uL", "Negative (interpretation NEG)").
    described: str


def _value(
    part: Mapping[str, Any],
    kind: LabKind,
    status: ResultStatus,
    raw_status: str,
    mappings: Mappings,
    prefix: str,
) -> _Value:
    """`_read_value`, remembered per mappings by all it reads: the kind, the status and the
    value elements as exact JSON (`memo.json_key`; `...`, which no JSON decodes to, stands
    for an absent element, so absent and null differ). Results repeat their values across
    patients (a lymphocyte count of 1.3 with the laboratory's range, "Negative"), so a
    worklist of many patients mostly hits: an Observation then costs about 15% less than
    read without the memo, and a miss (the key built for nothing) about a third more, so
    this pays from about 70% hits (90-97% on the generated cohort; SPEC §5 throughput).
    Errors are never remembered."""
    elements = json_key(*[part.get(name, ...) for name in _VALUE_ELEMENTS])
    key = None if elements is None else (kind, status, raw_status, elements)
    return mappings.recall(
        "lab-values", key, _read_value, part, kind, status, raw_status, mappings, prefix
    )


def _read_value(
    part: Mapping[str, Any],
    kind: LabKind,
    status: ResultStatus,
    raw_status: str,
    mappings: Mappings,
    prefix: str,
) -> _Value:
    quantity = _quantity(part.get("valueQuantity"), prefix, "valueQuantity")
    value: float | None = None
    lower: float | None = None
    unitless = False
    unit: str | None = None
    canonical = CANONICAL_UNITS.get(kind)
    # "ad" ("sufficient to achieve") says nothing about a measured amount.
    if canonical is not None and quantity is not None and quantity.comparator != "ad":
        value = convert(quantity.value, quantity.unit, canonical)  # `quantity.to`, one call less
        if value is not None:
            unit = canonical
            lower, unitless = _lower_limit(part, quantity, canonical, prefix)
    qualitative: Qualitative | None = None
    how = ""
    role = _ROLES[kind]
    if role is QUALITATIVE or role is EITHER:
        reading = read_qualitative(part, kind, quantity, mappings, prefix)
        qualitative, how = reading.value, reading.how
    if role is PRESENCE:
        interpretable = True
    elif role is QUALITATIVE:
        interpretable = qualitative is not None
    elif role is EITHER:
        interpretable = qualitative is not None or value is not None
    else:
        interpretable = value is not None
    raw = _raw(part, quantity)
    return _Value(
        qualitative,
        value,
        unit,
        lower,  # lower_limit
        raw,
        interpretable,
        quantity.comparator if value is not None and quantity is not None else "",  # comparator
        unitless,  # lower_limit_unitless
        _describe(kind, status, raw_status, qualitative, how, value, raw),
    )


def _result(
    part: Mapping[str, Any],
    kind: LabKind,
    match: Match,
    status: ResultStatus,
    raw_status: str,
    dates: tuple[ClinicalDate | None, ClinicalDate | None],
    reference: str,
    mappings: Mappings,
    where: str,
) -> LabResult:
    when, issued = dates
    found = _value(part, kind, status, raw_status, mappings, f"{where}." if where else "")
    date_text = describe(when) if when else "no date"
    matched_by = f"{match.matched_by} (component)" if where else match.matched_by
    # Positional, in field order: keyword arguments cost a third of building the record.
    return LabResult(
        kind,
        when,
        status,
        found.qualitative,
        found.value,
        found.unit,
        found.lower_limit,
        found.raw,
        found.interpretable,
        SourceRef(reference, f"{LABELS[kind]}: {found.described} on {date_text}", matched_by),
        found.comparator,
        found.lower_limit_unitless,
        issued,
    )
