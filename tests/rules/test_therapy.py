"""The one definition of therapy (SPEC §2 "Therapy recorded outside the clinic",
"Discontinued"; §3 phase, doses counted per day): pens, statements, discontinuation."""

from __future__ import annotations

import pytest

from domain.findings import Finding, NextDueBasis, Phase, Status, Therapy
from domain.records import Dose, DoseKind, PatientRecord
from smartapp.rules import evaluate
from smartapp.rules.therapy import place_pens, therapy_of

from .builders import (
    AS_OF,
    SETTINGS,
    Part,
    check,
    course,
    d,
    dispense,
    dose,
    order,
    record,
    statement,
    vaccine,
)


def therapy(*items: Part) -> Therapy:
    return therapy_of(record(*items), AS_OF, SETTINGS)


def days(t: Therapy) -> list[int]:
    return [(dose.when.earliest - AS_OF).days for dose in t.course]


def supply_days(t: Therapy) -> list[int]:
    return [(dose.when.earliest - AS_OF).days for dose in t.supply]


# --- doses counted per day ----------------------------------------------------------------


def test_two_administration_records_on_one_day_are_one_dose() -> None:
    t = therapy(dose(-20), dose(-20), dose(-13))
    assert days(t) == [-20, -13]
    assert len(t.administrations) == 3
    assert t.phase is Phase.LOADING
    assert t.next_due == d(-6)


def test_a_duplicate_never_changes_phase_or_next_due() -> None:
    base = course(-200, 8)
    with_duplicate = [*base, dose(-88)]  # day -88 is in the course
    assert days(therapy(*base)) == days(therapy(*with_duplicate))
    assert therapy(*base).next_due == therapy(*with_duplicate).next_due


def test_a_dispense_and_an_administration_on_the_same_day_are_one_dose() -> None:
    t = therapy(dispense(-5), dose(-5))
    assert days(t) == [-5]
    assert t.course[0].kind is DoseKind.ADMINISTRATION
    assert t.supply == ()
    assert t.next_due == d(2)


# --- pen placement --------------------------------------------------------------------------


def test_a_first_dispense_starts_the_course_on_its_day_and_the_rest_are_supply() -> None:
    t = therapy(dispense(-10, pens=3))
    assert days(t) == [-10, -3]
    assert supply_days(t) == [4]
    assert t.phase is Phase.LOADING
    assert t.next_due == d(4)
    assert t.next_due_basis is NextDueBasis.PEN_IN_HAND
    # Three pens on 0, 7, 14: the supply runs out at the first monthly dose (14 days later).
    assert t.supply_until == d(18)


def test_starter_pens_follow_7_7_14_then_28() -> None:
    t = therapy(dispense(-100, pens=3), dispense(-72), dispense(-44), dispense(-16))
    assert days(t) == [-100, -93, -86, -72, -44, -16]
    assert t.phase is Phase.MAINTENANCE
    assert t.next_due == d(12)
    assert t.next_due_basis is NextDueBasis.SUPPLY_END
    assert t.supply_until == d(12)


def test_an_early_refill_is_placed_on_the_due_date_never_before() -> None:
    # Refill on day -25: its pen waits for the due date after the last dose.
    t = therapy(*course(-80, 5), dispense(-25))  # doses -80 -73 -66 -52 -24
    assert days(t) == [-80, -73, -66, -52, -24]
    assert supply_days(t) == []  # the refill's pen was used by the administration on -24
    t = therapy(*course(-80, 4), dispense(-40))  # doses -80 -73 -66 -52; pen due -24
    assert days(t) == [-80, -73, -66, -52, -24]
    assert t.next_due == d(4)
    assert t.next_due_basis is NextDueBasis.SUPPLY_END


def test_a_late_refill_is_placed_on_its_dispense_day() -> None:
    t = therapy(*course(-120, 4), dispense(-30))  # due -64; pen only from -30
    assert days(t)[-1] == -30
    assert t.next_due == d(-2)


def test_pens_are_never_placed_before_the_dispense_day() -> None:
    t = therapy(dose(-60), dispense(-20, pens=2))
    assert days(t) == [-60, -20, -13]


def test_pens_on_or_before_as_of_are_doses_later_ones_supply() -> None:
    t = therapy(dispense(-14, pens=3))
    assert days(t) == [-14, -7, 0]  # the pen placed on as_of is a dose
    assert t.supply == ()
    t = therapy(dispense(-13, pens=3))
    assert days(t) == [-13, -6]
    assert supply_days(t) == [1]


def test_an_administration_after_a_dispense_uses_one_of_its_pens() -> None:
    # Three pens handed over on day -30; the first injection was given at the clinic on -28.
    t = therapy(dispense(-30, pens=3), dose(-28))
    assert days(t) == [-28, -21, -14]
    assert [dose.kind for dose in t.course] == [
        DoseKind.ADMINISTRATION,
        DoseKind.PEN,
        DoseKind.PEN,
    ]
    assert t.next_due == d(0)
    assert t.next_due_basis is NextDueBasis.SUPPLY_END


