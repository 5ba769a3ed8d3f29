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

import json
from typing import Any

import orjson

JSONDecodeError = json.JSONDecodeError


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """The decoded JSON; ValueError (json.JSONDecodeError) when it is not JSON."""
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
