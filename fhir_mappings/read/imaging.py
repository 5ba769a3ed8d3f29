"""Brain MRI from DiagnosticReport, ImagingStudy or Procedure (SPEC §2, §3 mri-monitoring).

- DiagnosticReport: status final/amended/corrected/appended, code in `brain-mri`;
  date effectiveDateTime, effectivePeriod.start, issued.
- ImagingStudy: status available; `procedureCode` in `brain-mri`, or an MR modality with a
  series whose bodySite is the brain; date `started` (else the earliest series start).
- Procedure: status completed, code in `brain-mri`; date performedDateTime,
  performedPeriod.start.

A brain MRI with no date cannot be placed in time: it is reported as unreadable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.records import ClinicalDate, ImagingRecord, SourceRef
from fhir_mappings.dates import describe, first_date, parse_clinical_date
from fhir_mappings.errors import Malformed
from fhir_mappings.fhirjson import (
    Match,
    as_list,
    as_object,
    as_text,
    codes_key,
    concept_text,
    matches,
)
from fhir_mappings.site import Mappings

BRAIN_MRI = "brain-mri"
REPORT_FINAL = frozenset({"final", "amended", "corrected", "appended"})


def _brain_mri(concept: object, mappings: Mappings, where: str) -> Match | None:
    """The first brain-MRI match of a code; remembered per mappings by `codes_key` (every
    DiagnosticReport asks, and the codings' systems and codes are all `matches` reads)."""
    return mappings.recall(
        "brain-mri", codes_key(concept), _find_brain_mri, concept, mappings, where
    )


def _find_brain_mri(concept: object, mappings: Mappings, where: str) -> Match | None:
    return next((m for m in matches(concept, mappings, where) if m.valueset == BRAIN_MRI), None)


def _record(when: ClinicalDate | None, name: str, reference: str, matched_by: str) -> ImagingRecord:
    if when is None:
        raise Malformed("a brain MRI with no date", area="imaging")
    return ImagingRecord(
        when, name, SourceRef(reference, f"{name} on {describe(when)}", matched_by)
    )


def read_report_imaging(
    resource: Mapping[str, Any], reference: str, mappings: Mappings
) -> ImagingRecord | None:
    match = _brain_mri(resource.get("code"), mappings, "code")
    if match is None or as_text(resource.get("status"), "status") not in REPORT_FINAL:
        return None
    when = first_date(resource, ("effectiveDateTime", "effectivePeriod.start", "issued"), "")
    name = concept_text(resource.get("code")) or "Brain MRI"
    return _record(when, name, reference, match.matched_by)


def read_procedure(
    resource: Mapping[str, Any], reference: str, mappings: Mappings
) -> ImagingRecord | None:
    match = _brain_mri(resource.get("code"), mappings, "code")
    if match is None or as_text(resource.get("status"), "status") != "completed":
        return None
    when = first_date(resource, ("performedDateTime", "performedPeriod.start"), "")
    name = concept_text(resource.get("code")) or "Brain MRI"
    return _record(when, name, reference, match.matched_by)


def _is_mr(concepts: list[object], mappings: Mappings, where: str) -> bool:
    """Modality codings (ImagingStudy.modality is a list of Codings in R4)."""
    for coding in concepts:
        coding = as_object(coding, where)
        if coding is None:
            continue
        code = as_text(coding.get("code"), f"{where}.code")
        if code and any(
            h.valueset == "mr-modality" for h in mappings.lookup(coding.get("system"), code)
        ):
            return True
    return False


def read_imaging_study(
    resource: Mapping[str, Any], reference: str, mappings: Mappings
) -> ImagingRecord | None:
    if as_text(resource.get("status"), "status") != "available":
        return None
    matched_by = ""
    name = ""
    for index, concept in enumerate(as_list(resource.get("procedureCode"), "procedureCode")):
        match = _brain_mri(concept, mappings, f"procedureCode[{index}]")
        if match is not None:
            matched_by, name = match.matched_by, concept_text(concept)
            break
    series = [
        as_object(item, f"series[{index}]") or {}
        for index, item in enumerate(as_list(resource.get("series"), "series"))
    ]
    if not matched_by:
        modalities = as_list(resource.get("modality"), "modality")
        modalities += [s.get("modality") for s in series if s.get("modality") is not None]
        if _is_mr(modalities, mappings, "modality"):
            for item in series:
                site = as_object(item.get("bodySite"), "series.bodySite")
                if site is None:
                    continue
                code = as_text(site.get("code"), "series.bodySite.code")
                hits = mappings.lookup(site.get("system"), code) if code else ()
                if any(h.valueset == "brain-structure" for h in hits):
                    matched_by = f"{hits[0].system_label} {code} (MR of the brain)"
                    break
    if not matched_by:
        return None
    when = None
    if resource.get("started") is not None:
        when = parse_clinical_date(resource["started"], "started")
    else:
        starts = [
            parse_clinical_date(s["started"], "series.started")
            for s in series
            if s.get("started") is not None
        ]
        when = min(starts, key=lambda d: d.earliest) if starts else None
    description = as_text(resource.get("description"), "description")
    return _record(when, name or description or "Brain MRI", reference, matched_by)
