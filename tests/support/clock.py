"""A clock the test sets by hand, for code that takes `clock: Callable[[], float]`."""

from __future__ import annotations

from datetime import datetime


class Clock:
    """Seconds since the epoch (as `time.time`), standing still until moved."""

    def __init__(self, start: datetime | float) -> None:
        self.now = start.timestamp() if isinstance(start, datetime) else float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def at(self, moment: datetime) -> None:
        self.now = moment.timestamp()
