"""Memoising what the readers work out from FHIR JSON, safely (SPEC §5 throughput).

Thousands of resources a second repeat the same few concepts (the Kesimpta code, the
subcutaneous route, "Negative"), so the answers worked out from them are remembered. Two
rules keep a remembered answer right:

- The key holds everything the answer depends on, built (by `fhirjson.concept_key`,
  `quantity.quantity_key` and the like) only from plain JSON with exact types: dict, list,
  str, and int or float (keyed by its exact hex form, so 0.0 and -0.0 differ). Anything else
  (a dict subclass, a tuple, a number where a string belongs) has no key and is read the
  checked way every time, so its `Malformed` message is unchanged.
- A whole element may instead be keyed by `json_key`, its `marshal` bytes: the same
  exactness (marshal writes each JSON type its own way and refuses subclasses) at a third
  less cost than a hand-built key, because the walk runs in C.
- Answers that depend on value sets live on the `Mappings` instance (`Mappings.memo`): a
  site's additions never see another instance's answers.

Only answers are remembered, never errors: a broken element is re-read and reported the
same way each time.
"""

from __future__ import annotations

import marshal
from collections.abc import Hashable
from typing import Any

#: What `Memo.get(key, MISSING)` gives for a key not remembered (answers may be None).
#: Typed Any so `found is MISSING` type-checks against any answer type.
MISSING: Any = object()

#: Entries a memo holds before it starts again: real data repeats a few hundred concepts,
#: this only stops unbounded growth on adversarial input.
MEMO_MAX = 8192


class Memo(dict[Hashable, Any]):
    """A bounded dict: `keep` stores an answer, emptying the memo first when it holds `limit`."""

    def __init__(self, limit: int = MEMO_MAX) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: Hashable, value: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


def json_key(*parts: Any) -> bytes | None:
    """Decoded JSON `parts` as one key that tells them apart type for type; None (read the
    checked way) when they hold anything marshal refuses.

    marshal writes null, true, false, int, float (its 8 bytes: 0.0 and -0.0 differ), str,
    list, dict and tuple each with its own type code, so equal keys mean equal JSON with
    equal types ("1" / 1 / 1.0 / true all differ), and it refuses a subclass of any of them
    (a dict subclass, an IntEnum, a str subclass). The one thing it does not tell apart is a
    bytes-like value's type (bytes, bytearray, memoryview are written alike); no JSON decoder
    makes one and every reader rejects one alike. Equal JSON may still give different keys
    (dict order, objects shared in memory: version 4 writes those as back-references): a
    memo then misses, which costs time, never a wrong answer.
    """
    try:
        return marshal.dumps(parts, 4)
    except ValueError:
        return None