def test_administrations_before_any_dispense_use_no_pen() -> None:
    t = therapy(dose(-40), dispense(-35, pens=2))
    assert days(t) == [-40, -33, -26]


def test_the_supply_runs_out_at_the_due_date_after_the_last_pen() -> None:
    t = therapy(*course(-200, 6), dispense(-40, pens=2))  # last dose -60: late refill
    assert days(t)[-2:] == [-40, -12]
    assert t.supply_until == d(16)


def test_85_days_without_a_dose_or_pen_is_interrupted_84_is_not() -> None:
    assert therapy(*course(-300, 5), dispense(-84)).phase is Phase.MAINTENANCE
    assert therapy(*course(-300, 5), dispense(-85)).phase is Phase.INTERRUPTED


def test_pens_in_hand_keep_the_course_going() -> None:
    t = therapy(dispense(-20, pens=6))  # -20 -13 -6 | 8 36 64
    assert t.phase is Phase.MAINTENANCE
    assert supply_days(t) == [8, 36, 64]
    assert t.supply_until == d(92)


def test_dispenses_after_as_of_are_not_counted() -> None:
    t = therapy(dispense(-10), dispense(3, pens=5))
    assert days(t) == [-10]
    assert t.supply == ()


def test_partial_dispense_date_places_its_pen_on_the_earliest_day() -> None:
    t = therapy(dispense("2025-05"))
    assert days(t) == [(d(0).replace(day=1, month=5) - AS_OF).days]
    assert t.course[0].kind is DoseKind.PEN


# --- statements ---------------------------------------------------------------------------


def test_an_active_statement_shows_therapy_from_its_start() -> None:
    t = therapy(statement(-27))
    assert t.phase is Phase.LOADING
    assert t.first is not None and t.first.earliest == d(-27)
    assert t.next_due is None
    assert therapy(statement(-28)).phase is Phase.MAINTENANCE


def test_an_active_statement_dated_only_by_assertion() -> None:
    t = therapy(statement(None, asserted=-40))
    assert t.phase is Phase.PRE_TREATMENT  # the reader puts dateAsserted into start


def test_an_intended_statement_is_only_a_planned_start() -> None:
    t = therapy(statement(20, status="intended"))
    assert t.phase is Phase.PRE_TREATMENT
    assert not t.started


def test_a_statement_starting_after_as_of_is_not_therapy_yet() -> None:
    assert therapy(statement(5)).phase is Phase.PRE_TREATMENT


def test_statement_only_schedule_is_unknown_because_home_doses_are_not_recorded() -> None:
    f = check("dose-schedule", record(statement(-60)))
    assert f.status is Status.UNKNOWN
    assert "doses taken at home are not recorded" in f.detail
    assert f.evidence[0].reference.startswith("MedicationStatement/")


def test_statement_only_live_vaccine_alerts() -> None:
    f = check("vaccine-live-on-therapy", record(statement(-200), vaccine(-10, "live")))
    assert f.status is Status.ALERT


def test_the_first_of_doses_pens_and_statements_is_the_first_dose() -> None:
    t = therapy(statement(-300), dispense(-50))
    assert t.first is not None and t.first.earliest == d(-300)
    assert days(t) == [-50]


# --- discontinued ---------------------------------------------------------------------------


def test_a_stopped_order_after_doses_discontinues() -> None:
    t = therapy(*course(-300, 8), order(-300, status="stopped", end=-100))
    assert t.phase is Phase.DISCONTINUED
    assert t.discontinued is not None and t.next_due is None


def test_a_completed_order_is_a_fulfilled_prescription_not_a_stop() -> None:
    rec = record(*course(-200, 6), order(-200, status="completed"))
    t = therapy_of(rec, AS_OF, SETTINGS)
    assert t.phase is Phase.INTERRUPTED
    assert check("dose-schedule", rec).status is Status.OVERDUE


def test_a_completed_starter_order_then_dispenses_keeps_the_schedule() -> None:
    t = therapy(
        order(-100, status="completed", authored=-100),
        dispense(-100, pens=3),
        dispense(-72),
        dispense(-44),
        dispense(-16),
    )
    assert t.phase is Phase.MAINTENANCE
    assert t.next_due == d(12)


def test_cancelled_and_entered_in_error_never_count() -> None:
    for status in ("cancelled", "entered-in-error"):
        t = therapy(*course(-100, 5), order(-20, status=status, authored=-20))
        assert t.phase is Phase.MAINTENANCE


def test_an_active_or_on_hold_order_keeps_therapy_going() -> None:
    for status in ("active", "on-hold"):
        t = therapy(
            *course(-300, 8),
            order(-300, status="stopped", authored=-10),
            order(-300, status=status, authored=-300),
        )
        assert t.discontinued is None


