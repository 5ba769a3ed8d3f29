"""Site overrides: codes and settings without code changes, shown as "mappings in force"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fhir_mappings.site import (
    SiteMappingsError,
    default_mappings,
    load_mappings,
    load_site_mappings,
)
from smartapp.config import ConfigError, load_config

from .fhirdata import observation, read

LOCAL = "http://lab.example.org/codes"


def write(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "mappings.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


def test_site_file_is_read_into_a_frozen_object(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "codes": {"hbsag": [{"system": LOCAL, "code": "HBSAG-1", "display": "HBsAg (local)"}]},
            "rxnorm": {"ofatumumab": ["111", "111", "222"]},
            "settings": {"ig_interval_days": 180},
        },
    )
    site = load_site_mappings(path)
    assert site.settings == {"ig_interval_days": 180}
    assert site.rxnorm_ofatumumab == ("111", "222")
    assert site.codes["hbsag"][0].code == "HBSAG-1"
    with pytest.raises(TypeError):
        site.settings["x"] = 1  # type: ignore[index]
    described = site.describe()
    assert described["file"] == path
    assert described["rxnorm"] == {"ofatumumab": ["111", "222"]}


def test_a_site_code_is_matched_and_says_so(tmp_path: Path) -> None:
    mappings = load_mappings(
        write(tmp_path, {"codes": {"hbsag": [{"system": LOCAL, "code": "HBSAG-1"}]}})
    )
    resource = observation("HBSAG-1", system=LOCAL, valueString="Negative")
    assert read(resource).labs == ()
    (lab,) = read(resource, mappings=mappings).labs
    assert lab.source.matched_by == f"{LOCAL} HBSAG-1 (site)"
    assert read(observation(valueString="Negative"), mappings=mappings).labs  # defaults stay


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"colours": {}}, "unknown key 'colours' (allowed: codes, rxnorm, settings)"),
        ({"codes": {"hbsagg": []}}, "unknown value set 'hbsagg' under 'codes'"),
        ({"codes": {"hbsag": {}}}, "'codes.hbsag' must be a list of codes"),
        ({"codes": {"hbsag": [{"code": "x"}]}}, "'codes.hbsag' entry 1 needs a 'system'"),
        (
            {"codes": {"hbsag": [{"system": LOCAL, "code": 5}]}},
            "'codes.hbsag' entry 1 needs a 'code'",
        ),
        ({"codes": {"hbsag": [{"system": LOCAL, "code": "x", "kind": 1}]}}, "unknown key 'kind'"),
        ({"rxnorm": {"rituximab": []}}, "unknown key 'rituximab' under 'rxnorm'"),
        ({"rxnorm": {"ofatumumab": [1]}}, "'rxnorm.ofatumumab' must be a list of RxCUI strings"),
        ({"settings": [1]}, "'settings' must be an object"),
        ([1], "the file must hold one JSON object"),
        ("{not json", "not JSON"),
    ],
)
def test_mistakes_in_the_site_file_name_the_key(tmp_path: Path, content: Any, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(SiteMappingsError) as raised:
        load_site_mappings(path)
    assert message in str(raised.value)
    assert path in str(raised.value)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SiteMappingsError, match="cannot read"):
        load_site_mappings(str(tmp_path / "nope.json"))


def test_no_site_file_means_the_shipped_mappings() -> None:
    assert load_mappings(None) is default_mappings()
    assert load_mappings("") is default_mappings()
    assert default_mappings().settings == {}


def test_describe_lists_value_sets_counts_and_site_additions(tmp_path: Path) -> None:
    mappings = load_mappings(
        write(
            tmp_path,
            {"codes": {"igg": [{"system": LOCAL, "code": "IGG"}]}, "rxnorm": {"ofatumumab": ["9"]}},
        )
    )
    described = mappings.describe()
    by_id = {vs["id"]: vs for vs in described["valuesets"]}
    assert by_id["igg"]["codes"] == 2
    assert by_id["igg"]["site_additions"] == [{"system": LOCAL, "code": "IGG", "display": ""}]
    assert by_id["ofatumumab-kesimpta"]["site_additions"][0]["code"] == "9"
    assert by_id["condition-infection"]["prefixes"][:2] == ["A", "B"]
    assert described["rxnorm_ofatumumab"] == ["9"]
    assert described["site_file"].endswith("mappings.json")
    assert default_mappings().describe()["site_file"] is None


def test_config_applies_site_settings_and_reports_bad_ones(tmp_path: Path) -> None:
    good = write(tmp_path, {"settings": {"ig_interval_days": 180}})
    config = load_config({"SMARTAPP_MAPPINGS": good})
    assert config.rules.ig_interval_days == 180
    assert config.mappings.describe()["site_file"] == good  # parsed once, kept typed
    assert dict(config.mappings.settings) == {"ig_interval_days": 180}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"settings": {"no_such_setting": 1}}))
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_config({"SMARTAPP_MAPPINGS": str(bad)})
    with pytest.raises(ConfigError, match="unknown key 'codez'"):
        load_config({"SMARTAPP_MAPPINGS": write(tmp_path, {"codez": {}})})
