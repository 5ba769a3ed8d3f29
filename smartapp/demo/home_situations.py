"""Demo situations for therapy recorded at home: the specialty pharmacy's dispenses, the
patient's own statements, and discontinued therapy (SPEC §2 "Therapy recorded outside the
clinic", "Discontinued"; docs/home-therapy.md).

`smartapp.demo.situations` lists this module's cohort (`HOME`) in the demo; offsets are
days from the anchor, as there.
"""

from __future__ import annotations

from smartapp.demo.cohort import Cohort
from smartapp.demo.courses import baseline_labs, maintenance_course, therapy
from smartapp.demo.fhir_builders import CD19, UCUM, PatientBuilder, When

HOME = Cohort()
situation = HOME.situation

#: Situations whose story is an unusable record: the record areas they leave incomplete on
#: purpose (SPEC §2: the checks that depend on them say unknown, with the reason).
INCOMPLETE_ON_PURPOSE: dict[str, frozenset[str]] = {
    "home-dispense-unreadable-quantity": frozenset({"doses"}),
}


def dispensed_course(last: int, maintenance_doses: int) -> list[tuple[When, int]]:
    """The pharmacy's dispenses of an on-schedule course: three starter pens on the first
    day (placed on weeks 0, 1, 2), then one pen every 28 days, the last on day `last`."""
    days = maintenance_course(last, maintenance_doses)
    return [(days[0], 3), *((day, 1) for day in days[3:])]


_BASELINE_OK = {
    "hbv-screening": "ok",
    "hbv-serology": "ok",
    "ig-baseline": "ok",
    "cbc-baseline": "ok",
}


@situation(
    "home-dispenses-maintenance",
    "Home-Dispenses-Maintenance",
    gender="female",
    age=36,
    expect={
        **_BASELINE_OK,
        "dose-schedule": "ok",
        "dose-interval": "not_applicable",
        "vaccine-live-on-therapy": "ok",
        "vaccine-window": "ok",
        "mri-monitoring": "ok",
    },
    phase="maintenance",
    tz="-05:00",
)
def _home_dispenses(b: PatientBuilder) -> None:
    """Self-injects at home: no injection is charted, only the specialty pharmacy's
    dispenses (three starter pens, then one pen every 4 weeks, the last 10 days ago). Each
    pen counts as a dose on its due date; the next is due in 18 days, when the dispensed
    supply runs out."""
    therapy(b, [], dispenses=dispensed_course(-10, 6))


@situation(
    "home-supply-ran-out",
    "Home-Supply-Ran-Out",
    gender="male",
    age=44,
    expect={**_BASELINE_OK, "dose-schedule": "overdue"},
    severity={"dose-schedule": "high"},
    phase="maintenance",
)
def _supply_ran_out(b: PatientBuilder) -> None:
    """Dispenses recorded with the brand name only ("Kesimpta Sensoready pen", no code); the
    last pen was dispensed 70 days ago, so the supply ran out 42 days ago: overdue,
    "refill or confirm injection" (a treatment interruption unless injected elsewhere)."""
    therapy(b, [], dispenses=dispensed_course(-70, 5), style="text")


@situation(
    "home-early-refill",
    "Home-Early-Refill",
    gender="female",
    age=31,
    expect={**_BASELINE_OK, "dose-schedule": "due"},
    severity={"dose-schedule": "low"},
    phase="maintenance",
    tz="+09:00",
)
def _early_refill(b: PatientBuilder) -> None:
    """The last pen was due 23 days ago; the pharmacy refilled early, 3 days ago. The new pen
    is supply in hand, placed on its due date in 5 days (never before): the dose is due
    then, by dispensed supply."""
    therapy(b, [], dispenses=[*dispensed_course(-23, 4), (-3, 1)])


@situation(
    "home-dispense-and-injection-same-day",
    "Home-Dispense-And-Injection-Same-Day",
    gender="female",
    age=42,
    expect={**_BASELINE_OK, "dose-schedule": "ok", "dose-interval": "ok"},
    phase="maintenance",
)
def _same_day(b: PatientBuilder) -> None:
    """Injections charted at the clinic; the pen for the last one was dispensed the same
    day, 10 days ago: one dose, not two (the dose record says so), next due in 18 days."""
    doses = maintenance_course(-10, 5)
    therapy(b, doses, dispenses=[(-10, 1)])


@situation(
    "home-quantity-in-ml",
    "Home-Quantity-In-mL",
    gender="male",
    age=27,
    expect={**_BASELINE_OK, "dose-schedule": "ok"},
    phase="maintenance",
)
def _quantity_in_ml(b: PatientBuilder) -> None:
    """The starter dispense 16 days ago records its quantity as 1.2 mL: three 0.4 mL pens,
    placed 16, 9 and 2 days ago. Three doses: the first monthly dose is due in 12 days."""
    medication = b.kesimpta_medication()
    b.medication_request(-37, start=-16, medication=medication)
    baseline_labs(b, -46)
    b.brain_mri(-61)
    b.kesimpta_dispense(
        -16,
        amount={"value": 1.2, "unit": "mL", "system": UCUM, "code": "mL"},
        medication=medication,
    )


@situation(
    "home-starter-pens-in-hand",
    "Home-Starter-Pens-In-Hand",
    gender="female",
    age=33,
    expect={**_BASELINE_OK, "dose-schedule": "due", "vaccine-window": "ok"},
    severity={"dose-schedule": "low"},
    phase="loading",
)
def _starter_in_hand(b: PatientBuilder) -> None:
    """Three starter pens dispensed 8 days ago: the first counts on the day it was handed
    over, the second 1 day ago; the third is in hand and due in 6 days."""
    therapy(b, [], dispenses=[(-8, 3)], follow_up_labs=False, annual_mri=False)


