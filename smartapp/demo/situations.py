"""The named demo cohort: one synthetic patient per situation the checks cover (SPEC §3, §4).

Each patient is called "Demo <Situation>" (family name = the situation), has an MS
Condition, and has every date expressed as an offset in days from the `anchor` (the day the
demo is loaded), so the demo never goes stale. Each situation states what it exists to
show: `expect` maps check ids to the status the rules must give at as_of = anchor, with
`severity`, `phase` and `earliest_start` where the spec fixes them.
`tests/demo/test_situations_expectations.py` holds the rules to those statements.

Offsets below are days relative to the anchor: -10 is ten days before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from smartapp.demo import home_situations
from smartapp.demo.cohort import CHECK_IDS, Cohort, Situation, combine
from smartapp.demo.courses import first_dose_day, maintenance_course, not_started, therapy
from smartapp.demo.fhir_builders import (
    ANTI_HBC,
    ANTI_HBC_IGM,
    CD19,
    HBSAG,
    HBV_DNA,
    HCG_SERUM,
    HCG_URINE,
    HEPATITIS_B_CHRONIC,
    IGG,
    IGM,
    KESIMPTA_NDC_PACKAGE_11,
    MRI_BRAIN,
    PML,
    PNEUMONIA,
    UTI,
    VIRAL_SINUSITIS,
    PatientBuilder,
    Resource,
    When,
    birth_date_for_age,
)

_CLINIC = Cohort()
situation = _CLINIC.situation

# --- the situations -----------------------------------------------------------------------

_ALL_OK = dict.fromkeys(CHECK_IDS, "ok")


@situation(
    "all-ok-maintenance",
    "All-OK-Maintenance",
    gender="female",
    age=38,
    expect=_ALL_OK,
    phase="maintenance",
    tz="-05:00",
)
def _all_ok(b: PatientBuilder) -> None:
    """Every requirement met and on schedule: baseline HBV, Ig, CBC, hCG and MRI before the
    first dose 206 days ago, ten doses (last 10 days ago, next due in 18 days), a flu shot
    60 days before starting and one mid-cycle, a resolved sinusitis, B cells depleted."""
    doses = maintenance_course(-10, 7)
    therapy(b, doses, hcg=True)
    first = doses[0]
    b.immunization("flu", first - 60)
    b.immunization("flu", -24)
    b.quantitative(CD19, -40, 2, "/uL", low=40, unit_display="cells/uL")
    b.condition(
        VIRAL_SINUSITIS, -150, clinical="resolved", category="encounter-diagnosis", abatement=-135
    )


@situation(
    "pre-treatment-ready",
    "Pre-Treatment-Ready",
    gender="female",
    age=29,
    expect={
        "hbv-screening": "ok",
        "hbv-serology": "ok",
        "ig-baseline": "ok",
        "cbc-baseline": "ok",
        "vaccine-before-start": "ok",
        "dose-schedule": "not_applicable",
        "ig-monitoring": "not_applicable",
        "mri-monitoring": "not_applicable",
        "vaccine-window": "not_applicable",
    },
    phase="pre-treatment",
    tz="+01:00",
)
def _pre_treatment_ready(b: PatientBuilder) -> None:
    """Not started; every baseline done 20 days ago; Shingrix 45 days ago; an active order
    plans the first dose in 7 days."""
    not_started(b, labs_at=-20, start=7, hcg=True)
    b.immunization("zoster-recombinant", -45)


@situation(
    "pre-treatment-missing-hbv",
    "Pre-Treatment-Missing-HBV",
    gender="male",
    age=44,
    expect={
        "hbv-screening": "due",
        "hbv-serology": "unknown",
        "ig-baseline": "ok",
        "cbc-baseline": "ok",
    },
    phase="pre-treatment",
)
def _pre_treatment_missing_hbv(b: PatientBuilder) -> None:
    """Not started (first dose planned in 10 days); Ig and CBC done but no HBsAg or anti-HBc
    on record, so HBV screening is due and the serology unknown."""
    not_started(b, labs_at=-15, start=10, hbv=False)


@situation(
    "pre-treatment-recent-live-vaccine",
    "Pre-Treatment-Recent-Live-Vaccine",
    gender="female",
    age=27,
    expect={"vaccine-before-start": "due", "hbv-screening": "ok"},
    phase="pre-treatment",
    earliest_start=18,
)
def _pre_treatment_recent_live(b: PatientBuilder) -> None:
    """Not started (planned in 7 days); MMR (live) 10 days ago, so the earliest safe start is
    28 days after it, in 18 days."""
    not_started(b, labs_at=-25, start=7, hcg=True)
    b.immunization("mmr", -10)


@situation(
    "started-without-hbv-screening",
    "Started-Without-HBV-Screening",
    gender="male",
    age=51,
    expect={"hbv-screening": "overdue", "hbv-serology": "unknown"},
    phase="maintenance",
    tz="-04:00",
)
def _started_without_hbv(b: PatientBuilder) -> None:
    """On therapy for 5 months (contained Medication) with no HBV serology ever recorded:
    a baseline required before the first dose, now overdue."""
    therapy(b, maintenance_course(-12, 5), style="contained", hbv=False)


@situation(
    "hbsag-positive",
    "HBsAg-Positive",
    gender="male",
    age=47,
    expect={"hbv-serology": "alert", "hbv-screening": "ok"},
    severity={"hbv-serology": "critical"},
    phase="pre-treatment",
)
def _hbsag_positive(b: PatientBuilder) -> None:
    """Screening before a planned start found HBsAg and anti-HBc positive and HBV DNA
    detectable: active hepatitis B, a contraindication."""
    not_started(b, labs_at=-14, start=14, hbsag="positive", anti_hbc="positive")
    b.quantitative(HBV_DNA, -7, 24000, "[IU]/mL", unit_display="IU/mL")


@situation(
    "anti-hbc-positive-only",
    "Anti-HBc-Positive-Only",
    gender="female",
    age=45,
    expect={"hbv-serology": "alert", "hbv-screening": "ok"},
    severity={"hbv-serology": "high"},
    phase="maintenance",
)
def _anti_hbc_only(b: PatientBuilder) -> None:
    """HBsAg negative, anti-HBc "Reactive" (resolved infection), on therapy with HBV DNA
    below the limit of quantification: consult a liver disease expert, monitor HBV DNA."""
    doses = maintenance_course(-8, 9)
    therapy(b, doses, hbv=False)
    first = doses[0]
    b.qualitative(HBSAG, first - 30, "negative")
    b.qualitative(ANTI_HBC, first - 30, "positive", style="string")
    for when in (first - 25, -90):
        b.quantitative(HBV_DNA, when, 10, "[IU]/mL", comparator="<", unit_display="IU/mL")


@situation(
    "ig-low",
    "Ig-Low",
    gender="female",
    age=36,
    expect={"ig-low": "alert", "ig-monitoring": "ok"},
    severity={"ig-low": "moderate"},
    phase="maintenance",
    tz="+02:00",
)
def _ig_low(b: PatientBuilder) -> None:
    """On therapy (medicationCodeableConcept ATC L04AG12); IgG 5.2 g/L 12 days ago, below
    its reference range (7.0 g/L); IgM still normal; no infections."""
    therapy(b, maintenance_course(-6, 10), style="atc")
    b.igg(-12, 520, unit="g/L")
    b.igm(-12, 45)


@situation(
    "ig-monitoring-overdue",
    "Ig-Monitoring-Overdue",
    gender="male",
    age=39,
    expect={"ig-monitoring": "overdue", "ig-baseline": "ok"},
    phase="maintenance",
)
def _ig_monitoring_overdue(b: PatientBuilder) -> None:
    """On therapy for 16 months; IgG and IgM last measured 401 days ago: the yearly repeat
    is overdue (MRI and CBC are up to date)."""
    doses = maintenance_course(-5, 17)
    therapy(b, doses, follow_up_labs=False)
    b.igg(-401, 1010)
    b.igm(-401, 64)
    b.cbc(-60)


@situation(
    "recurrent-infections",
    "Recurrent-Infections",
    gender="female",
    age=42,
    expect={"ig-monitoring": "overdue", "ig-low": "alert", "infection-active": "alert"},
    severity={"ig-low": "high", "infection-active": "high"},
    phase="maintenance",
)
def _recurrent_infections(b: PatientBuilder) -> None:
    """On therapy for 11 months with two infections this year (a viral sinusitis 70 days ago,
    resolved; a current UTI): IgG 610 mg/dL (low) 200 days ago, so Ig is due every 180 days
    and is overdue, and low IgG with infections is a high alert."""
    therapy(b, maintenance_course(-9, 12), follow_up_labs=False)
    b.brain_mri(-40)
    b.igg(-200, 610, unit="mg/dL")
    b.igm(-200, 52)
    b.condition(
        VIRAL_SINUSITIS, -70, clinical="resolved", category="encounter-diagnosis", abatement=-60
    )
    b.condition(
        UTI,
        -6,
        category="encounter-diagnosis",
        icd10=("N39.0", "Urinary tract infection, site not specified"),
    )


@situation(
    "dose-overdue",
    "Dose-Overdue",
    gender="female",
    age=33,
    expect={"dose-schedule": "overdue"},
    phase="maintenance",
)
def _dose_overdue(b: PatientBuilder) -> None:
    """Maintenance; last dose 35 days ago, so the dose due 7 days ago is overdue."""
    therapy(b, maintenance_course(-35, 8))


@situation(
    "dose-due-soon",
    "Dose-Due-Soon",
    gender="male",
    age=41,
    expect={"dose-schedule": "due"},
    phase="maintenance",
)
def _dose_due_soon(b: PatientBuilder) -> None:
    """Maintenance; last dose 24 days ago, next due in 4 days."""
    therapy(b, maintenance_course(-24, 6), style="contained")


@situation(
    "loading-phase",
    "Loading-Phase",
    gender="female",
    age=30,
    expect={"dose-schedule": "due", "dose-interval": "ok", "mri-monitoring": "ok"},
    phase="loading",
)
def _loading(b: PatientBuilder) -> None:
    """Two loading doses (8 days and 1 day ago); the week-2 dose is due in 6 days."""
    therapy(b, [-8, -1], hcg=True)


@situation(
    "interrupted",
    "Interrupted",
    gender="male",
    age=49,
    expect={"dose-schedule": "overdue"},
    severity={"dose-schedule": "high"},
    phase="interrupted",
)
def _interrupted(b: PatientBuilder) -> None:
    """Maintenance until the last dose 100 days ago (more than 12 weeks): interrupted."""
    therapy(b, maintenance_course(-100, 10), style="atc")


@situation(
    "double-dose",
    "Double-Dose",
    gender="female",
    age=35,
    expect={"dose-interval": "alert", "dose-schedule": "ok"},
    severity={"dose-interval": "moderate"},
    phase="maintenance",
)
def _double_dose(b: PatientBuilder) -> None:
    """Maintenance; two doses 3 days apart (20 and 17 days ago): a possible double dose.
    The late dose resets the schedule, next due in 11 days."""
    therapy(b, [*maintenance_course(-20, 8), -17])


@situation(
    "live-vaccine-before-start",
    "Live-Vaccine-Before-Start",
    gender="female",
    age=31,
    expect={"vaccine-before-start": "alert", "vaccine-live-on-therapy": "ok"},
    severity={"vaccine-before-start": "high"},
    phase="maintenance",
)
def _live_before_start(b: PatientBuilder) -> None:
    """MMR (live) 20 days before the first dose (less than the 4 weeks required)."""
    doses = maintenance_course(-12, 4)
    therapy(b, doses)
    b.immunization("mmr", doses[0] - 20)


@situation(
    "live-vaccine-on-therapy",
    "Live-Vaccine-On-Therapy",
    gender="male",
    age=37,
    expect={"vaccine-live-on-therapy": "alert"},
    severity={"vaccine-live-on-therapy": "high"},
    phase="maintenance",
)
def _live_on_therapy(b: PatientBuilder) -> None:
    """Varicella vaccine (live) 30 days ago, between two maintenance doses."""
    therapy(b, maintenance_course(-15, 9))
    b.immunization("varicella", -30)


@situation(
    "ambiguous-zoster",
    "Ambiguous-Zoster",
    gender="female",
    age=52,
    expect={"vaccine-live-on-therapy": "alert"},
    severity={"vaccine-live-on-therapy": "moderate"},
    phase="maintenance",
)
def _ambiguous_zoster(b: PatientBuilder) -> None:
    """A zoster vaccine of unspecified formulation (CVX 188; live Zostavax or recombinant
    Shingrix) 25 days ago, mid-cycle: a clinician must review it."""
    therapy(b, maintenance_course(-11, 10))
    b.immunization("zoster-unspecified", -25)


@situation(
    "nonlive-vaccine-outside-window",
    "Nonlive-Vaccine-Outside-Window",
    gender="male",
    age=43,
    expect={"vaccine-window": "alert", "vaccine-live-on-therapy": "ok"},
    severity={"vaccine-window": "low"},
    phase="maintenance",
)
def _nonlive_outside_window(b: PatientBuilder) -> None:
    """Flu vaccine (inactivated) 5 days after the last dose, less than 14 days after it:
    the response may be blunted."""
    therapy(b, maintenance_course(-10, 7))
    b.immunization("flu", -5)


@situation(
    "live-vaccine-after-b-cell-recovery",
    "Live-Vaccine-After-B-Cell-Recovery",
    gender="female",
    age=34,
    expect={"vaccine-live-on-therapy": "ok"},
    phase="discontinued",
)
def _live_after_recovery(b: PatientBuilder) -> None:
    """Stopped 250 days ago; CD19 B cells back to 110 cells/uL (lower limit 40) 40 days ago;
    yellow fever vaccine (live) 20 days ago: allowed, B cells have recovered."""
    therapy(b, maintenance_course(-250, 8), order_status="stopped")
    b.quantitative(CD19, -40, 110, "/uL", low=40, unit_display="cells/uL")
    b.immunization("yellow-fever", -20)


@situation(
    "active-infection",
    "Active-Infection",
    gender="male",
    age=46,
    expect={"infection-active": "alert"},
    severity={"infection-active": "high"},
    phase="maintenance",
)
def _active_infection(b: PatientBuilder) -> None:
    """Pneumonia diagnosed 4 days ago, still active; a dose is due in 10 days."""
    therapy(b, maintenance_course(-18, 11))
    b.condition(
        PNEUMONIA,
        -4,
        category="encounter-diagnosis",
        icd10=("J18.9", "Pneumonia, unspecified organism"),
    )


@situation(
    "pregnant",
    "Pregnant",
    gender="female",
    age=32,
    expect={"pregnancy": "alert"},
    severity={"pregnancy": "high"},
    phase="maintenance",
)
def _pregnant(b: PatientBuilder) -> None:
    """32-year-old woman with a positive urine hCG 30 days ago; dosing held since."""
    therapy(b, maintenance_course(-40, 6), hcg=True)
    b.qualitative(HCG_URINE, -30, "positive")


@situation(
    "pml",
    "PML",
    gender="male",
    age=55,
    expect={"pml": "alert"},
    severity={"pml": "critical"},
    phase="maintenance",
)
def _pml(b: PatientBuilder) -> None:
    """Suspected progressive multifocal leukoencephalopathy (Condition, provisional) 25
    days ago; dosing withheld."""
    therapy(b, maintenance_course(-30, 14))
    b.condition(PML, -25, verification="provisional", category="encounter-diagnosis")


@situation(
    "hypersensitivity",
    "Hypersensitivity",
    gender="female",
    age=40,
    expect={"hypersensitivity": "alert"},
    severity={"hypersensitivity": "critical"},
    phase="loading",
)
def _hypersensitivity(b: PatientBuilder) -> None:
    """Anaphylaxis after the first Kesimpta injection 9 days ago, recorded as a confirmed
    active AllergyIntolerance to ofatumumab."""
    therapy(b, [-9], hcg=True)
    b.kesimpta_allergy(-9)


@situation(
    "mri-overdue",
    "MRI-Overdue",
    gender="female",
    age=44,
    expect={"mri-monitoring": "overdue"},
    phase="maintenance",
)
def _mri_overdue(b: PatientBuilder) -> None:
    """On therapy for 19 months; last brain MRI 400 days ago."""
    therapy(b, maintenance_course(-7, 20), annual_mri=False)
    b.brain_mri(-400)


@situation(
    "messy-data",
    "Messy-Data",
    gender="female",
    age=39,
    expect={
        "hbv-screening": "ok",
        "hbv-serology": "ok",
        "ig-low": "unknown",
        "ig-monitoring": "ok",
        "dose-schedule": "overdue",
        "dose-interval": "ok",
    },
    phase="maintenance",
    tz="-05:00",
    ms_onset=-9 * 365,
    ms_onset_year_only=True,
)
def _messy(b: PatientBuilder) -> None:
    """Real-world mess the reader must survive: a partial MS onset (year only) and IgM date
    (year-month); an entered-in-error positive HBsAg (ignored); an uninterpretable HBsAg
    ("see comment", older than the valid negative one); anti-HBc with only an interpretation
    code; a preliminary low IgG newer than the final one (never a value: ig-low says unknown,
    "result pending since …"); a final IgG in g/dL and IgM in mg/L;
    a CBC with only `issued`; an 11-digit NDC; an entered-in-error Kesimpta administration
    and an IV Arzerra infusion (neither counts); a not-done flu shot; an immunization with
    only occurrenceString; the last Kesimpta dose at 23:30 -05:00, which is the next day in
    UTC: counted on its own calendar day it is 32 days ago, so the dose is overdue (in UTC
    it would only be due)."""
    doses: list[When] = list(maintenance_course(-32, 8))
    first = first_dose_day(doses)
    doses[-1] = f"{b.day(-32).isoformat()}T23:30:00-05:00"
    order = b.medication_request(first - 21, start=first)
    b.brain_mri(first - 45, code=MRI_BRAIN)
    for when in doses:
        b.kesimpta_dose(when, style="contained", ndc=KESIMPTA_NDC_PACKAGE_11, request=order)
    b.kesimpta_dose(-5, style="contained", status="entered-in-error")
    b.arzerra_infusion(-3)
    # HBV: uninterpretable (older), then valid negatives, then a retracted positive.
    b.qualitative(HBSAG, first - 60, "see comment", style="raw", note="Specimen haemolysed")
    b.qualitative(
        HBSAG, first - 30, "negative", style="loinc-answer", local_code=("HBSAG", "HBsAg")
    )
    b.qualitative(
        ANTI_HBC, first - 30, "negative", style="interpretation", date_element="effectivePeriod"
    )
    b.qualitative(HBSAG, -6, "positive", status="entered-in-error", note="Wrong patient")
    # Immunoglobulins in odd units, one preliminary, one with a partial date.
    b.igg(first - 30, 1020, unit="mg/dL")
    b.igm(first - 30, 88)
    b.igg(-50, 1050, unit="g/dL")
    b.igm(b.day(-60).strftime("%Y-%m"), 85, unit="mg/L")
    b.igg(-2, 310, unit="g/L", status="preliminary")
    b.cbc(first - 30, date_element="issued")
    # Vaccines: a partial date, a not-done, and one with only a text date.
    b.immunization("tdap", b.day(-800).strftime("%Y-%m"))
    b.immunization("flu", -20, status="not-done")
    b.immunization("hepb-adult", None, occurrence_string="childhood series, dates unknown")


@situation(
    "escaping",
    "<script>alert(1)</script>",
    gender="female",
    age=29,
    expect={"hbv-serology": "ok", "dose-schedule": "ok"},
    phase="maintenance",
    ms_text="Relapsing MS <img src=x onerror=alert(2)>",
)
def _escaping(b: PatientBuilder) -> None:
    """A patient whose family name is `<script>alert(1)</script>` and whose MS text and lab
    note carry HTML: every screen must show them as text. Otherwise on schedule."""
    therapy(b, maintenance_course(-13, 5))
    b.igm(-13, 80, note='Sample <b onmouseover="alert(3)">lipaemic</b> & re-run')


# --- SPEC v2: messy real-world records (issue 10), one patient per situation -------------


@situation(
    "hbv-dna-detectable",
    "HBV-DNA-Detectable",
    gender="female",
    age=52,
    expect={"hbv-serology": "alert", "hbv-screening": "ok"},
    severity={"hbv-serology": "critical"},
    phase="maintenance",
)
def _hbv_dna_detectable(b: PatientBuilder) -> None:
    """HBsAg and anti-HBc negative before starting, but HBV DNA 35 IU/mL 9 days ago on
    therapy: detectable HBV DNA is reactivation (or occult infection) whatever the
    serology says — never "no sign of hepatitis B"."""
    therapy(b, maintenance_course(-12, 8))
    b.quantitative(HBV_DNA, -9, 35, "[IU]/mL", unit_display="IU/mL")


@situation(
    "hbv-dna-low-detected",
    "HBV-DNA-Low-Detected",
    gender="male",
    age=58,
    expect={"hbv-serology": "alert"},
    severity={"hbv-serology": "critical"},
    phase="maintenance",
)
def _hbv_dna_low_detected(b: PatientBuilder) -> None:
    """HBsAg negative, anti-HBc reactive (past infection), monitored: HBV DNA "<20 IU/mL,
    detected" 6 days ago. 'Detected' wins over the below-limit bound: possible early
    reactivation."""
    doses = maintenance_course(-10, 9)
    therapy(b, doses, hbv=False)
    b.qualitative(HBSAG, doses[0] - 30, "negative")
    b.qualitative(ANTI_HBC, doses[0] - 30, "positive", style="string")
    b.quantitative(
        HBV_DNA, -6, 20, "[IU]/mL", comparator="<", unit_display="IU/mL",
        interpretation=("DET", "Detected"),
    )  # fmt: skip


@situation(
    "anti-hbc-igm-positive",
    "Anti-HBc-IgM-Positive",
    gender="female",
    age=31,
    expect={"hbv-serology": "alert"},
    severity={"hbv-serology": "critical"},
    phase="pre-treatment",
)
def _anti_hbc_igm(b: PatientBuilder) -> None:
    """Before a planned start: HBsAg negative, total anti-HBc reactive and anti-HBc IgM
    positive 10 days ago — possible acute hepatitis B (the window period when HBsAg has
    already cleared): contraindicated until a liver disease expert has seen it."""
    not_started(b, labs_at=-10, start=20, anti_hbc="positive")
    b.qualitative(ANTI_HBC_IGM, -10, "positive")


@situation(
    "past-hepatitis-b",
    "Past-Hepatitis-B",
    gender="male",
    age=61,
    expect={"hbv-serology": "alert"},
    severity={"hbv-serology": "high"},
    phase="maintenance",
)
def _past_hepatitis_b(b: PatientBuilder) -> None:
    """Chronic hepatitis B recorded as resolved 6 years ago (abated), HBsAg negative
    before starting: past infection, a reactivation risk under B-cell depletion —
    consult a liver disease expert (high), never ok."""
    doses = maintenance_course(-14, 6)
    therapy(b, doses, hbv=False)
    b.qualitative(HBSAG, doses[0] - 30, "negative")
    b.condition(HEPATITIS_B_CHRONIC, -12 * 365, clinical="resolved", abatement=-6 * 365)


@situation(
    "hbsag-pending",
    "HBsAg-Pending",
    gender="female",
    age=44,
    expect={"hbv-serology": "unknown", "hbv-screening": "ok"},
    phase="maintenance",
)
def _hbsag_pending(b: PatientBuilder) -> None:
    """Negative HBsAg and anti-HBc before starting; a new HBsAg drawn 3 days ago is still
    preliminary. A result not yet final is never a value: the reassuring answer waits
    ("result pending since …"), and no second order is made."""
    therapy(b, maintenance_course(-7, 6))
    b.qualitative(HBSAG, -3, "positive", status="preliminary")


@situation(
    "hbsag-same-day",
    "HBsAg-Same-Day",
    gender="male",
    age=39,
    expect={"hbv-serology": "alert"},
    severity={"hbv-serology": "critical"},
    phase="pre-treatment",
)
def _hbsag_same_day(b: PatientBuilder) -> None:
    """Two HBsAg results on the same day at the same time, one reactive and one
    non-reactive (a repeat sent twice): their order cannot be told, so the worse one
    counts whatever order the server returns them in."""
    not_started(b, labs_at=-12, start=15)
    b.qualitative(HBSAG, -12, "positive", style="string")


@situation(
    "future-dated-result",
    "Future-Dated-Result",
    gender="female",
    age=37,
    expect={"hbv-serology": "unknown"},
    phase="maintenance",
)
def _future_dated(b: PatientBuilder) -> None:
    """A reactive HBsAg dated 40 days in the future (a typo: effective and issued both
    ahead). It cannot be placed, so it is listed among the data problems and the check that
    would have used it says unknown — it never disappears without a trace."""
    therapy(b, maintenance_course(-9, 7))
    b.qualitative(HBSAG, 40, "positive", style="string")


@situation(
    "igm-below-bound",
    "IgM-Below-Bound",
    gender="female",
    age=41,
    expect={"ig-low": "unknown", "ig-monitoring": "ok"},
    phase="maintenance",
)
def _igm_below_bound(b: PatientBuilder) -> None:
    """IgM reported as "<0.50 g/L" 20 days ago: known only as a bound. Below 0.5 g/L may
    or may not be below the 0.4 g/L limit, so ig-low says unknown and shows the value as
    written (never compared as if it were 0.50)."""
    therapy(b, maintenance_course(-11, 9))
    b.igg(-20, 900, unit="g/L")
    b.quantitative(IGM, -20, 0.5, "g/L", comparator="<", low=0.4, high=2.3, unit_display="g/L")


@situation(
    "unitless-range",
    "Unitless-Range",
    gender="male",
    age=48,
    expect={"ig-low": "alert", "ig-monitoring": "ok"},
    severity={"ig-low": "moderate"},
    phase="maintenance",
)
def _unitless_range(b: PatientBuilder) -> None:
    """IgG 650 mg/dL with a reference range "7 - 16" sent without a unit (the lab meant
    g/L). Read as 7 mg/dL that limit is implausible (not within a quarter to four times the
    default 700 mg/dL), so the default is used and the evidence says why: IgG is low."""
    therapy(b, maintenance_course(-5, 8))
    b.quantitative(IGG, -18, 650, "mg/dL", low=7, high=16, unitless_range=True)
    b.igm(-18, 60)


@situation(
    "encounter-pneumonia",
    "Encounter-Pneumonia",
    gender="male",
    age=50,
    expect={"infection-active": "alert"},
    severity={"infection-active": "high"},
    phase="maintenance",
)
def _encounter_pneumonia(b: PatientBuilder) -> None:
    """Pneumonia recorded 12 days ago as an encounter diagnosis without clinicalStatus
    (allowed in R4): an infection without status is current for 30 days from its onset."""
    therapy(b, maintenance_course(-20, 10))
    b.condition(
        PNEUMONIA,
        -12,
        clinical=None,
        category="encounter-diagnosis",
        icd10=("J18.9", "Pneumonia, unspecified organism"),
    )


@situation(
    "old-open-sinusitis",
    "Old-Open-Sinusitis",
    gender="female",
    age=35,
    expect={"infection-active": "ok"},
    severity={"infection-active": "low"},
    phase="maintenance",
)
def _old_open_sinusitis(b: PatientBuilder) -> None:
    """A viral sinusitis from 5 years ago still marked active (never closed, as generated
    records often leave it): shown as context to be closed, not an alert to hold a dose."""
    therapy(b, maintenance_course(-15, 9))
    b.condition(VIRAL_SINUSITIS, -5 * 365, category="encounter-diagnosis")


@situation(
    "past-anaphylaxis",
    "Past-Anaphylaxis",
    gender="female",
    age=43,
    expect={"hypersensitivity": "alert"},
    severity={"hypersensitivity": "critical"},
    phase="pre-treatment",
)
def _past_anaphylaxis(b: PatientBuilder) -> None:
    """Anaphylaxis to ofatumumab years ago, now recorded as an inactive AllergyIntolerance:
    a history of hypersensitivity is a contraindication whatever its clinical status."""
    not_started(b, labs_at=-15, start=10)
    b.kesimpta_allergy(-4 * 365, clinical="inactive")


@situation(
    "cd19-during-loading",
    "CD19-During-Loading",
    gender="male",
    age=29,
    expect={"vaccine-live-on-therapy": "alert"},
    severity={"vaccine-live-on-therapy": "high"},
    phase="loading",
)
def _cd19_during_loading(b: PatientBuilder) -> None:
    """Two loading doses; a CD19 count of 210 cells/uL 3 days ago (not yet depleted) and an
    MMR vaccine yesterday. A CD19 count never releases a patient still on therapy: alert."""
    therapy(b, [-8, -1], hcg=False)
    b.quantitative(CD19, -3, 210, "/uL", low=40, unit_display="cells/uL")
    b.immunization("mmr", -1)


@situation(
    "dtap-on-therapy",
    "DTaP-On-Therapy",
    gender="female",
    age=40,
    expect={"vaccine-live-on-therapy": "ok", "vaccine-window": "ok"},
    phase="maintenance",
)
def _dtap_on_therapy(b: PatientBuilder) -> None:
    """A DTaP vaccine (CVX 20) mid-cycle: a toxoid vaccine, not live — with every CDC CVX
    code classified it is never timed as a live vaccine."""
    therapy(b, maintenance_course(-16, 8))
    b.immunization("dtap", -2)


@situation(
    "vaccine-code-unknown",
    "Vaccine-Code-Unknown",
    gender="female",
    age=33,
    expect={"vaccine-live-on-therapy": "alert"},
    severity={"vaccine-live-on-therapy": "high"},
    phase="maintenance",
)
def _vaccine_code_unknown(b: PatientBuilder) -> None:
    """A vaccine recorded under a local code the app does not know, named "MMR II": its
    name is that of a live vaccine, so it alerts — and says the code was not recognised."""
    therapy(b, maintenance_course(-9, 7))
    b.add(
        {
            "resourceType": "Immunization",
            "id": b.new_id("imm"),
            "status": "completed",
            "vaccineCode": {
                "coding": [{"system": "urn:local:vaccines", "code": "MMR-II"}],
                "text": "MMR II (measles, mumps, rubella)",
            },
            "patient": b.subject,
            "occurrenceDateTime": b.fhir_datetime(-30, "10:00:00"),
            "primarySource": True,
        }
    )


@situation(
    "pregnancy-test-pending",
    "Pregnancy-Test-Pending",
    gender="female",
    age=30,
    expect={"pregnancy": "unknown"},
    phase="maintenance",
)
def _pregnancy_test_pending(b: PatientBuilder) -> None:
    """A serum pregnancy test drawn 2 days ago is still registered (no result): the
    contraception reminder waits for it rather than reassuring."""
    therapy(b, maintenance_course(-12, 6), hcg=True)
    b.qualitative(HCG_SERUM, -2, "negative", status="registered")


#: Every module of situations, in the demo's order; therapy recorded at home (dispenses,
#: statements, discontinuation) keeps its situations in a module of its own.
COHORTS: tuple[Cohort, ...] = (_CLINIC, home_situations.HOME)

SITUATIONS: Mapping[str, Situation] = combine(COHORTS)
DEMO_SLUGS: tuple[str, ...] = tuple(SITUATIONS)


def build_situation(slug: str, anchor: date) -> list[Resource]:
    """The situation's resources (Patient first), ids `<slug>-<kind>-<n>`, dates from `anchor`."""
    try:
        spec = SITUATIONS[slug]
    except KeyError:
        raise KeyError(
            f"unknown demo situation '{slug}' (known: {', '.join(SITUATIONS)})"
        ) from None
    builder = PatientBuilder(key=slug, anchor=anchor, tz=spec.tz)
    builder.patient(spec.given, spec.family, spec.gender, birth_date_for_age(anchor, spec.age))
    onset: When = spec.ms_onset
    if spec.ms_onset_year_only:
        onset = str(builder.day(spec.ms_onset).year)
    builder.ms(onset, text=spec.ms_text)
    spec.build(builder)
    return builder.resources
