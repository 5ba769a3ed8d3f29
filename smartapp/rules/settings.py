"""Rule settings with the defaults of SPEC §3. A site changes them in its mappings file."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class RuleSettings:
    # Baselines (USPI 2.1): results count when dated within this many days before the
    # reference date.
    baseline_lookback_days: int = 365
    #: Look-ahead window for `due` unless a check says otherwise (SPEC §3 "status").
    due_window_days: int = 14
    #: Look-ahead for lab and MRI monitoring checks (SPEC §3 ig-monitoring, mri-monitoring).
    monitoring_due_window_days: int = 30
    # Hepatitis B (SPEC §2 "Qualitative results"): quantitative HBsAg is positive at or
    # above this many IU/mL (the usual qualitative assay cut-off, 0.05 IU/mL).
    hbsag_positive_iu_ml: float = 0.05
    # Immunoglobulins (USPI 5.3).
    ig_interval_days: int = 365
    ig_interval_frequent_infections_days: int = 180
    frequent_infections_count: int = 2
    infection_lookback_days: int = 365
    #: infection-active (SPEC §2, §3; issue 10): an acute infection recorded as active holds
    #: a dose only when its onset (else recordedDate) is within this many days (our choice:
    #: long enough for osteomyelitis or endocarditis courses, short enough that a sinusitis
    #: left open for years is context, not an alert) ...
    infection_active_recent_days: int = 90
    #: ... and one without clinicalStatus for this many days (SPEC §2).
    infection_no_status_days: int = 30
    igg_lower_limit_mg_dl: float = 700.0
    igm_lower_limit_mg_dl: float = 40.0
    # Dosing (USPI 2.2): 20 mg at weeks 0, 1, 2, then every 4 weeks from week 4.
    dose_mg: float = 20.0
    loading_interval_days: int = 7
    first_maintenance_after_third_days: int = 14
    maintenance_interval_days: int = 28
    dose_due_before_days: int = 7
    dose_overdue_after_days: int = 3
    dose_interruption_after_days: int = 28
    interrupted_after_days: int = 84
    min_gap_loading_days: int = 5
    min_gap_first_maintenance_days: int = 10
    min_gap_maintenance_days: int = 21
    # Vaccines (USPI 2.1, 5.x Vaccinations).
    live_vaccine_before_start_days: int = 28
    non_live_vaccine_before_start_days: int = 14
    b_cell_repletion_days: int = 280
    non_live_after_dose_days: int = 14
    non_live_before_next_dose_days: int = 7
    #: vaccine-window judges non-live vaccines given within this many days (our choice).
    vaccine_window_lookback_days: int = 365
    #: CD19+ B-cell lower limit of normal when the result carries none: "defined as 40 cells/µL"
    #: (EU SmPC; docs/terminology-sources.md §1c). A count at or above it after the last dose
    #: ends the live-vaccine exclusion early, after discontinuation only (SPEC §3
    #: vaccine-live-on-therapy).
    cd19_lower_limit_per_ul: float = 40.0
    # Pregnancy (USPI 8.1/8.3).
    pregnancy_lookback_days: int = 280
    contraception_after_last_dose_months: int = 6
    reproductive_age_min: int = 12
    reproductive_age_max: int = 55
    #: Quantitative hCG without an interpreted result: at or above this is positive, below
    #: `hcg_negative_below_miu_ml` negative, in between equivocal (common laboratory cut-offs).
    hcg_positive_miu_ml: float = 25.0
    hcg_negative_below_miu_ml: float = 5.0
    # MRI monitoring (clinical practice; SPEC §3 mri-monitoring).
    mri_interval_days: int = 365


def with_overrides(base: RuleSettings, overrides: dict[str, Any]) -> RuleSettings:
    """Apply a site's overrides, rejecting unknown names and values of the wrong type."""
    known = {f.name: f for f in fields(RuleSettings)}
    clean: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in known:
            raise ValueError(f"unknown rule setting '{name}'")
        expected = type(getattr(base, name))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"rule setting '{name}' must be a number, got {value!r}")
        if expected is int and not float(value).is_integer():
            raise ValueError(f"rule setting '{name}' must be a whole number of days, got {value!r}")
        if value < 0:
            raise ValueError(f"rule setting '{name}' must not be negative, got {value!r}")
        clean[name] = expected(value)
    return replace(base, **clean)


#: The settings every baseline check reads (hbv-screening, ig-baseline, cbc-baseline).
BASELINE_SETTINGS = ("baseline_lookback_days",)
#: The settings the treatment schedule reads (the checks that place doses on it list them).
SCHEDULE_SETTINGS = (
    "loading_interval_days",
    "first_maintenance_after_third_days",
    "maintenance_interval_days",
    "interrupted_after_days",
)
