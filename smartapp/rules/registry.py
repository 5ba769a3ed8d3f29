"""Every check of SPEC §3: its id, the record areas it reads, its citation, its function.

The registry also owns the rule every check shares: when an area a check reads may be
incomplete (`record.data.incomplete`: a failed search, an unreadable resource), the check
cannot say `ok`, nor `not_applicable` when that area decided applicability (no doses
because the dose search failed). Such findings become `unknown` with "Data incomplete: …".
An alert, overdue or due computed from the data present stands, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from fhir_mappings.records import DataQuality, PatientRecord
from smartapp.rules import dosing, hbv, imaging, immunoglobulins, labs, safety, vaccines
from smartapp.rules.base import CheckFunction, Rule
from smartapp.rules.model import Finding, Status
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings


@dataclass(frozen=True)
class Check:
    rule: Rule
    function: CheckFunction

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def areas(self) -> frozenset[str]:
        return self.rule.areas

    @property
    def citation(self) -> str:
        return self.rule.citation

    def run(
        self,
        record: PatientRecord,
        as_of: date,
        settings: RuleSettings,
        schedule: TreatmentSchedule,
    ) -> Finding:
        finding = self.function(record, as_of, settings, schedule)
        data = record.data
        return guard_incomplete(self.rule, finding, data) if data.incomplete else finding


#: How many of the records behind an incomplete area a finding names (the data panel
#: lists them all).
REASONS_SHOWN = 2


def guard_incomplete(rule: Rule, finding: Finding, data: DataQuality) -> Finding:
    """Never `ok` (or `not_applicable` for lack of data) from an incomplete record. The
    finding says why when a record made the area incomplete (SPEC §2 "unusable records")."""
    incomplete = data.incomplete
    missing = rule.areas & incomplete
    if finding.status is Status.OK and missing:
        blocked = missing
    elif finding.status is Status.NOT_APPLICABLE and rule.applicability_areas & incomplete:
        blocked = rule.applicability_areas & incomplete
    else:
        if not missing:
            return finding
        note = f" Data may be incomplete ({', '.join(sorted(missing))})."
        return replace(finding, detail=finding.detail + note)
    areas = ", ".join(sorted(blocked))
    reasons = list(dict.fromkeys(text for area, text in data.reasons if area in blocked))
    why = ""
    if reasons:
        why = " (" + "; ".join(reasons[:REASONS_SHOWN])
        why += (
            f"; {len(reasons) - REASONS_SHOWN} more in the data panel)"
            if len(reasons) > REASONS_SHOWN
            else ")"
        )
    return replace(
        finding,
        status=Status.UNKNOWN,
        severity=rule.unknown_severity,
        title=f"{rule.name}: data incomplete",
        detail=(
            f"Data incomplete: {areas} could not all be read{why}, so this cannot be "
            f"confirmed. From the data read: {finding.detail}"
        ),
        action=None,
    )


CHECKS: tuple[Check, ...] = (
    Check(hbv.HBV_SCREENING, hbv.hbv_screening),
    Check(hbv.HBV_SEROLOGY, hbv.hbv_serology),
    Check(immunoglobulins.IG_BASELINE, immunoglobulins.ig_baseline),
    Check(immunoglobulins.IG_MONITORING, immunoglobulins.ig_monitoring),
    Check(immunoglobulins.IG_LOW, immunoglobulins.ig_low),
    Check(labs.CBC_BASELINE, labs.cbc_baseline),
    Check(dosing.DOSE_SCHEDULE, dosing.dose_schedule),
    Check(dosing.DOSE_INTERVAL, dosing.dose_interval),
    Check(vaccines.VACCINE_BEFORE_START, vaccines.vaccine_before_start),
    Check(vaccines.VACCINE_LIVE_ON_THERAPY, vaccines.vaccine_live_on_therapy),
    Check(vaccines.VACCINE_WINDOW, vaccines.vaccine_window),
    Check(safety.INFECTION_ACTIVE, safety.infection_active),
    Check(safety.HYPERSENSITIVITY, safety.hypersensitivity),
    Check(safety.PML, safety.pml),
    Check(safety.PREGNANCY, safety.pregnancy),
    Check(imaging.MRI_MONITORING, imaging.mri_monitoring),
)

CHECKS_BY_ID: dict[str, Check] = {check.id: check for check in CHECKS}
