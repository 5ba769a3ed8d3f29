"""A record of every HTTP request a FhirClient made.

Shown in the dashboard's "data" panel and counted by benchmarks (one entry = one round
trip, retries included). URLs are kept relative to the base; they contain patient ids,
so they are logged at DEBUG only. INFO lines carry counts and statuses, never URLs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

log = logging.getLogger("smartapp.fhir")


@dataclass(frozen=True)
class QueryLogEntry:
    method: str
    #: Relative to the FHIR base: `Patient/1`, `Observation?patient=1`, `` for a batch POST.
    url: str
    #: HTTP status, or None when no response came back (timeout, connection error).
    status: int | None
    elapsed_ms: float
    #: Bundle entries (or NDJSON resources) in the response, when it had any.
    entries: int | None = None
    #: "timeout" / "connection error" when status is None.
    error: str | None = None
    #: 1 for the first try, 2+ for retries of the same request.
    attempt: int = 1

    def describe(self) -> str:
        """`GET Observation?… → 200, 12 entries, 85 ms` for the data panel (contains URLs)."""
        outcome = str(self.status) if self.status is not None else (self.error or "no answer")
        entries = f", {self.entries} entries" if self.entries is not None else ""
        retry = f" (retry {self.attempt - 1})" if self.attempt > 1 else ""
        return (
            f"{self.method} {self.url or '/'} → {outcome}{entries}, {self.elapsed_ms:.0f} ms{retry}"
        )


class QueryLog:
    """Append-only list of QueryLogEntry, mirrored to the `smartapp.fhir` logger."""

    def __init__(self) -> None:
        self._entries: list[QueryLogEntry] = []

    @property
    def entries(self) -> list[QueryLogEntry]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def record(self, entry: QueryLogEntry) -> int:
        """Store `entry`; returns its index (for `set_entries` after a streamed body)."""
        self._entries.append(entry)
        log.debug("FHIR %s", entry.describe())
        return len(self._entries) - 1

    def set_entries(self, index: int, entries: int) -> None:
        """Fill in the resource count once a streamed response has been read."""
        self._entries[index] = dataclasses.replace(self._entries[index], entries=entries)
