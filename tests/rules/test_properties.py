"""Properties over random records: evaluate never raises, every check appears exactly once,
incomplete or unreadable data never reads `ok`, and actions follow statuses."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.findings import Status
from domain.records import (
    AREAS,
    ConditionKind,
    LabKind,
    LabResult,
    PatientRecord,
    Qualitative,
)
from smartapp.rules import CHECKS, STATUS_ORDER, evaluate, finding_order

from .builders import (
    AS_OF,
    SETTINGS,
    Item,
    When,
    allergy,
    condition,
    dose,
    lab,
    mri,
    order,
    record,
    task,
    vaccine,
)

CHECK_IDS = [c.id for c in CHECKS]
LAB_CHECKS = {"hbv-screening", "hbv-serology", "ig-baseline", "ig-low", "cbc-baseline"}
ACTIONABLE = {Status.DUE, Status.OVERDUE, Status.ALERT, Status.UNKNOWN}

days = st.integers(min_value=-1500, max_value=200)
partial = st.builds(
    lambda y, m, month: f"{y}-{m:02d}" if month else str(y),
    st.integers(min_value=2020, max_value=2026),
    st.integers(min_value=1, max_value=12),
    st.booleans(),
)
extreme = st.sampled_from(["9999-12", "9999", "0001", "0001-01"])
dates: st.SearchStrategy[When] = st.one_of(days, days, days, partial, extreme)
optional_dates: st.SearchStrategy[When] = st.one_of(dates, st.none())


@st.composite
def lab_results(draw: st.DrawFn, unusable: bool = False) -> LabResult:
    kind = draw(st.sampled_from(list(LabKind)))
    interpretable = False if unusable else draw(st.booleans())
    return lab(
        kind,
        draw(optional_dates),
        qualitative=draw(st.sampled_from([None, Qualitative.POSITIVE, Qualitative.NEGATIVE])),
        value=draw(st.one_of(st.none(), st.floats(min_value=0, max_value=3000))),
        lower_limit=draw(st.one_of(st.none(), st.floats(min_value=0, max_value=1000))),
        pending=draw(st.booleans()),
        interpretable=interpretable,
    )


@st.composite
def records(draw: st.DrawFn, unusable_labs: bool = False) -> PatientRecord:
    items: list[Item] = []
    items += draw(st.lists(lab_results(unusable_labs), max_size=10))
    items += [
        dose(day, amount)
        for day, amount in draw(
            st.lists(
                st.tuples(dates, st.sampled_from([20.0, 20.0, None, 40.0])),
                max_size=8,
            )
        )
    ]
    items += [
        order(start, status)
        for start, status in draw(
            st.lists(st.tuples(optional_dates, st.sampled_from(["active", "draft"])), max_size=2)
        )
    ]
    items += [
        vaccine(day, cls, text="text date" if day is None else None)
        for day, cls in draw(
            st.lists(
                st.tuples(optional_dates, st.sampled_from(["live", "non_live", "ambiguous"])),
                max_size=4,
            )
        )
    ]
    items += [
        condition(kind, onset, active=active, refuted=refuted)
        for kind, onset, active, refuted in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(list(ConditionKind)),
                    optional_dates,
                    st.booleans(),
                    st.booleans(),
                ),
                max_size=4,
            )
        )
    ]
    items += [
        allergy(active=a, refuted=r)
        for a, r in draw(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=1))
    ]
    items += [mri(day) for day in draw(st.lists(dates, max_size=2))]
    items += [
        task(
            check_id,
            AS_OF + timedelta(days=offset) if offset is not None else None,
            status=status,
        )
        for check_id, offset, status in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(CHECK_IDS),
                    st.one_of(st.none(), days),
                    st.sampled_from(["cancelled", "completed", "requested"]),
                ),
                max_size=2,
            )
        )
    ]
    incomplete = draw(st.lists(st.sampled_from(AREAS), unique=True, max_size=3))
    return record(
        *items,
        gender=draw(st.sampled_from(["female", "male", "other", "unknown", None])),
        age=draw(st.one_of(st.none(), st.integers(min_value=0, max_value=95))),
        incomplete=tuple(incomplete),
    )


as_of_shift = st.integers(min_value=-400, max_value=400)
FAST = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(records(), as_of_shift)
def test_evaluate_never_raises_and_reports_every_check_once(rec: PatientRecord, shift: int) -> None:
    as_of = AS_OF + timedelta(days=shift)
    summary = evaluate(rec, as_of, SETTINGS)
    assert sorted(f.check for f in summary.findings) == sorted(CHECK_IDS)
    assert list(summary.findings) == sorted(summary.findings, key=finding_order)
    incomplete = rec.data.incomplete
    areas = {c.id: c.areas for c in CHECKS}
    for f in summary.findings:
        assert f.status in STATUS_ORDER
        if areas[f.check] & incomplete:
            assert f.status is not Status.OK, (f.check, f.detail)
        if f.action is not None:
            assert f.status in ACTIONABLE, f.check
        if f.status is Status.UNKNOWN and f.action is not None:
            assert f.action.code.startswith("order-"), f.check
        if f.status in (Status.DUE, Status.OVERDUE):
            assert f.due is not None and f.action is not None, f.check
        assert f.title and f.detail and f.citation
        for item in f.evidence:
            assert item.reference and isinstance(item.display, str)


@FAST
@given(records(unusable_labs=True), as_of_shift)
def test_unreadable_or_pending_labs_never_satisfy_a_lab_check(
    rec: PatientRecord, shift: int
) -> None:
    summary = evaluate(rec, AS_OF + timedelta(days=shift), SETTINGS)
    for f in summary.findings:
        if f.check in LAB_CHECKS:
            assert f.status is not Status.OK, (f.check, f.detail)
    schedule = summary.schedule
    if schedule.doses == 0:
        assert schedule.next_due is None and schedule.earliest_start is not None
    else:
        assert schedule.first_dose is not None and schedule.earliest_start is None
