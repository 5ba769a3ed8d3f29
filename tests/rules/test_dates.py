"""`smartapp.rules.dates.plus_days`: the calendar sum, with its timedeltas shared."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from smartapp.rules.dates import plus_days

DAYS = [date(2024, 2, 28), date(2025, 12, 31), date(1, 1, 1) + timedelta(days=400)]


@pytest.mark.parametrize("days", [0, 1, 7, -7, 28, 365, -365, 7.0, -0.0, True])
def test_the_sum_is_the_timedelta_sum_every_time(days: int) -> None:
    for day in DAYS:
        expected = day + timedelta(days=days)
        assert plus_days(day, days) == expected
        assert plus_days(day, days) == expected  # and again, from the shared timedelta


@pytest.mark.parametrize(
    ("day", "days", "expected"),
    [
        (date.max, 1, date.max),
        (date.min, -1, date.min),
        (date(2020, 1, 1), 10**9, date.max),  # too many days for a timedelta at all
        (date(2020, 1, 1), -(10**9), date.min),
    ],
)
def test_sums_past_the_calendar_are_clamped_every_time(
    day: date, days: int, expected: date
) -> None:
    assert plus_days(day, days) == expected
    assert plus_days(day, days) == expected
