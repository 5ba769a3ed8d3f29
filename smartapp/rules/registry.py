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

from domain.findings import Finding, Status
from domain.records import DataQuality, PatientRecord
from smartapp.rules import dosing, hbv, imaging, immunoglobulins, labs, safety, vaccines
from smartapp.rules.base import CheckFunction, Rule
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import RuleSettings


@dataclass(frozen=True)
class Check:
    rule: Rule
    function: CheckFunction
    #: The statuses of its row in SPEC §3; every check may also say `unknown` (§3). A
    #: property test holds every finding to them; docs/clinical-rules.md lists them.
    statuses: frozenset[Status] = frozenset(Status)
    #: The `RuleSettings` it reads (docs/clinical-rules.md shows them with their defaults).
    settings: tuple[str, ...] = ()

    @property
    def allowed(self) -> frozenset[Status]:
        return self.statuses | {Status.UNKNOWN}

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


OK, DUE, OVERDUE, ALERT, NA = (
    Status.OK,
    Status.DUE,
    Status.OVERDUE,
    Status.ALERT,
    Status.NOT_APPLICABLE,
)
_BASELINE = ("baseline_lookback_days",)
_SCHEDULE = (
    "loading_interval_days",
    "first_maintenance_after_third_days",
    "maintenance_interval_days",
    "interrupted_after_days",
)

CHECKS: tuple[Check, ...] = (
    Check(hbv.HBV_SCREENING, hbv.hbv_screening, frozenset({OK, DUE, OVERDUE}), _BASELINE),
    Check(hbv.HBV_SEROLOGY, hbv.hbv_serology, frozenset({OK, ALERT}), ("hbsag_positive_iu_ml",)),
    Check(
        immunoglobulins.IG_BASELINE,
        immunoglobulins.ig_baseline,
        frozenset({OK, DUE, OVERDUE}),
        _BASELINE,
    ),
    Check(
        immunoglobulins.IG_MONITORING,
        immunoglobulins.ig_monitoring,
        frozenset({OK, DUE, OVERDUE, NA}),
        (
            "ig_interval_days",
            "ig_interval_frequent_infections_days",
            "frequent_infections_count",
            "infection_lookback_days",
            "monitoring_due_window_days",
            "b_cell_repletion_days",
        ),
    ),
    Check(
        immunoglobulins.IG_LOW,
        immunoglobulins.ig_low,
        frozenset({OK, ALERT}),
        (
            "igg_lower_limit_mg_dl",
            "igm_lower_limit_mg_dl",
            "frequent_infections_count",
            "infection_lookback_days",
        ),
    ),
    Check(labs.CBC_BASELINE, labs.cbc_baseline, frozenset({OK, DUE, OVERDUE}), _BASELINE),
    Check(
        dosing.DOSE_SCHEDULE,
        dosing.dose_schedule,
        frozenset({OK, DUE, OVERDUE, NA}),
        (
            *_SCHEDULE,
            "dose_due_before_days",
            "dose_overdue_after_days",
            "dose_interruption_after_days",
        ),
    ),
    Check(
        dosing.DOSE_INTERVAL,
        dosing.dose_interval,
        frozenset({OK, ALERT, NA}),
        (
            "dose_mg",
            "min_gap_loading_days",
            "min_gap_first_maintenance_days",
            "min_gap_maintenance_days",
        ),
    ),
    Check(
        vaccines.VACCINE_BEFORE_START,
        vaccines.vaccine_before_start,
        frozenset({OK, DUE, ALERT}),
        ("live_vaccine_before_start_days", "non_live_vaccine_before_start_days"),
    ),
    Check(
        vaccines.VACCINE_LIVE_ON_THERAPY,
        vaccines.vaccine_live_on_therapy,
        frozenset({OK, ALERT, NA}),
        ("b_cell_repletion_days", "cd19_lower_limit_per_ul"),
    ),
    Check(
        vaccines.VACCINE_WINDOW,
        vaccines.vaccine_window,
        frozenset({OK, ALERT, NA}),
        (
            *_SCHEDULE,
            "non_live_after_dose_days",
            "non_live_before_next_dose_days",
            "vaccine_window_lookback_days",
        ),
    ),
    Check(
        safety.INFECTION_ACTIVE,
        safety.infection_active,
        frozenset({OK, ALERT}),
        ("infection_active_recent_days", "infection_no_status_days"),
    ),
    Check(safety.HYPERSENSITIVITY, safety.hypersensitivity, frozenset({OK, ALERT})),
    Check(safety.PML, safety.pml, frozenset({OK, ALERT})),
    Check(
        safety.PREGNANCY,
        safety.pregnancy,
        frozenset({OK, ALERT, NA}),
        (
            "pregnancy_lookback_days",
            "contraception_after_last_dose_months",
            "reproductive_age_min",
            "reproductive_age_max",
            "hcg_positive_miu_ml",
            "hcg_negative_below_miu_ml",
        ),
    ),
    Check(
        imaging.MRI_MONITORING,
        imaging.mri_monitoring,
        frozenset({OK, DUE, OVERDUE, NA}),
        ("mri_interval_days", "monitoring_due_window_days"),
    ),
)

CHECKS_BY_ID: dict[str, Check] = {check.id: check for check in CHECKS}
