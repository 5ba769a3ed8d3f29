"""The data files: every code sourced, loaded once, consistent with the app's other tables."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from fhir.resources.R4B.codesystem import CodeSystem

from fhir_mappings.canonical import ACTION_SYSTEM, CANONICAL, TASK_IDENTIFIER_SYSTEM
from fhir_mappings.site import default_mappings
from fhir_mappings.terminology import (
    TerminologyError,
    action_codesystem,
    action_displays,
    default_valuesets,
    parse_valueset,
)
from smartapp.rules.actions import ACTIONS


def test_every_value_set_file_loads_with_its_file_name_as_id() -> None:
    files = [
        f.name
        for f in resources.files("fhir_mappings.valuesets").iterdir()
        if f.name.endswith(".json")
    ]
    assert sorted(name.removesuffix(".json") for name in files) == sorted(default_valuesets())
    assert len(files) >= 30


def test_every_code_names_its_source() -> None:
    for valueset in default_valuesets().values():
        for code in valueset.codes + valueset.prefixes + valueset.exclude_prefixes:
            assert code.source.strip(), f"{valueset.id} {code.code} has no source"
            assert code.display.strip(), f"{valueset.id} {code.code} has no display"


def test_value_sets_are_loaded_once() -> None:
    assert default_valuesets() is default_valuesets()
    assert default_mappings() is default_mappings()


def test_no_rxnorm_code_is_shipped() -> None:
    """docs/terminology-sources.md §2: no RxCUI is verified, so none may be shipped."""
    for valueset in default_valuesets().values():
        assert all("rxnorm" not in code.system for code in valueset.codes), valueset.id


def test_not_matched_codes_are_documented_but_never_matched() -> None:
    mappings = default_mappings()
    for valueset in default_valuesets().values():
        for entry in valueset.not_matched:
            assert entry["reason"].strip()
            if entry.get("code"):
                hits = mappings.lookup(entry["system"], entry["code"])
                assert valueset.id not in {hit.valueset for hit in hits}


def test_a_cvx_code_is_in_at_most_one_vaccine_group() -> None:
    groups = ["cvx-live", "cvx-non-live", "cvx-ambiguous", "cvx-not-a-vaccine"]
    seen: dict[str, str] = {}
    for group in groups:
        for code in default_valuesets()[group].codes:
            key = code.code.lstrip("0")
            assert key not in seen, f"CVX {code.code} in {seen.get(key)} and {group}"
            seen[key] = group


@pytest.mark.parametrize(
    ("valueset", "code"),
    [
        ("pregnancy-status", "82810-3"),
        ("pregnancy-status", "11449-6"),
        ("pregnancy-answer-pregnant", "77386006"),
        ("pregnancy-answer-not-pregnant", "60001007"),
        ("brain-mri", "24590-2"),
        ("brain-mri", "70553"),
    ],
)
def test_codes_verified_beyond_terminology_md_are_present(valueset: str, code: str) -> None:
    assert code in {c.code for c in default_valuesets()[valueset].codes}


def test_a_malformed_value_set_document_is_refused() -> None:
    with pytest.raises(TerminologyError):
        parse_valueset({"id": "x", "codes": [{"system": "http://loinc.org"}]}, "x.json")
    with pytest.raises(TerminologyError):
        parse_valueset(
            {"id": "x", "codes": [], "prefixes": [{"system": "http://loinc.org", "prefix": "1"}]},
            "x.json",
        )


def test_action_codesystem_is_valid_fhir_and_matches_the_rules_actions() -> None:
    document = dict(action_codesystem())
    CodeSystem.model_validate(document)
    assert document["url"] == ACTION_SYSTEM
    assert ACTION_SYSTEM.startswith(CANONICAL)
    assert dict(action_displays()) == {action.code: action.display for action in ACTIONS}
    assert document["count"] == len(document["concept"]) == 16


def test_identifier_systems_hang_off_the_canonical_base() -> None:
    assert TASK_IDENTIFIER_SYSTEM == f"{CANONICAL}/task"
    on_disk = json.loads(
        resources.files("fhir_mappings.codesystems").joinpath("actions.json").read_text("utf-8")
    )
    assert on_disk["url"].startswith(CANONICAL + "/")
