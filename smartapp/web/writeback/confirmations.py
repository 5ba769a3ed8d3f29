"""Double clicks on "Confirm": the same posted confirm form (launch, patient, fingerprint
and the form's own random id) waits for the first post and shows its "Plan saved" outcome
instead of writing again — in this process, for CONFIRM_MEMORY_S. Across processes the
write itself stays idempotent (deterministic ids and a per-patient lock in
`smartapp.writeback`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

#: How long a confirmed plan is remembered, so that a double click (the same form posted
#: again) shows the first click's outcome instead of writing again.
CONFIRM_MEMORY_S = 120.0

Key = tuple[str, str, str]


@dataclass
class Confirmation:
    """One posted confirm form in this process: its lock, so a second click waits for the
    first, and the first's "Plan saved" message once written. A new preview is a new form:
    it writes again."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.monotonic)
    message: str | None = None


_confirmations: dict[Key, Confirmation] = {}
_confirmations_guard = threading.Lock()


def confirmation(key: Key) -> Confirmation:
    """The confirmation of this form (new, or the one a first click made); entries older
    than CONFIRM_MEMORY_S that nobody holds are forgotten."""
    now = time.monotonic()
    with _confirmations_guard:
        for old in [k for k, c in _confirmations.items() if now - c.started > CONFIRM_MEMORY_S]:
            if not _confirmations[old].lock.locked():
                del _confirmations[old]
        entry = _confirmations.get(key)
        if entry is None:
            entry = _confirmations[key] = Confirmation()
        return entry