def test_the_newest_record_decides() -> None:
    stopped_then_restarted = therapy(
        *course(-300, 5),
        order(-300, status="stopped", authored=-200),
        order(-50, status="completed", authored=-50),
    )
    assert stopped_then_restarted.discontinued is None
    stopped_last = therapy(
        *course(-300, 5),
        order(-300, status="completed", authored=-300),
        order(-300, status="stopped", authored=-100),
    )
    assert stopped_last.phase is Phase.DISCONTINUED


def test_on_the_same_day_a_record_that_keeps_therapy_going_wins() -> None:
    t = therapy(
        *course(-300, 5),
        order(-300, status="stopped", authored=-50),
        order(-300, status="completed", authored=-50),
    )
    assert t.discontinued is None


def test_a_dose_or_dispense_after_the_stop_date_means_not_discontinued() -> None:
    assert therapy(*course(-100, 6), order(-100, "stopped", end=-30)).discontinued is None
    assert therapy(*course(-100, 4), order(-100, "stopped", end=-30)).discontinued is not None
    assert (
        therapy(*course(-100, 4), dispense(-29), order(-100, "stopped", end=-30)).discontinued
        is None
    )
    # On the stop day itself: still discontinued.
    assert (
        therapy(*course(-100, 4), dispense(-30), order(-100, "stopped", end=-30)).discontinued
        is not None
    )


def test_a_partial_dose_date_that_may_fall_after_the_stop_keeps_therapy_going() -> None:
    # Stop 2025-05-10; a dose dated "2025-05" may be after it.
    t = therapy(*course(-200, 4), dose("2025-05"), order(-200, "stopped", end="2025-05-10"))
    assert t.discontinued is None


def test_a_completed_statement_is_a_stop_at_its_end() -> None:
    t = therapy(statement(-400, status="completed", end=-100, asserted=-90))
    assert t.phase is Phase.DISCONTINUED
    assert t.first is not None and t.first.earliest == d(-400)
    assert t.last is not None and t.last.earliest == d(-100)


def test_a_stopped_order_before_any_dose_leaves_the_patient_pre_treatment() -> None:
    assert therapy(order(-30, status="stopped", authored=-30)).phase is Phase.PRE_TREATMENT


def test_pens_are_not_placed_after_a_known_stop_date() -> None:
    t = therapy(dispense(-100, pens=6), order(-100, "stopped", end=-80, authored=-80))
    assert t.phase is Phase.DISCONTINUED
    assert days(t) == [-100, -93, -86]
    assert t.unused_pens == 3
    assert t.last is not None and t.last.earliest == d(-86)


def test_discontinued_checks_that_stop_and_checks_that_go_on() -> None:
    rec = record(
        *course(-300, 8),
        order(-300, status="stopped", end=-100),
        vaccine(-30, "live"),
    )
    findings = {f.check: f for f in check_all(rec)}
    for stopped in ("dose-schedule", "vaccine-window", "mri-monitoring"):
        assert findings[stopped].status is Status.NOT_APPLICABLE, stopped
    assert findings["vaccine-live-on-therapy"].status is Status.ALERT
    assert findings["ig-monitoring"].status is not Status.NOT_APPLICABLE
    assert findings["pregnancy"].status is not Status.NOT_APPLICABLE


def test_immunoglobulin_monitoring_ends_at_presumed_repletion_after_discontinuation() -> None:
    # Course -400..-344: repletion presumed 280 days after the last dose, day -64.
    ended = record(*course(-400, 5), order(-400, status="stopped", end=-300))
    assert check("ig-monitoring", ended).status is Status.NOT_APPLICABLE
    # Course -326..-270: repletion presumed on day 10, monitoring goes on.
    ongoing = record(*course(-326, 5), order(-326, status="stopped", end=-260))
    assert check("ig-monitoring", ongoing).status is not Status.NOT_APPLICABLE


def check_all(rec: PatientRecord) -> list[Finding]:
    return list(evaluate(rec, AS_OF, SETTINGS).findings)


@pytest.mark.parametrize("supply_after", [True, False])
@pytest.mark.parametrize(
    "doses",
    [
        [],
        [dose(-20), dose(-20), dose(-13)],
        course(-200, 8),
        [*course(-300, 5), dose("2026-03"), dose(-2, None)],
    ],
)
def test_without_dispenses_the_course_is_what_the_placing_loop_gives(
    doses: list[Dose], supply_after: bool
) -> None:
    """`place_pens` answers administrations alone without its placing loop; a dispense
    with no pen to place sends the same doses through the loop, which must agree."""
    administrations = sorted(doses, key=lambda item: (item.when.earliest, item.when.latest))
    empty = dispense(-400, pens=0)
    shortcut = place_pens(administrations, (), AS_OF, SETTINGS, supply_after=supply_after)
    loop = place_pens(administrations, (empty,), AS_OF, SETTINGS, supply_after=supply_after)
    assert shortcut == loop
    assert [item.when.earliest for item in shortcut.course] == sorted(
        {item.when.earliest for item in doses}
    )
