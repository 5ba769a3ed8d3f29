"""The one definition of a FHIR resource id, used wherever an id comes from outside."""

from __future__ import annotations

import pytest

from fhir_mappings.ids import is_fhir_id


@pytest.mark.parametrize("value", ["a", "Patient-1.2", "A" * 64, "0"])
def test_valid_ids(value: str) -> None:
    assert is_fhir_id(value)


@pytest.mark.parametrize(
    "value",
    ["", "A" * 65, "a/b", "a b", "a_b", "a\n", "\na", "a?x=1", "%41", None, 5, ["a"]],
)
def test_anything_else_is_not_an_id(value: object) -> None:
    assert not is_fhir_id(value)
