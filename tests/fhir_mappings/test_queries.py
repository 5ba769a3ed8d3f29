"""The searches for one patient: one batch, every area, encoded correctly (SPEC §5)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from domain.records import AREAS
from fhir_mappings.canonical import CAREPLAN_IDENTIFIER_SYSTEM, TASK_IDENTIFIER_SYSTEM
from fhir_mappings.search.queries import patient_searches
from fhir_mappings.search.table import SearchSpec
from fhir_mappings.site import default_mappings, load_mappings


def by_type(specs: list[SearchSpec]) -> dict[str, list[SearchSpec]]:
    found: dict[str, list[SearchSpec]] = {}
    for spec in specs:
        found.setdefault(spec.url.split("?")[0].split("/")[0], []).append(spec)
    return found


def params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_every_area_is_searched() -> None:
    specs = patient_searches("p1", default_mappings())
    assert {spec.area for spec in specs} == set(AREAS)
    assert specs[0] == SearchSpec("patient", "Patient/p1")


def test_observation_search_lists_every_lab_code_as_system_bar_code() -> None:
    (spec,) = by_type(patient_searches("p1", default_mappings()))["Observation"]
    query = params(spec.url)
    assert query["patient"] == ["p1"] and query["_count"] == ["500"]
    tokens = query["code"][0].split(",")
    assert "http://loinc.org|5196-1" in tokens
    assert "http://loinc.org|82810-3" in tokens
    assert len(tokens) == len(set(tokens)) > 50
    assert "|" not in spec.url and "%7C" in spec.url


def test_medications_are_included() -> None:
    types = by_type(patient_searches("p1", default_mappings()))
    assert (
        "_include=MedicationAdministration:medication" in types["MedicationAdministration"][0].url
    )
    assert "_include=MedicationRequest:medication" in types["MedicationRequest"][0].url


def test_app_tasks_and_careplan_by_identifier_system_with_empty_code() -> None:
    types = by_type(patient_searches("p1", default_mappings()))
    (task,) = types["Task"]
    assert params(task.url)["identifier"] == [f"{TASK_IDENTIFIER_SYSTEM}|"]
    (careplan,) = types["CarePlan"]
    assert params(careplan.url)["identifier"] == [f"{CAREPLAN_IDENTIFIER_SYSTEM}|"]


def test_imaging_searches_filter_diagnostic_report_and_procedure_by_brain_mri_codes() -> None:
    types = by_type(patient_searches("p1", default_mappings()))
    areas = {(spec.area, "24587-8" in unquote(spec.url)) for spec in types["DiagnosticReport"]}
    assert areas == {("imaging", True), ("labs", False)}
    assert "70553" in types["Procedure"][0].url
    assert types["ImagingStudy"][0].area == "imaging"


def test_patient_id_is_percent_encoded() -> None:
    specs = patient_searches("a b&c", default_mappings())
    assert specs[0].url == "Patient/a%20b%26c"
    assert all("patient=a%20b%26c&" in spec.url for spec in specs[1:])


def test_site_codes_are_searched_too(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(
        json.dumps({"codes": {"igg": [{"system": "http://lab.example.org", "code": "IGG 1"}]}})
    )
    (spec,) = by_type(patient_searches("p1", load_mappings(str(path))))["Observation"]
    assert "http://lab.example.org|IGG 1" in params(spec.url)["code"][0].split(",")
