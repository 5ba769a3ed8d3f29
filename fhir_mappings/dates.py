"""FHIR date, dateTime and instant values as `ClinicalDate` spans (SPEC §2 "Dates").

A date-time counts on its calendar day in its own UTC offset: `2024-03-01T23:30:00-05:00` is
2024-03-01, not 2 March in UTC, and an instant ending in `Z` is its UTC day. So the day is
the date part as written; the rest is only validated. Partial dates (`2024`, `2024-05`)
span their year or month (`earliest`/`latest`, precision YEAR/MONTH).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from domain.records import ClinicalDate, ClinicalDateKind, day_text
from fhir_mappings.errors import Malformed
from fhir_mappings.memo import Memo

_DAY = ClinicalDateKind.DAY  # bound once: reading it off the Enum class is slow in 3.11

# FHIR R4 dateTime (a time needs an offset there; a missing offset is tolerated, as
# servers do send it, and read as the local day written).
_DATETIME = re.compile(
    r"(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{2})(?:-(?P<d>[0-9]{2})"
    r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::(?:[0-5][0-9]|60)(?:\.[0-9]+)?)?"
    r"(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])?)?)?)?"
)
# The usual shape, a full date-time with seconds and offset ("2024-03-01T10:30:00+01:00"):
# `_DATETIME` accepts everything this does, as a full day; this is tried first as it is
# cheaper to match.
_FULL_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?"
    r"(?:Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9])"
)


def parse_clinical_date(value: object, where: str) -> ClinicalDate:
    """A FHIR date/dateTime/instant as a day or a span; `Malformed` when it is not one."""
    if not isinstance(value, str):
        raise Malformed(f"{where} is not a date")
    parsed = _PARSED.get(value)
    if parsed is None:
        parsed = _parse_new(value)
    if isinstance(parsed, str):
        raise Malformed(f"{where} {parsed}")
    return parsed


def _parse(value: str) -> ClinicalDate | str:
    """The date, or why it is not one."""
    text = value.strip()
    if _FULL_DATETIME.fullmatch(text) is None:
        match = _DATETIME.fullmatch(text)
        if match is None:
            return f"'{value[:40]}' is not a FHIR date"
        year, month, day = match.group("y", "m", "d")
        if day is None:
            return _partial(text, year, month)
    found = _day(text[:10])  # both patterns guarantee "YYYY-MM-DD" there
    if found is None:
        return f"'{text}' is not a real date"
    return ClinicalDate(found, found, text, _DAY, _moment(text))


def _moment(text: str) -> datetime | None:
    """The moment of a date-time ("2024-03-01T10:30:00+01:00"), for ordering results on the
    same day; None for a plain date, or a time Python cannot represent (a leap second)."""
    if len(text) <= 10:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _partial(text: str, year: str, month: str | None) -> ClinicalDate | str:
    """A year ("2024") or a month ("2024-05") as the span of its days."""
    try:
        number = int(year)
        if month is None:
            return ClinicalDate(
                date(number, 1, 1), date(number, 12, 31), text, ClinicalDateKind.YEAR
            )
        month_number = int(month)
        last = calendar.monthrange(number, month_number)[1]
        return ClinicalDate(
            date(number, month_number, 1),
            date(number, month_number, last),
            text,
            ClinicalDateKind.MONTH,
        )
    except ValueError:
        return f"'{text}' is not a real date"


#: `_parse` answers (a ClinicalDate, or why the text is none), by the text: the same dates
#: recur (a patient's labs drawn together share a date-time), and ClinicalDate is frozen. A
#: bounded dict (`Memo`), read inline by the callers, costs a fraction of an `lru_cache`
#: call on the hit that nearly every read is (SPEC §5 throughput); emptied when full, like
#: `day_text`'s, so it holds at most 16,384 dates (several MB, as the `lru_cache` it replaced
#: did) however many patients a worklist reads. A miss still finds the day in `_day`: days
#: recur across patients.
_PARSED = Memo(limit=16384)


def _parse_new(value: str) -> ClinicalDate | str:
    """`_parse`, remembered in `_PARSED`."""
    parsed: ClinicalDate | str = _PARSED.keep(value, _parse(value))
    return parsed


@lru_cache(maxsize=16384)
def _day(text: str) -> date | None:
    """The calendar day of a "YYYY-MM-DD" string; None when there is no such day."""
    try:
        return date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return None


def describe(when: ClinicalDate) -> str:
    """`when.describe()`, with the full-day case (nearly every date) answered inline."""
    return day_text(when.earliest) if when.precision is _DAY else when.describe()


def first_date(
    resource: Mapping[str, Any], paths: tuple[str, ...], what: str
) -> ClinicalDate | None:
    """The first of `paths` present in `resource` ("effectiveDateTime", "effectivePeriod.start").

    An absent element moves on to the next path; a present but unreadable one is `Malformed`
    (a wrong date is never silently replaced by another element's date).
    """
    for path in paths:
        if "." in path:  # "effectivePeriod.start": an element of a complex element
            head, _, tail = path.partition(".")
            value = resource.get(head)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise Malformed(f"{what}{head} is not an object")
            value = value.get(tail)
        else:
            value = resource.get(path)
        if value is None:
            continue
        if type(value) is str:  # the usual case: the element's name is needed only on error
            parsed = _PARSED.get(value)
            if parsed is None:
                parsed = _parse_new(value)
            if type(parsed) is ClinicalDate:
                return parsed
        return parse_clinical_date(value, f"{what}{path}")
    return None
