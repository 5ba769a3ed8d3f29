"""Polling a Bulk Data export at a sensible pace.

HAPI FHIR answers every `$export-poll-status` with `Retry-After: 120`, however short the
job (a few hundred patients export in seconds), and `FhirClient` rightly honours it. For
an interactive or benchmarked export that turns seconds into two minutes, so a client
made for `$export` may be given `ExportPacer` as its `sleep`: a long wait (`long_wait_s`
or more) becomes a quarter of the time already spent waiting, at least `poll_s` and at
most the server's own hint. A small export is read seconds after it is ready, and no
export is read later than a quarter of its time after it is ready; a long one (an EHR's
export over a whole clinic can take an hour) is soon polled as often as the server asks
and no more, since the Bulk Data IG asks clients to honour `Retry-After` and servers
answer 429 to clients that do not. The pacer (not the client's wait budget, which counts
the server's hints) enforces a real-time deadline (SMARTAPP_EXPORT_MAX_WAIT). Short waits
(retry backoff) are left alone. Pass `max_wait_s=math.inf` to `bulk_export` together
with it.
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
        growth: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.poll_s = poll_s
        self.long_wait_s = long_wait_s
        self.deadline_s = deadline_s
        self.growth = growth
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
        waited = now - self._started
        wait = min(seconds, max(self.poll_s, waited * self.growth))
        self.shortened += 1
        self._sleep(wait)


def poll_sleep(export: bool, max_wait_s: float) -> Callable[[float], None]:
    """The `sleep` for a worklist's FHIR client: paced polls for `$export`, else plain."""
    return ExportPacer(poll_s=2.0, deadline_s=max_wait_s) if export else time.sleep