@situation(
    "home-statement-live-vaccine",
    "Home-Statement-Live-Vaccine",
    gender="female",
    age=35,
    expect={
        **_BASELINE_OK,
        "dose-schedule": "unknown",
        "vaccine-live-on-therapy": "alert",
    },
    severity={"vaccine-live-on-therapy": "high"},
    phase="maintenance",
)
def _statement_live_vaccine(b: PatientBuilder) -> None:
    """Nothing charted but the patient's own report (MedicationStatement, active): taking
    Kesimpta at home since 200 days ago. The dose schedule is unknown (doses taken at home
    are not recorded); an MMR vaccine 15 days ago is a live vaccine on therapy."""
    baseline_labs(b, -230)
    b.brain_mri(-245)
    b.kesimpta_statement(-200, asserted=-30)
    b.immunization("mmr", -15)


@situation(
    "duplicate-dose-records",
    "Duplicate-Dose-Records",
    gender="male",
    age=50,
    expect={**_BASELINE_OK, "dose-schedule": "ok", "dose-interval": "alert"},
    severity={"dose-interval": "moderate"},
    phase="maintenance",
)
def _duplicates(b: PatientBuilder) -> None:
    """The injection 38 days ago was charted twice. For the schedule it is one dose (the next
    is due in 18 days, from the last dose 10 days ago); the dose record flags the two
    records of one day as a possible duplicate or double dose."""
    doses: list[When] = list(maintenance_course(-10, 6))
    therapy(b, [*doses, -38])


@situation(
    "completed-starter-order",
    "Completed-Starter-Order",
    gender="female",
    age=39,
    expect={**_BASELINE_OK, "dose-schedule": "overdue"},
    phase="maintenance",
)
def _completed_starter_order(b: PatientBuilder) -> None:
    """The starter prescription is `completed` (fulfilled, not stopped); the pharmacy's
    dispenses continue, the last pen 33 days ago: the next dose is 5 days overdue. A
    completed order is never read as "therapy stopped"."""
    therapy(b, [], dispenses=dispensed_course(-33, 4), order_status="completed")


@situation(
    "stopped-live-vaccine-too-soon",
    "Stopped-Live-Vaccine-Too-Soon",
    gender="female",
    age=30,
    expect={
        "dose-schedule": "not_applicable",
        "vaccine-window": "not_applicable",
        "mri-monitoring": "not_applicable",
        "vaccine-live-on-therapy": "alert",
    },
    severity={"vaccine-live-on-therapy": "high"},
    phase="discontinued",
)
def _stopped_too_soon(b: PatientBuilder) -> None:
    """Therapy stopped: the order was stopped 140 days ago, after the last dose 150 days ago.
    A varicella vaccine (live) 20 days ago came before B-cell repletion (presumed 280 days
    after the last dose): alert. Immunoglobulin monitoring goes on until repletion."""
    therapy(b, maintenance_course(-150, 6), order_status="stopped", order_end=-140)
    b.immunization("varicella", -20)


@situation(
    "stopped-live-vaccine-after-repletion",
    "Stopped-Live-Vaccine-After-Repletion",
    gender="male",
    age=47,
    expect={
        "dose-schedule": "not_applicable",
        "ig-monitoring": "not_applicable",
        "vaccine-live-on-therapy": "ok",
    },
    phase="discontinued",
)
def _stopped_after_repletion(b: PatientBuilder) -> None:
    """Therapy stopped 400 days ago: the prescription was fulfilled (`completed`) and the
    patient's statement says Kesimpta was taken until the last dose (`completed`). A yellow
    fever vaccine (live) 20 days ago, after presumed B-cell repletion (280 days): no alert,
    and immunoglobulin monitoring has ended."""
    doses = maintenance_course(-400, 8)
    therapy(b, doses, follow_up_labs=False, annual_mri=False, order_status="completed")
    b.kesimpta_statement(doses[0], status="completed", end=-400, asserted=-395)
    b.immunization("yellow-fever", -20)


@situation(
    "stopped-cd19-recovered",
    "Stopped-CD19-Recovered",
    gender="female",
    age=41,
    expect={"vaccine-live-on-therapy": "ok", "dose-schedule": "not_applicable"},
    phase="discontinued",
)
def _stopped_cd19_recovered(b: PatientBuilder) -> None:
    """Therapy stopped 200 days ago (order stopped then); CD19 B cells back to 95 cells/uL
    (lower limit 40) 30 days ago, before a varicella vaccine 10 days ago: B cells have
    recovered after discontinuation, so the live vaccine is allowed."""
    therapy(b, maintenance_course(-200, 6), order_status="stopped", order_end=-200)
    b.quantitative(CD19, -30, 95, "/uL", low=40, unit_display="cells/uL")
    b.immunization("varicella", -10)


@situation(
    "home-dispense-unreadable-quantity",
    "Home-Dispense-Unreadable-Quantity",
    gender="male",
    age=38,
    expect={"dose-schedule": "unknown", "vaccine-window": "unknown"},
    phase="maintenance",
)
def _unreadable_quantity(b: PatientBuilder) -> None:
    """The last dispense, 10 days ago, records its quantity as "28 d" (days of supply typed
    into the quantity): how many pens were handed over is unknown, so the therapy data are
    incomplete and the checks that depend on them say unknown, with the reason."""
    therapy(b, [], dispenses=dispensed_course(-38, 5), follow_up_labs=False)
    medication = b.kesimpta_medication()
    b.kesimpta_dispense(
        -10,
        amount={"value": 28, "unit": "d", "system": UCUM, "code": "d"},
        medication=medication,
    )
