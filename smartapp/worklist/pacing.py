"""Polling a Bulk Data export at a sensible pace.

HAPI FHIR answers every `$export-poll-status` with `Retry-After: 120`, however short the
job (a few hundred patients export in seconds), and `FhirClient` rightly honours it. For
an interactive or benchmarked export that turns seconds into two minutes, so a client
made for `$export` may be given `ExportPacer` as its `sleep`: waits of `long_wait_s` or
more are shortened to `poll_s`, and the pacer (not the client's wait budget, which counts
the server's hints) enforces a real-time deadline. Short waits (retry backoff) are left
alone. Pass `max_wait_s=math.inf` to `bulk_export` together with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from smartapp.fhir import FhirError


class ExportPacer:
    def __init__(
        self,
        *,
        poll_s: float = 2.0,
        long_wait_s: float = 30.0,
        deadline_s: float = 1800.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.poll_s = poll_s
        self.long_wait_s = long_wait_s
        self.deadline_s = deadline_s
        self._sleep = sleep
        self._clock = clock
        self._started: float | None = None
        self.shortened = 0

    def __call__(self, seconds: float) -> None:
        if seconds < self.long_wait_s:
            self._sleep(seconds)
            return
        now = self._clock()
        if self._started is None:
            self._started = now
        if now - self._started > self.deadline_s:
            raise FhirError(f"Bulk export not finished after {self.deadline_s:.0f} s")
        self.shortened += 1
        self._sleep(self.poll_s)
