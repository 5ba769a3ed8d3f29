"""Which result is the latest, and results dated after the as-of date (SPEC §2)."""

from __future__ import annotations

import itertools
import random

import pytest

from domain.findings import Severity, Status
from domain.records import LabKind, LabResult
from smartapp.rules.results import LabSeries, in_order, index_labs, latest_of, order_key

from .builders import AS_OF, anti_hbc, check, hbsag, igg, igm, lab, record, summary


def latest_in_every_order(*labs: LabResult) -> LabResult | None:
    """The latest, checked to be the same whatever order the results come in."""
    found = {latest_of(order) for order in itertools.permutations(labs)}
    assert len(found) == 1, found
    return found.pop()


def test_same_day_without_times_the_worse_result_counts() -> None:
    positive, negative = hbsag(-5, "positive"), hbsag(-5, "negative")
    assert latest_in_every_order(positive, negative) is positive
    for order in ([positive, negative], [negative, positive]):
        f = check("hbv-serology", record(*order, anti_hbc(-30)))
        assert f.status is Status.ALERT and f.severity is Severity.CRITICAL


@pytest.mark.parametrize(
    ("latest", "other"),
    [
        # A later time on the same day is the latest.
        ("2025-06-10T18:00:00+02:00 negative", "2025-06-10T08:00:00+02:00 positive"),
        # Same day with one time only: they cannot be ordered, so the worse counts.
        ("2025-06-10 positive", "2025-06-10T18:00:00+02:00 negative"),
        # Times are compared as instants across offsets: both on 2025-06-10 in their own
        # offsets, the New York one is 22:30 UTC later.
        ("2025-06-10T23:30:00-05:00 negative", "2025-06-10T08:00:00+02:00 positive"),
        # The calendar day in its own offset decides before the instant: 2025-06-11 in
        # Kiritimati (+14) is earlier in UTC than 2025-06-10 in Honolulu, but the rules work
        # in calendar days (SPEC §2 "Dates"): the 11th is the later day.
        ("2025-06-11T01:00:00+14:00 negative", "2025-06-10T20:00:00-10:00 positive"),
        # A partial date overlapping a day cannot be ordered, so the worse counts ...
        ("2025-05 positive", "2025-05-20 negative"),
        # ... and a later day wins over it.
        ("2025-06-01 negative", "2025-05 positive"),
    ],
)
def test_which_of_two_hbsag_results_is_the_latest(latest: str, other: str) -> None:
    winner, loser = hbsag(*latest.split()), hbsag(*other.split())
    assert latest_in_every_order(winner, loser) is winner


def test_low_is_worse_when_two_immunoglobulins_cannot_be_ordered() -> None:
    low, normal = igg(-3, 650.0), igg(-3, 800.0)
    assert latest_in_every_order(low, normal) is low
    for order in ([low, normal], [normal, low]):
        f = check("ig-low", record(*order, igm(-3)))
        assert f.status is Status.ALERT


def test_series_order_does_not_depend_on_input_order() -> None:
    labs = [hbsag(-5, "negative"), hbsag(-5, "positive"), hbsag("2025-06", "negative")]
    seen = set()
    for order in itertools.permutations(labs):
        index, _ = index_labs(order, AS_OF)
        series = index[LabKind.HBSAG]
        seen.add((series.usable, series.latest))
    assert len(seen) == 1


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_a_series_is_in_order_key_order_however_short(count: int) -> None:
    """`in_order` leaves none or one result as it is: what sorting by `order_key` gives."""
    labs = [hbsag(-5, "negative"), hbsag(-5, "positive"), hbsag("2025-06", "negative")][:count]
    for order in itertools.permutations(labs):
        expected = tuple(sorted(order, key=order_key))
        assert in_order(order) == in_order(list(order)) == in_order(iter(order)) == expected


def test_every_output_is_the_same_whatever_the_order_of_results() -> None:
    labs = [
        hbsag(-5, "negative"),
        hbsag(-5, "positive"),
        anti_hbc(-5),
        igg(-3, 650.0),
        igg(-3, 800.0),
        igm(-3, 30.0, comparator="<"),
        lab(LabKind.HBSAG, -1, pending=True),
    ]
    orders = [list(labs)]
    for seed in range(20):
        shuffled = list(labs)
        random.Random(seed).shuffle(shuffled)
        orders.append(shuffled)
    outputs = {summary(record(*order)) for order in orders}
    assert len(outputs) == 1


# --- dates after the as-of date ----------------------------------------------------------


def test_a_result_dated_after_as_of_is_a_data_problem_and_never_ok() -> None:
    rec = record(hbsag(10, "negative"), anti_hbc(-30))
    result = summary(rec)
    f = next(f for f in result.findings if f.check == "hbv-serology")
    assert f.status is Status.UNKNOWN
    assert any("after the as-of date" in e.display for e in f.evidence)
    assert any("after the as-of date 2025-06-15" in p for p in result.data.problems)
    screening = next(f for f in result.findings if f.check == "hbv-screening")
    assert screening.status is not Status.OK


def test_a_result_dated_after_as_of_with_an_earlier_issued_date_uses_issued() -> None:
    rec = record(hbsag(10, "positive", issued=-1), anti_hbc(-30))
    result = summary(rec)
    f = next(f for f in result.findings if f.check == "hbv-serology")
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert f.evidence[0].date is not None and "2025-06-14" in f.evidence[0].date
    assert result.data.problems == ()


def test_a_result_issued_after_as_of_too_is_a_data_problem() -> None:
    result = summary(record(hbsag(10, "positive", issued=5), anti_hbc(-30)))
    assert len(result.data.problems) == 1
    assert "issued" in result.data.problems[0]


def test_a_partial_date_containing_as_of_is_placed_on_as_of_not_in_the_future() -> None:
    positive = hbsag("2025-06", "positive")  # June 2025 contains AS_OF (2025-06-15)
    result = summary(record(positive, anti_hbc(-30)))
    f = next(f for f in result.findings if f.check == "hbv-serology")
    assert f.status is Status.ALERT
    assert result.data.problems == ()
    index, problems = index_labs([positive], AS_OF)
    placed = index[LabKind.HBSAG].latest
    assert placed is not None and placed.when is not None
    assert placed.when.latest == AS_OF and problems == ()


def test_boundary_a_result_on_as_of_is_used_and_the_day_after_is_not() -> None:
    on = summary(record(hbsag(0, "negative"), anti_hbc(0)))
    after = summary(record(hbsag(1, "negative"), anti_hbc(0)))
    assert next(f for f in on.findings if f.check == "hbv-serology").status is Status.OK
    assert next(f for f in after.findings if f.check == "hbv-serology").status is Status.UNKNOWN


def test_a_pending_result_scheduled_after_as_of_is_not_a_problem_nor_pending_yet() -> None:
    index, problems = index_labs([lab(LabKind.HBSAG, 5, pending=True)], AS_OF)
    assert problems == () and index[LabKind.HBSAG] == LabSeries.of([], [], [])
