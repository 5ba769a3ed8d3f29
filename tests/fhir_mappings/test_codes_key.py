"""`fhirjson.codes_key`: the memo key for answers worked out only from a concept's codings'
systems and codes (lab kinds, condition kinds, qualitative answers and interpretations)."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings.fhirjson import codes_key, codings
from fhir_mappings.read.conditions import _best_match, _condition_match
from fhir_mappings.read.imaging import _brain_mri, _find_brain_mri
from fhir_mappings.read.labs import _find_lab_matches, _lab_matches
from fhir_mappings.site import Mappings

LOINC = "http://loinc.org"
IGG = {"system": LOINC, "code": "2465-3", "display": "IgG [Mass/volume] in Serum or Plasma"}
HBSAG = {"system": LOINC, "code": "5196-1"}
MRI = {"system": LOINC, "code": "24590-2", "display": "MR Brain"}


def test_text_and_displays_do_not_change_the_key() -> None:
    plain = {"coding": [{"system": LOINC, "code": "2465-3"}]}
    worded = {"text": "IgG", "coding": [IGG]}
    assert codes_key(plain) == codes_key(worded) == (LOINC, "2465-3")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"coding": [IGG]}, {"coding": [{**IGG, "code": "2465-4"}]}),
        ({"coding": [IGG]}, {"coding": [{**IGG, "system": "http://snomed.info/sct"}]}),
        ({"coding": [IGG]}, {"coding": [{"code": "2465-3"}]}),
        ({"coding": [IGG]}, {"coding": [IGG, HBSAG]}),
        ({"coding": [IGG, HBSAG]}, {"coding": [HBSAG, IGG]}),
        ({"coding": [IGG]}, {"coding": [IGG, IGG]}),
        ({"coding": []}, {"coding": [{}]}),
    ],
)
def test_a_different_system_code_or_coding_list_is_a_different_key(
    one: dict[str, Any], other: dict[str, Any]
) -> None:
    assert codes_key(one) != codes_key(other)


def test_no_codings_read_alike() -> None:
    assert codes_key(None) == codes_key({}) == codes_key({"coding": []}) == codes_key({"text": "x"})


@pytest.mark.parametrize(
    "concept",
    [
        "2465-3",
        {"coding": {"system": LOINC, "code": "2465-3"}},
        {"coding": ["2465-3"]},
        {"coding": [{"system": LOINC, "code": 2465}]},
        {"coding": [{"system": 5, "code": "2465-3"}]},
        {"coding": [IGG, {"system": LOINC, "code": ["2465-3"]}]},
    ],
)
def test_what_the_checked_reading_rejects_has_no_key(concept: object) -> None:
    """No key: read the checked way each time, which reports what is wrong."""
    assert codes_key(concept) is None


@pytest.mark.parametrize(
    "concept",
    [
        {"text": "IgG", "coding": [IGG]},
        {"text": "something else", "coding": [{**IGG, "display": "another display"}]},
        {"coding": [IGG, HBSAG]},
        {"coding": [HBSAG, IGG]},
        {"coding": [{"system": LOINC, "code": "not-a-lab"}]},
        {"text": "MRI of the head", "coding": [MRI]},
        {"coding": [IGG, MRI]},
        {},
    ],
)
def test_remembered_lab_condition_and_mri_answers_agree_with_reading_afresh(
    concept: dict[str, Any],
) -> None:
    """Answers keyed by `codes_key` are the unremembered ones (text and displays differing
    from the concept first remembered under the same key)."""
    mappings = Mappings()
    firsts = (
        {"coding": [IGG]},
        {"coding": [IGG, HBSAG]},
        {"coding": [HBSAG, IGG]},
        {"coding": [MRI]},
    )
    for first in firsts:
        _lab_matches(first, mappings, "code")
        _condition_match(first, mappings)
        _brain_mri(first, mappings, "code")
    assert _lab_matches(concept, mappings, "code") == _find_lab_matches(concept, mappings, "code")
    assert _condition_match(concept, mappings) == _best_match(concept, mappings)
    mri = _brain_mri(concept, mappings, "code")
    assert mri is _find_brain_mri(concept, mappings, "code")
    assert (mri is not None) == (MRI in concept.get("coding", []))
    assert [c.get("code") for c in codings(concept, "code")] == [
        code for _, code in _pairs(codes_key(concept))
    ]


def _pairs(key: object) -> list[tuple[object, object]]:
    """The (system, code) pairs of a key, single or several."""
    assert isinstance(key, tuple)
    if len(key) == 2 and not isinstance(key[0], tuple):
        return [key]
    return list(key)
