"""Running work in threads at once, and counting how many were inside a section together,
for the concurrency tests (session locks, token refresh, serialised writes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from functools import partial


def run_together(jobs: Iterable[Callable[[], object]], *, timeout_s: float | None = None) -> None:
    """Start every job in a thread of its own, then wait for all of them (each at most
    `timeout_s` seconds when given)."""
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_s)


class Overlap:
    """A context manager threads enter around a section; `most` is the most threads that
    were ever inside it at the same time (1: the section never ran twice at once)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._inside = 0
        self.most = 0

    def __enter__(self) -> None:
        with self._guard:
            self._inside += 1
            self.most = max(self.most, self._inside)

    def __exit__(self, *exc_info: object) -> None:
        with self._guard:
            self._inside -= 1


def most_inside_at_once(
    locks: Sequence[Callable[[], AbstractContextManager[object]]],
    *,
    rounds: int = 1,
    hold_s: float,
) -> int:
    """One thread per lock: each takes its lock `rounds` times and holds it `hold_s` seconds.
    Returns the most threads that were ever inside at the same time (1: the locks exclude)."""
    overlap = Overlap()

    def work(lock: Callable[[], AbstractContextManager[object]]) -> None:
        for _ in range(rounds):
            with lock(), overlap:
                time.sleep(hold_s)

    run_together([partial(work, lock) for lock in locks])
    return overlap.most
