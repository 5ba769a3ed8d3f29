"""Memoising what the readers work out from FHIR JSON, safely (SPEC §5 throughput).

Thousands of resources a second repeat the same few concepts (the Kesimpta code, the
subcutaneous route, "Negative"), so the answers worked out from them are remembered. Two
rules keep a remembered answer right:

- The key holds everything the answer depends on, built by `json_key` or
  `fhirjson.concept_key` only from plain JSON with exact types (dict, list, str, int, float,
  bool, None). Anything else (a dict subclass, a tuple, a number where a string belongs) has
  no key and is read the checked way every time, so its `Malformed` message is unchanged.
- Answers that depend on value sets live on the `Mappings` instance (`Mappings.memo`): a
  site's additions never see another instance's answers.

Only answers are remembered, never errors: a broken element is re-read and reported the
same way each time.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

#: Entries a memo holds before it starts again: real data repeats a few hundred concepts,
#: this only stops unbounded growth on adversarial input.
MEMO_MAX = 8192


class Memo(dict[Hashable, Any]):
    """A bounded dict: `keep` stores an answer, emptying the memo first when it is full."""

    def keep(self, key: Hashable, value: Any) -> Any:
        if len(self) >= MEMO_MAX:
            self.clear()
        self[key] = value
        return value


class NotJson(Exception):
    """Raised inside `json_key` for a value that is not plain JSON (never escapes it)."""


def json_key(value: object) -> Hashable:
    """A hashable stand-in for plain JSON, equal only for the same content and types.

    1, 1.0 and True differ, and so do 0.0 and -0.0 (floats are keyed by their exact hex
    form). Raises `NotJson` when the value holds anything but dict (with str keys), list,
    str, int, float, bool and None: such a value is never memoised.
    """
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is dict:
        items = []
        for name, item in value.items():  # type: ignore[attr-defined]
            if type(name) is not str:
                raise NotJson
            items.append((name, json_key(item)))
        return (dict, tuple(items))
    if kind is list:
        return (list, tuple([json_key(item) for item in value]))  # type: ignore[attr-defined]
    if kind is int or kind is bool:
        return (kind, value)
    if kind is float:
        return (float, value.hex())  # type: ignore[attr-defined]
    raise NotJson
