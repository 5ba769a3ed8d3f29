"""When to retry a FHIR request, and how long to wait first.

Only idempotent reads are retried (GET, and the POST of a batch Bundle made only of
GETs). Writes never are: a transaction that timed out may have been applied, and our
write-back is built on conditional create/update so a user's second click is safe.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass

#: Worth another try: rate limiting, and gateway/server hiccups. 500 is included because
#: HAPI servers under memory pressure answer 500 transiently; the retries are bounded.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The `Retry-After` header as seconds from now (delta-seconds or HTTP-date), or None.

    An HTTP-date is measured against the response's own `Date` header when present, so
    clock skew between us and the server does not change the wait.
    """
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    reference = now if now is not None else time.time()
    server_date = headers.get("Date")
    if server_date:
        try:
            date = email.utils.parsedate_to_datetime(server_date)
            if date.tzinfo is not None:
                reference = date.timestamp()
        except (TypeError, ValueError, IndexError):
            pass
    return max(0.0, when.timestamp() - reference)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff: `backoff_s * 2**attempt`, at most `max_backoff_s`."""

    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    #: A server asking us to wait longer than this is treated as unavailable rather than
    #: hammered early: a page view cannot wait minutes.
    max_retry_after_s: float = 30.0
    statuses: frozenset[int] = RETRY_STATUSES

    def backoff(self, attempt: int) -> float:
        """Wait before retry number `attempt + 1` (attempt counts from 0)."""
        return float(min(self.max_backoff_s, self.backoff_s * (2**attempt)))

    def delay_for_status(
        self, attempt: int, status: int, headers: Mapping[str, str]
    ) -> float | None:
        """Seconds to wait before retrying a response, or None when it must not be retried."""
        if attempt >= self.max_retries or status not in self.statuses:
            return None
        asked = retry_after_seconds(headers)
        if asked is None:
            return self.backoff(attempt)
        if asked > self.max_retry_after_s:
            return None
        return asked

    def delay_for_error(self, attempt: int) -> float | None:
        """Seconds to wait after a connection error or timeout, or None when out of retries."""
        if attempt >= self.max_retries:
            return None
        return self.backoff(attempt)
