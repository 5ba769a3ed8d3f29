"""Whole-day date arithmetic that never raises, and the partial-date choices the rules make.

A FHIR date may be as late as 9999-12-31; adding a look-ahead to it must not crash a
worklist, so sums past the calendar clamp to `date.max` / `date.min`.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

#: `timedelta(days=n)` by n: making one (keyword parsing, normalising) costs several times
#: the addition, and the rules add the same few settings' day counts for every patient. The
#: value depends only on n (7 and 7.0 give equal timedeltas), so sharing them is safe.
_DELTAS: dict[int, timedelta] = {}
_DELTAS_MAX = 1024


def plus_days(day: date, days: int) -> date:
    """`day + days`, clamped to the calendar instead of raising OverflowError."""
    try:
        delta = _DELTAS.get(days)
        if delta is None:
            delta = timedelta(days=days)
            if len(_DELTAS) < _DELTAS_MAX:  # only stops unbounded growth: a few are used
                _DELTAS[days] = delta
        return day + delta
    except OverflowError:
        return date.max if days > 0 else date.min


def plus_months(day: date, months: int) -> date:
    """Calendar months later, on the same day of the month or the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    if year > date.max.year:
        return date.max
    if year < date.min.year:
        return date.min
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def age_on(birth: date, on: date) -> int:
    """Age in completed years on `on`."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years
