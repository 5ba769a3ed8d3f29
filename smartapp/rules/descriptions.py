"""What each check decides, in a clinician's words, with its settings filled in.

One text per check of the registry: the dashboard shows it under each finding ("the
rule"), and docs/clinical-rules.md is generated from it together with the registry's
statuses, settings and citations (`smartapp.rules.docs`). `{name}` placeholders are
`RuleSettings` fields.
"""

from __future__ import annotations

import dataclasses

from smartapp.rules.settings import RuleSettings

RULE_TEXT: dict[str, str] = {
    "hbv-screening": (
        "HBsAg and anti-HBc results dated within {baseline_lookback_days} days before the "
        "first dose (before the planned start when therapy has not started). A test whose "
        "result is pending is awaited, not ordered again."
    ),
    "hbv-serology": (
        "Contraindicated (critical): the latest HBsAg positive (quantitative: at least "
        "{hbsag_positive_iu_ml:g} IU/mL), the latest HBV DNA detectable (on therapy: "
        "reactivation), the latest anti-HBc IgM positive (possible acute hepatitis B), or a "
        "current hepatitis B condition. Consult a liver disease expert (high): total anti-HBc "
        "positive, a hepatitis B condition that is inactive, resolved or in remission, or any "
        "positive HBsAg or anti-HBc, or detectable HBV DNA, ever recorded. OK only when HBsAg "
        "and anti-HBc are negative, no HBV DNA is detectable, no hepatitis B is recorded and "
        "no newer result is pending."
    ),
    "ig-baseline": (
        "Quantitative IgG and IgM within {baseline_lookback_days} days before the first dose "
        "(or the planned start)."
    ),
    "ig-monitoring": (
        "On therapy, and after it until B-cell repletion, IgG and IgM are repeated every "
        "{ig_interval_days} days (every {ig_interval_frequent_infections_days} days with "
        "{frequent_infections_count} or more infections in {infection_lookback_days} days); "
        "due from {monitoring_due_window_days} days before."
    ),
    "ig-low": (
        "Latest IgG or IgM below its lower limit (the laboratory's own range, else IgG "
        "{igg_lower_limit_mg_dl:g} mg/dL, IgM {igm_lower_limit_mg_dl:g} mg/dL; a range without "
        "a unit only when plausible): alert, high when IgG is low with "
        "{frequent_infections_count} or more infections in {infection_lookback_days} days. A "
        "value written as a bound ('<0.5 g/L') decides only when the bound settles it."
    ),
    "cbc-baseline": (
        "A CBC (panel, or WBC with lymphocytes) within {baseline_lookback_days} days before "
        "the first dose (or the planned start)."
    ),
    "dose-schedule": (
        "{dose_mg:g} mg at weeks 0, 1 and 2, then every 4 weeks from week 4: the next dose is "
        "due {loading_interval_days} days after each loading dose, "
        "{first_maintenance_after_third_days} days after the third, then "
        "{maintenance_interval_days} days after the previous dose (a late dose restarts the "
        "count). Due from {dose_due_before_days} days before; overdue more than "
        "{dose_overdue_after_days} days after (high after {dose_interruption_after_days} days)."
    ),
    "dose-interval": (
        "Doses closer than {min_gap_loading_days} days (doses 1 to 3), "
        "{min_gap_first_maintenance_days} days (dose 3 to 4) or {min_gap_maintenance_days} "
        "days (later doses), or a recorded dose other than {dose_mg:g} mg: possible double or "
        "wrong dose."
    ),
    "vaccine-before-start": (
        "Live vaccines at least {live_vaccine_before_start_days} days, non-live vaccines at "
        "least {non_live_vaccine_before_start_days} days before the first dose."
    ),
    "vaccine-live-on-therapy": (
        "No live vaccine from the first dose, while on therapy and after discontinuation until "
        "B-cell repletion, presumed {b_cell_repletion_days} days after the last dose; earlier "
        "only after discontinuation, with a CD19 B-cell count at or above its lower limit "
        "(default {cd19_lower_limit_per_ul:g} cells/uL) after the last dose. Vaccines whose "
        "code cannot tell live from non-live, or is not recognised, need review."
    ),
    "vaccine-window": (
        "Non-live vaccines on therapy: at least {non_live_after_dose_days} days after a dose "
        "and {non_live_before_next_dose_days} days before the next (else a blunted response)."
    ),
    "infection-active": (
        "A current infection: delay the dose until it resolves (treat before starting). "
        "Current means a chronic infection that matters for anti-CD20 therapy (tuberculosis, "
        "HIV, chronic hepatitis C…) not resolved, or an acute infection recorded active with "
        "its onset within {infection_active_recent_days} days (within "
        "{infection_no_status_days} days when it has no clinical status). Older ones are shown, "
        "not counted."
    ),
    "hypersensitivity": (
        "An allergy or intolerance to ofatumumab (Kesimpta or Arzerra), even if recorded as "
        "inactive or resolved: critical when it is an allergy (or of unknown type), of high "
        "criticality, or with a severe or anaphylactic reaction; otherwise review (injection "
        "reactions are common and usually mild)."
    ),
    "pml": "A PML diagnosis (unless refuted): withhold ofatumumab and evaluate.",
    "pregnancy": (
        "Pregnant (pregnancy status within {pregnancy_lookback_days} days without a later "
        "'not pregnant', a positive hCG, or a current pregnancy condition): alert. Women aged "
        "{reproductive_age_min} to {reproductive_age_max}: contraception during treatment and "
        "for {contraception_after_last_dose_months} months after the last dose. A newer "
        "pregnancy test not yet final is awaited."
    ),
    "mri-monitoring": (
        "On therapy, a brain MRI {mri_interval_days} days after the first dose, then "
        "{mri_interval_days} days after the last MRI; due from {monitoring_due_window_days} "
        "days before."
    ),
}


def describe_rule(check: str, settings: RuleSettings) -> str:
    """The rule of `check` with `settings` filled in ("" for an unknown check)."""
    template = RULE_TEXT.get(check)
    if template is None:
        return ""
    return template.format(**dataclasses.asdict(settings))
