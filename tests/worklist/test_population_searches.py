"""The searches that find and read the worklist population (fhir_mappings.search.population)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

import pytest

from domain.records import AREAS
from fhir_mappings.search import population as fp
from fhir_mappings.site import Mappings, SiteCode, SiteMappings
from tests.worklist.cohort import ATC, NDC, app_task, group, patient


def _params(url: str) -> dict[str, list[str]]:
    return parse_qs(url.split("?", 1)[1])


def test_kesimpta_tokens_cover_the_usual_ndc_spellings(mappings: Mappings) -> None:
    tokens = {unquote(t) for t in fp.kesimpta_tokens(mappings)}
    for code in ("0078-1007-68", "00078-1007-68", "00078100768", "0078100768"):
        assert f"{NDC}|{code}" in tokens
    assert f"{NDC}|0078-1007" in tokens and f"{NDC}|000781007" in tokens
    assert f"{ATC}|L04AG12" in tokens
    # Arzerra (IV ofatumumab for oncology) is never searched for.
    assert not any("0078-0669" in t or "L01FA02" in t for t in tokens)


def test_site_rxnorm_codes_are_searched() -> None:
    site = Mappings(SiteMappings(rxnorm_ofatumumab=("999999",)))
    assert any("rxnorm%7C999999" in t for t in fp.kesimpta_tokens(site))


def test_site_codes_with_their_own_system_are_searched() -> None:
    site = Mappings(
        SiteMappings(codes={"ofatumumab-kesimpta": (SiteCode("urn:oid:1.2.3.local", "KES20"),)})
    )
    assert "urn:oid:1.2.3.local%7CKES20" in fp.kesimpta_tokens(site)


def test_population_searches_use_has_so_each_patient_comes_once(mappings: Mappings) -> None:
    specs = {spec.area: spec.url for spec in fp.population_searches(mappings)}
    for rtype in ("MedicationAdministration", "MedicationRequest", "MedicationStatement"):
        url = specs[f"coded {rtype}"]
        assert url.startswith(f"Patient?_has:{rtype}:patient:code=")
        assert "_elements=id" in url and "_count=500" in url
    assert specs["Kesimpta Medications"].startswith("Medication?code=")
    assert specs["app CarePlans"].startswith("Patient?_has:CarePlan:patient:identifier=")
    assert "careplan%7C" in specs["app CarePlans"]
    assert specs["text MedicationRequest"].startswith("MedicationRequest?code:text=kesimpta,")
    assert "_elements=subject" in specs["text MedicationRequest"]
    # Administrations are too many per patient for a text search.
    assert "text MedicationAdministration" not in specs
    assert "worklist Group" not in specs


def test_the_group_is_searched_when_configured(mappings: Mappings) -> None:
    specs = {spec.area: spec.url for spec in fp.population_searches(mappings, group="clinic-7")}
    assert specs["worklist Group"] == "Group?_id=clinic-7"


def test_searches_the_token_may_not_read_are_left_out(mappings: Mappings) -> None:
    readable = {"Patient", "MedicationRequest", "Medication"}
    areas = [spec.area for spec in fp.population_searches(mappings, readable=readable)]
    assert areas == ["coded MedicationRequest", "Kesimpta Medications", "text MedicationRequest"]


def test_referenced_medications_are_found_in_chunks_of_100() -> None:
    refs = [f"Medication/m{i}" for i in range(250)]
    specs = fp.medication_population_searches(refs)
    assert len(specs) == 3 * 4  # three chunks, four medication types
    first = specs[0].url
    assert first.startswith("Patient?_has:MedicationAdministration:patient:medication=")
    assert (
        len(_params(first)["_has:MedicationAdministration:patient:medication"][0].split(",")) == 100
    )


def test_direct_searches_for_servers_without_has(mappings: Mappings) -> None:
    urls = [spec.url for spec in fp.direct_population_searches(mappings)]
    assert any(u.startswith("MedicationAdministration?code=") for u in urls)
    assert any(u.startswith("MedicationAdministration?medication.code=") for u in urls)
    assert all("_elements=subject" in u for u in urls)


def test_bulk_reads_ask_for_many_patients_at_once(mappings: Mappings) -> None:
    ids = [f"p{i}" for i in range(120)]
    specs = fp.population_searches_for(ids, mappings)
    per_chunk = len(fp.population_searches_for(ids[:1], mappings))
    assert len(specs) == 3 * per_chunk  # 120 patients = 3 chunks of 50
    observation = next(s.url for s in specs if s.url.startswith("Observation?"))
    patients = _params(observation)["patient"][0].split(",")
    assert patients == [f"Patient/p{i}" for i in range(50)]
    assert "code=" not in observation  # filtered on arrival (see search_relevant)
    first_patient = next(s.url for s in specs if s.area == "patient")
    assert _params(first_patient)["_id"][0].split(",")[:2] == ["p0", "p1"]
    administrations = next(s.url for s in specs if s.url.startswith("MedicationAdministration"))
    assert "_include=MedicationAdministration:medication" in administrations
    assert {s.area for s in specs} >= {*AREAS, "labs,imaging"}  # every record area is read


def test_bulk_reads_refuse_ids_that_are_not_fhir_ids(mappings: Mappings) -> None:
    with pytest.raises(ValueError, match="not a FHIR id"):
        fp.population_searches_for(["ok", "bad,id"], mappings)


def test_bulk_reads_leave_out_unreadable_types(mappings: Mappings) -> None:
    urls = [s.url for s in fp.population_searches_for(["a"], mappings, readable={"Patient"})]
    assert urls == ["Patient?_id=a&_count=500"]


def test_patient_of_reads_subject_patient_and_for() -> None:
    assert (
        fp.patient_of({"resourceType": "Observation", "subject": {"reference": "Patient/a"}}) == "a"
    )
    assert (
        fp.patient_of({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/b"}})
        == "b"
    )
    assert fp.patient_of(app_task("c", "pml", "2026-01-01")) == "c"
    absolute = {
        "resourceType": "Condition",
        "subject": {"reference": "https://x.org/fhir/Patient/d/_history/2"},
    }
    assert fp.patient_of(absolute) == "d"
    assert (
        fp.patient_of({"resourceType": "Observation", "subject": {"reference": "Group/g"}}) is None
    )
    assert fp.patient_of({"resourceType": "Observation", "subject": "Patient/a"}) is None
    assert fp.patient_of(patient("e")) == "e"


def test_group_members_skip_inactive_and_non_patients() -> None:
    g = group("g", ["a", "b", "c"], inactive=("b",))
    g["member"].append({"entity": {"reference": "Practitioner/x"}})
    assert fp.group_members(g) == ["a", "c"]


def test_group_id_accepts_reference_or_id() -> None:
    assert fp.group_id("Group/clinic-7") == "clinic-7"
    assert fp.group_id("clinic-7") == "clinic-7"
    with pytest.raises(ValueError):
        fp.group_id("Group/../x?y")


def test_patient_groups_share_medications_and_drop_unwanted() -> None:
    groups = fp.PatientGroups(wanted={"a", "b"})
    med = {"resourceType": "Medication", "id": "m1"}
    for resource in (
        patient("a"),
        patient("b"),
        patient("z"),
        med,
        {
            "resourceType": "MedicationAdministration",
            "id": "x1",
            "subject": {"reference": "Patient/a"},
            "medicationReference": {"reference": "Medication/m1"},
        },
        {"resourceType": "Observation", "id": "o1", "subject": {"reference": "Patient/z"}},
        {"resourceType": "Observation", "id": "o2"},
    ):
        groups.add(resource)
    assert groups.patient_ids() == ["a", "b"]
    assert [r["id"] for r in groups.resources_for("a")] == ["a", "x1", "m1"]
    assert [r["id"] for r in groups.resources_for("b")] == ["b"]
    assert groups.unassigned == 1
    assert groups.pop("a") and groups.resources_for("a") == []


def test_search_relevant_mirrors_the_server_code_filters(mappings: Mappings) -> None:
    igg = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2465-3"}]},
    }
    vitals = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
    }
    broken = {"resourceType": "Observation", "code": "not a concept"}
    assert fp.search_relevant(igg, mappings)
    assert not fp.search_relevant(vitals, mappings)
    assert fp.search_relevant(broken, mappings)  # kept, so the reader reports it
    assert fp.search_relevant({"resourceType": "Condition"}, mappings)


def test_export_url() -> None:
    assert fp.export_url().startswith("$export?_type=Patient,Observation,")
    assert fp.export_url("clinic-7").startswith("Group/clinic-7/$export?_type=")
    assert "MedicationStatement" in fp.export_url()
