"""`day_text` is `date.isoformat`, remembered only where that is safe."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import domain.records
from domain.records import day_text


def test_a_day_reads_as_isoformat_first_and_remembered() -> None:
    for day in (date(2024, 5, 2), date(1, 1, 1), date(9999, 12, 31), date(2024, 5, 2)):
        assert day_text(day) == day.isoformat()


def test_equal_datetimes_written_differently_keep_their_own_text() -> None:
    utc = datetime(2024, 5, 2, 0, 0, tzinfo=UTC)
    plus_one = datetime(2024, 5, 2, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert utc == plus_one
    assert day_text(utc) == "2024-05-02T00:00:00+00:00"
    assert day_text(plus_one) == "2024-05-02T01:00:00+01:00"
    assert day_text(date(2024, 5, 2)) == "2024-05-02"


def test_the_memory_is_bounded() -> None:
    start = date(2000, 1, 1)
    for offset in range(domain.records._DAY_TEXTS_MAX + 10):
        day = start + timedelta(days=offset % 2_900_000)
        assert day_text(day) == day.isoformat()
    assert len(domain.records._DAY_TEXTS) <= domain.records._DAY_TEXTS_MAX
