"""Bounds on what one view or command reads from a FHIR server (SMARTAPP_FHIR_DEADLINE,
SMARTAPP_FHIR_MAX_BYTES), so a slow or hostile server cannot hold a worker or fill memory.

- Deadline: one clock for everything a view (the dashboard, the API, a write-back's read,
  a CLI `check`) reads — every request, retry, backoff wait and page. Each request's socket
  timeout is cut to the time left, and bodies are read a chunk at a time with the clock
  checked between chunks, so a server that answers one byte every few seconds stops
  being read at the deadline (a per-read timeout alone never fires for it).
- Size: a body larger than `max_bytes` (decoded: a gzip bomb counts at its real size) is
  not read past the cap; a `Content-Length` above it is refused before reading.
- Nesting: JSON nested deeper than MAX_JSON_DEPTH levels is not parsed. The check counts
  brackets on the raw bytes (a C-speed scan, about 6% of the parse time); brackets inside
  strings can only make it stricter, never let a deeper document through, except where
  they are unbalanced — and then Python's own recursion limit still stops the parser,
  which is caught too.

Going past a bound raises a `FhirError` for that request, never a traceback: the search it
belongs to is incomplete, the view shows its "data incomplete" banner and the checks that
needed the data say `unknown`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartapp.fhir import jsonio
from smartapp.fhir.errors import FhirError, ServerUnavailable

DEFAULT_DEADLINE_S = 30.0
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: FHIR resources are rarely 20 levels deep; a Bundle adds three.
MAX_JSON_DEPTH = 100

_BRACKETS = bytes.maketrans(b"[]{}", b"()()")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


class DeadlineExceeded(ServerUnavailable):
    """The view's time for FHIR reads (SMARTAPP_FHIR_DEADLINE) ran out."""


class ResponseTooLarge(FhirError):
    """A body larger than SMARTAPP_FHIR_MAX_BYTES was not read."""


class UnreadableJson(FhirError):
    """A body that is not JSON the app reads (too deeply nested)."""


class Deadline:
    """A point in time after which no more FHIR reads start or continue (None: never)."""

    def __init__(
        self, seconds: float | None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._ends = math.inf if seconds is None else clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._ends - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self._ends

    def exceeded(self, what: str) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"{what} stopped: the FHIR server did not answer within the {self.seconds:g} s "
            "this page may spend reading (SMARTAPP_FHIR_DEADLINE)"
        )


@dataclass(frozen=True)
class ReadLimits:
    """The bounds one view's FHIR clients share (one Deadline for all of them)."""

    deadline: Deadline = field(default_factory=lambda: Deadline(None))
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = MAX_JSON_DEPTH

    @classmethod
    def start(cls, deadline_s: float | None, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadLimits:
        """Limits whose clock starts now."""
        return cls(Deadline(deadline_s), max_bytes)

    def too_large(self, what: str, size: int | None = None) -> FhirError:
        told = f" ({size / 1_048_576:.0f} MB)" if size else ""
        return ResponseTooLarge(
            f"{what} not read: the server's answer{told} is larger than the "
            f"{self.max_bytes / 1_048_576:g} MB the app reads (SMARTAPP_FHIR_MAX_BYTES)"
        )


def nesting_exceeds(data: bytes, limit: int) -> bool:
    """Whether the brackets of `data` nest deeper than `limit` (see module doc)."""
    sequence = data.translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        shorter = sequence.replace(b"()", b"")
        if not shorter or len(shorter) == len(sequence):
            return False  # fully nested within the limit, or unbalanced (the parser judges)
        sequence = shorter
    return True


def parse_json(data: bytes | str, what: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON from `data`, or None when it is not JSON; UnreadableJson when nested too deep."""
    if not data:
        return None
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if nesting_exceeds(raw, max_depth):
        raise UnreadableJson(
            f"{what} not read: the answer is nested more than {max_depth} levels deep"
        )
    try:
        return jsonio.loads(raw)
    except RecursionError as err:
        raise UnreadableJson(f"{what} not read: the answer is nested too deeply") from err
    except ValueError:
        return None
