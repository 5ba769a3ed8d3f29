"""Dates: calendar day in the value's own offset, partial dates as spans (SPEC §2 "Dates")."""

from __future__ import annotations

from datetime import date

import pytest

from domain.records import ClinicalDateKind
from fhir_mappings import dates
from fhir_mappings.dates import first_date, parse_clinical_date
from fhir_mappings.errors import Malformed
from fhir_mappings.memo import Memo


def day(text: str) -> date:
    parsed = parse_clinical_date(text, "x")
    assert parsed.earliest == parsed.latest
    return parsed.earliest


def test_late_evening_west_of_utc_stays_on_its_own_day() -> None:
    """2024-03-01T23:30-05:00 is 04:30 UTC on 2 March, but counts on 1 March."""
    assert day("2024-03-01T23:30:00-05:00") == date(2024, 3, 1)


def test_early_morning_east_of_utc_stays_on_its_own_day() -> None:
    """2024-03-01T00:30+09:00 is 28 February in UTC, but counts on 1 March."""
    assert day("2024-03-01T00:30:00+09:00") == date(2024, 3, 1)


def test_utc_instant_counts_on_its_utc_day() -> None:
    assert day("2024-03-01T23:59:59.999Z") == date(2024, 3, 1)
    assert day("2024-03-02T00:00:00Z") == date(2024, 3, 2)


def test_plain_date_and_date_time_without_offset() -> None:
    assert day("2024-03-01") == date(2024, 3, 1)
    assert day("2024-03-01T10:00:00") == date(2024, 3, 1)


def test_year_only_spans_the_year_and_says_partial() -> None:
    parsed = parse_clinical_date("2024", "x")
    assert (parsed.earliest, parsed.latest) == (date(2024, 1, 1), date(2024, 12, 31))
    assert parsed.precision is ClinicalDateKind.YEAR
    assert parsed.partial
    assert "partial date" in parsed.describe()


def test_month_only_spans_the_month_including_leap_february() -> None:
    parsed = parse_clinical_date("2024-02", "x")
    assert (parsed.earliest, parsed.latest) == (date(2024, 2, 1), date(2024, 2, 29))
    assert parsed.precision is ClinicalDateKind.MONTH
    assert parse_clinical_date("2023-02", "x").latest == date(2023, 2, 28)


@pytest.mark.parametrize(
    "text",
    ["yesterday", "2024-02-30", "2024-13", "24-03-01", "2024-03-01T25:00:00Z", "", "2024/03/01"],
)
def test_unreadable_dates_are_malformed(text: str) -> None:
    with pytest.raises(Malformed):
        parse_clinical_date(text, "effectiveDateTime")


def test_a_date_that_is_not_a_string_is_malformed() -> None:
    with pytest.raises(Malformed, match="effectiveDateTime is not a date"):
        parse_clinical_date(20240301, "effectiveDateTime")


def test_first_date_takes_the_first_present_element_in_order() -> None:
    resource = {"effectivePeriod": {"start": "2024-05-02"}, "issued": "2024-05-09T10:00:00Z"}
    paths = ("effectiveDateTime", "effectivePeriod.start", "issued")
    found = first_date(resource, paths, "")
    assert found is not None and found.earliest == date(2024, 5, 2)
    only_end = {"effectivePeriod": {"end": "2024-05-03"}, "issued": "2024-05-09T10:00:00Z"}
    found = first_date(only_end, paths, "")
    assert found is not None and found.earliest == date(2024, 5, 9)
    assert first_date({}, paths, "") is None


def test_first_date_never_replaces_a_broken_date_with_the_next_one() -> None:
    with pytest.raises(Malformed):
        first_date(
            {"effectiveDateTime": "yesterday", "issued": "2024-05-09"},
            ("effectiveDateTime", "issued"),
            "",
        )


@pytest.mark.parametrize(
    "text",
    ["2024-03-01T10:30:00+01:00", "2024", "2024-02", "2024-02-29", "2023-02-29", "yesterday"],
)
def test_a_remembered_date_reads_as_the_first_time_and_from_every_path(text: str) -> None:
    """`_PARSED` answers again what was parsed before: the same date, or the same error
    naming the element it was read from (never the element of the first reading)."""

    def read(resource: dict[str, object]) -> object:
        try:
            return first_date(resource, ("effectiveDateTime", "effectivePeriod.start"), "")
        except Malformed as err:
            return str(err)

    first = read({"effectiveDateTime": text})
    again = read({"effectiveDateTime": text})
    nested = read({"effectivePeriod": {"start": text}})
    assert first == again
    if isinstance(first, str):
        assert first.startswith("effectiveDateTime ")
        assert nested == first.replace("effectiveDateTime", "effectivePeriod.start", 1)
    else:
        assert nested == first
        assert first == parse_clinical_date(text, "x")


def test_the_date_memo_starts_again_when_full_and_still_reads_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dates, "_PARSED", Memo(limit=3))
    texts = [f"2024-05-0{day}" for day in range(1, 8)]
    for _ in range(2):
        found = [first_date({"issued": text}, ("issued",), "") for text in texts]
        assert [when.earliest if when else None for when in found] == [
            date(2024, 5, day) for day in range(1, 8)
        ]
        assert len(dates._PARSED) <= 3


def test_a_date_element_of_a_string_subclass_reads_like_the_string() -> None:
    class Text(str):
        pass

    assert first_date({"issued": Text("2024-05-02")}, ("issued",), "") == parse_clinical_date(
        "2024-05-02", "x"
    )
