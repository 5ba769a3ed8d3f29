"""JSON from FHIR servers, decoded fast: orjson, with the standard library as the fallback.

Decoding the server's pages was the largest single cost of reading a population (about a
third of the worklist's CPU time); orjson decodes the same pages 1.2-1.5 times faster
here (`benchmarks/rules_throughput.py`); most of what remains is allocating the objects.
What orjson refuses — a UTF-8 byte-order mark, `NaN`/`Infinity`, lone surrogate escapes,
numbers out of double range — is decoded by `json` exactly as before, so every input the
app accepted still gives the same result. One difference remains, by design: an integer
beyond 64 bits becomes a float (FHIR integers are 32-bit; such a number is already wrong).
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

JSONDecodeError = json.JSONDecodeError

#: Documents smaller than this are decoded with the collector running (pausing it costs more).
_PAUSE_FROM_BYTES = 16_384
_pause_lock = threading.Lock()
_pauses = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a large document is decoded.

    A decoded page is a tree of thousands of new containers, none of them garbage, yet
    each 700 allocations start a collection that walks them again (and the older heap now
    and then): that was about half of the decoding time. Pausing makes it one pass after.
    Counted under a lock, so overlapping decodes in several threads switch it back on once,
    and only if it was on.
    """
    global _pauses, _was_enabled
    with _pause_lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """The decoded JSON; ValueError (json.JSONDecodeError) when it is not JSON."""
    if len(data) < _PAUSE_FROM_BYTES:
        return _loads(data)
    with collector_paused():
        return _loads(data)


def _loads(data: bytes | bytearray | memoryview | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data if not isinstance(data, memoryview) else bytes(data))


def dumps_text(value: Any) -> str:
    """Compact JSON text (non-ASCII kept as is); TypeError for what JSON cannot hold."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:
        # What orjson will not write (NaN, lone surrogates, integers beyond 64 bits, keys
        # that are not strings): exactly what json.dumps writes, or its TypeError.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
