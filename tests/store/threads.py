"""Running work in threads at once, for the stores' concurrency tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from functools import partial


def run_together(jobs: Iterable[Callable[[], object]]) -> None:
    """Start every job in a thread of its own, then wait for all of them."""
    threads = [threading.Thread(target=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def most_inside_at_once(
    locks: Sequence[Callable[[], AbstractContextManager[object]]],
    *,
    rounds: int = 1,
    hold_s: float,
) -> int:
    """One thread per lock: each takes its lock `rounds` times and holds it `hold_s` seconds.
    Returns the most threads that were ever inside at the same time (1: the locks exclude)."""
    inside = most = 0
    guard = threading.Lock()

    def work(lock: Callable[[], AbstractContextManager[object]]) -> None:
        nonlocal inside, most
        for _ in range(rounds):
            with lock():
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(hold_s)
                with guard:
                    inside -= 1

    run_together([partial(work, lock) for lock in locks])
    return most
