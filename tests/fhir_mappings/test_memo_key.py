"""`memo.json_key`: one key per JSON value, type for type, and none for what is not JSON."""

from __future__ import annotations

from collections import OrderedDict
from enum import IntEnum

import pytest

from fhir_mappings.memo import json_key


class _Code(str):
    pass


class _Number(IntEnum):
    ONE = 1


#: Values that compare equal in Python (1 == 1.0 == True, 0.0 == -0.0) but are different JSON.
LOOK_ALIKES = [1, 1.0, True, "1", [1], {"value": 1}, {"value": 1.0}, {"value": True}]


def test_values_python_calls_equal_have_different_keys() -> None:
    keys = [json_key(value) for value in LOOK_ALIKES]
    assert len(set(keys)) == len(LOOK_ALIKES)
    assert json_key(0.0) != json_key(-0.0)
    assert json_key(None) != json_key(False) != json_key(0)


def test_equal_json_has_equal_keys() -> None:
    first = {"coding": [{"system": "s", "code": "c"}], "text": "t", "value": 0.4}
    second = {"coding": [{"system": "s", "code": "c"}], "text": "t", "value": 0.4}
    assert json_key(first, None) == json_key(second, None)
    assert json_key(first, None) != json_key(first)  # the number of parts counts


@pytest.mark.parametrize(
    "value",
    [_Code("c"), _Number.ONE, OrderedDict(a=1), {"coding": [{"code": _Code("c")}]}, object()],
)
def test_anything_but_plain_json_has_no_key(value: object) -> None:
    assert json_key(value) is None
    assert json_key({"value": value}) is None
