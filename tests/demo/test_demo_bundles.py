"""The named demo cohort as FHIR: transaction Bundles of conditional updates, collections."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from smartapp.demo import (
    CHECK_IDS,
    DEMO_SLUGS,
    DEMO_SYSTEM,
    SITUATIONS,
    demo_bundles,
    demo_collection_bundle,
    demo_patient_resources,
    demo_system,
)
from smartapp.demo.bundles import transaction_bundle
from tests.demo.helpers import (
    FULL_DATE,
    PARTIAL_DATE,
    contained_ids,
    dates,
    parse_r4b,
    references,
)

ANCHOR = date(2025, 3, 1)
STATUSES = {"ok", "due", "overdue", "alert", "unknown", "not_applicable"}
SEVERITIES = {"critical", "high", "moderate", "low", "info"}
REQUIRED_SITUATIONS = {
    "all-ok-maintenance",
    "pre-treatment-ready",
    "pre-treatment-missing-hbv",
    "started-without-hbv-screening",
    "hbsag-positive",
    "anti-hbc-positive-only",
    "ig-low",
    "ig-monitoring-overdue",
    "dose-overdue",
    "dose-due-soon",
    "loading-phase",
    "interrupted",
    "double-dose",
    "live-vaccine-before-start",
    "live-vaccine-on-therapy",
    "ambiguous-zoster",
    "nonlive-vaccine-outside-window",
    "active-infection",
    "pregnant",
    "pml",
    "hypersensitivity",
    "mri-overdue",
    "messy-data",
    "escaping",
}


@pytest.fixture(scope="module")
def bundles() -> list[dict[str, Any]]:
    return demo_bundles(ANCHOR)


def test_every_required_situation_exists_with_a_valid_expectation() -> None:
    assert REQUIRED_SITUATIONS <= set(DEMO_SLUGS)
    for slug, spec in SITUATIONS.items():
        assert spec.slug == slug
        assert spec.expect, slug
        assert set(spec.expect) <= set(CHECK_IDS)
        assert set(spec.expect.values()) <= STATUSES
        assert set(spec.severity) <= set(spec.expect)
        assert set(spec.severity.values()) <= SEVERITIES
        assert spec.description, f"{slug} needs a docstring telling its story"


def test_one_transaction_bundle_per_situation_and_valid_json(bundles: list[dict[str, Any]]) -> None:
    assert len(bundles) == len(DEMO_SLUGS)
    for bundle in bundles:
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "transaction"
        assert json.loads(json.dumps(bundle)) == bundle


def test_every_entry_is_a_conditional_update_by_our_identifier(
    bundles: list[dict[str, Any]],
) -> None:
    for slug, bundle in zip(DEMO_SLUGS, bundles, strict=True):
        patient_entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
        assert len(patient_entries) == 1
        assert patient_entries[0]["request"]["url"] == f"Patient?identifier={DEMO_SYSTEM}|{slug}"
        for entry in bundle["entry"]:
            resource, request = entry["resource"], entry["request"]
            assert request["method"] == "PUT"
            rtype, _, query = request["url"].partition("?")
            assert rtype == resource["resourceType"]
            assert query.startswith(f"identifier={DEMO_SYSTEM}|")
            value = query.rsplit("|", 1)[1]
            assert {"system": DEMO_SYSTEM, "value": value} in resource["identifier"]
            assert "id" not in resource, "the server assigns ids on conditional update"
            assert entry["fullUrl"].startswith("urn:uuid:")


def test_identifiers_are_unique_across_the_cohort(bundles: list[dict[str, Any]]) -> None:
    # Two entries matching one identifier would make the server answer 412 (multiple matches).
    urls = [e["request"]["url"] for b in bundles for e in b["entry"]]
    assert len(urls) == len(set(urls))
    full_urls = [e["fullUrl"] for b in bundles for e in b["entry"]]
    assert len(full_urls) == len(set(full_urls))


def test_every_reference_resolves_inside_the_bundle_or_is_contained(
    bundles: list[dict[str, Any]],
) -> None:
    for bundle in bundles:
        full_urls = {e["fullUrl"] for e in bundle["entry"]}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            local = contained_ids(resource)
            for reference in references(resource):
                assert reference in full_urls or reference in local, (
                    f"{entry['request']['url']}: dangling reference {reference}"
                )


def test_bundles_are_deterministic_so_seeding_twice_updates_the_same_resources() -> None:
    assert demo_bundles(ANCHOR) == demo_bundles(ANCHOR)


def test_a_run_id_gives_a_system_of_our_own() -> None:
    system = demo_system("ci-42")
    assert system == f"{DEMO_SYSTEM}/ci-42"
    bundle = demo_bundles(ANCHOR, identifier_system=system, slugs=["pml"])[0]
    for entry in bundle["entry"]:
        assert entry["request"]["url"].split("=", 1)[1].startswith(f"{system}|")
    # Another run's fullUrls differ too, so nothing is shared between runs.
    other = demo_bundles(ANCHOR, slugs=["pml"])[0]
    assert {e["fullUrl"] for e in bundle["entry"]}.isdisjoint(e["fullUrl"] for e in other["entry"])
    assert demo_system(None) == DEMO_SYSTEM


@pytest.mark.parametrize("run_id", ["has space", "a|b", "x?y", "", "-lead", "a" * 41])
def test_unsafe_run_ids_are_refused(run_id: str) -> None:
    if not run_id:
        assert demo_system(run_id) == DEMO_SYSTEM
        return
    with pytest.raises(ValueError, match="run id"):
        demo_system(run_id)


def test_a_reference_outside_the_bundle_is_an_error() -> None:
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "p"},
        {
            "resourceType": "Observation",
            "id": "o",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/someone-else"},
        },
    ]
    with pytest.raises(ValueError, match="not in the bundle"):
        transaction_bundle(resources, DEMO_SYSTEM)


def _shifted_dates(slug: str, days: int) -> list[tuple[str, str, str]]:
    first = demo_patient_resources(ANCHOR, slug)
    later = demo_patient_resources(ANCHOR + timedelta(days=days), slug)
    pairs = []
    for a, b in zip(first, later, strict=True):
        assert a["id"] == b["id"]
        da, db = dates(a), dates(b)
        assert [p for p, _ in da] == [p for p, _ in db]
        pairs += [(f"{a['id']}{p}", va, vb) for (p, va), (_, vb) in zip(da, db, strict=True)]
    return pairs


@pytest.mark.parametrize("slug", DEMO_SLUGS)
def test_dates_move_with_the_anchor(slug: str) -> None:
    days = 37
    for where, before, after in _shifted_dates(slug, days):
        full = FULL_DATE.match(before)
        if full:
            assert FULL_DATE.match(after), where
            assert before[10:] == after[10:], f"{where}: time and zone must not change"
            moved = date.fromisoformat(after[:10]) - date.fromisoformat(before[:10])
            assert moved == timedelta(days=days), where
        else:
            assert PARTIAL_DATE.match(before) and PARTIAL_DATE.match(after), where


#: The one record dated in the future on purpose: a typo the app must list, not drop.
FUTURE_ON_PURPOSE = {"future-dated-result-obs-13"}


@pytest.mark.parametrize("slug", DEMO_SLUGS)
def test_nothing_is_dated_after_the_anchor_except_planned_starts(slug: str) -> None:
    for resource in demo_patient_resources(ANCHOR, slug):
        if resource["id"] in FUTURE_ON_PURPOSE:
            continue
        for where, value in dates(resource):
            if not FULL_DATE.match(value) or resource["resourceType"] == "MedicationRequest":
                continue
            assert date.fromisoformat(value[:10]) <= ANCHOR, f"{resource['id']}{where}: {value}"


def test_the_future_dated_demo_result_is_listed_as_a_data_problem() -> None:
    from fhir_mappings.read.record import read_patient_record
    from fhir_mappings.site import default_mappings
    from smartapp.rules import RuleSettings, evaluate

    resources = demo_patient_resources(ANCHOR, "future-dated-result")
    assert any(r["id"] in FUTURE_ON_PURPOSE for r in resources)
    summary = evaluate(
        read_patient_record(resources, mappings=default_mappings()), ANCHOR, RuleSettings()
    )
    assert any(
        p.startswith("Observation/future-dated-result-obs-13: dated") for p in summary.data.problems
    )


@pytest.mark.parametrize("slug", DEMO_SLUGS)
def test_each_resource_parses_with_the_r4b_models(slug: str) -> None:
    for resource in demo_patient_resources(ANCHOR, slug):
        parse_r4b(resource)


def test_the_core_resource_types_parse_with_their_r4b_models() -> None:
    models: dict[str, Any] = {
        "Patient": Patient,
        "Observation": Observation,
        "MedicationAdministration": MedicationAdministration,
        "Immunization": Immunization,
        "Condition": Condition,
    }
    seen = dict.fromkeys(models, 0)
    for slug in DEMO_SLUGS:
        for resource in demo_patient_resources(ANCHOR, slug):
            model = models.get(resource["resourceType"])
            if model is not None:
                model.model_validate(resource)
                seen[resource["resourceType"]] += 1
    assert all(seen.values()), seen


def test_transaction_bundles_parse_as_r4b_bundles(bundles: list[dict[str, Any]]) -> None:
    for bundle in bundles:
        Bundle.model_validate(bundle)


@pytest.mark.parametrize("slug", DEMO_SLUGS)
def test_each_patient_is_named_after_its_situation_and_has_ms(slug: str) -> None:
    resources = demo_patient_resources(ANCHOR, slug)
    patient = resources[0]
    assert patient["resourceType"] == "Patient"
    assert patient["id"] == slug
    assert patient["name"][0]["given"] == ["Demo"]
    assert patient["name"][0]["family"] == SITUATIONS[slug].family
    assert {"system": DEMO_SYSTEM, "value": slug} in patient["identifier"]
    ms_codes = {"24700007", "426373005"}
    assert any(
        c["system"] == "http://snomed.info/sct" and c["code"] in ms_codes
        for r in resources
        if r["resourceType"] == "Condition"
        for c in r["code"]["coding"]
    )
    # Every other resource points at this patient only.
    for resource in resources[1:]:
        for reference in references(resource):
            if reference.startswith("Patient/"):
                assert reference == f"Patient/{slug}"


def test_family_names_are_human_readable_and_distinct() -> None:
    families = [spec.family for spec in SITUATIONS.values()]
    assert len(set(families)) == len(families)
    assert SITUATIONS["hbsag-positive"].family == "HBsAg-Positive"


def test_the_escaping_patient_is_named_exactly_script() -> None:
    patient = demo_patient_resources(ANCHOR, "escaping")[0]
    assert patient["name"][0]["family"] == "<script>alert(1)</script>"
    bundle = demo_bundles(ANCHOR, slugs=["escaping"])[0]
    assert bundle["entry"][0]["resource"]["name"][0]["family"] == "<script>alert(1)</script>"


def test_collection_bundle_has_ids_and_relative_references_that_resolve() -> None:
    for slug in DEMO_SLUGS:
        bundle = demo_collection_bundle(ANCHOR, slug)
        assert bundle["type"] == "collection"
        keys = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert resource["id"] == slug or resource["id"].startswith(f"{slug}-")
            assert entry["fullUrl"].endswith(f"/{resource['resourceType']}/{resource['id']}")
            for reference in references(resource):
                assert reference in keys or reference in contained_ids(resource), reference
            assert "request" not in entry
        Bundle.model_validate(bundle)


def _kesimpta_administrations() -> list[dict[str, Any]]:
    return [
        r
        for slug in DEMO_SLUGS
        for r in demo_patient_resources(ANCHOR, slug)
        if r["resourceType"] == "MedicationAdministration" and r["dosage"]["dose"]["value"] == 20
    ]


def test_kesimpta_doses_vary_how_the_medication_is_recorded() -> None:
    styles = set()
    for admin in _kesimpta_administrations():
        if "medicationCodeableConcept" in admin:
            codes = {c["code"] for c in admin["medicationCodeableConcept"]["coding"]}
            assert "L04AG12" in codes
            styles.add("codeable-concept")
        elif admin["medicationReference"]["reference"].startswith("#"):
            styles.add("contained")
        else:
            styles.add("reference")
        route = admin["dosage"]["route"]["coding"][0]
        assert (route["system"], route["code"]) == ("http://snomed.info/sct", "34206005")
        assert admin["dosage"]["dose"]["code"] == "mg"
    assert styles == {"codeable-concept", "contained", "reference"}


def test_referenced_kesimpta_medication_carries_the_ndc() -> None:
    resources = demo_patient_resources(ANCHOR, "all-ok-maintenance")
    medication = next(r for r in resources if r["resourceType"] == "Medication")
    assert {"system": "http://hl7.org/fhir/sid/ndc", "code": "0078-1007-68"}.items() <= (
        medication["code"]["coding"][0].items()
    )


def test_messy_data_has_the_traps_it_promises() -> None:
    resources = demo_patient_resources(ANCHOR, "messy-data")
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    statuses = {r["status"] for r in observations}
    assert {"entered-in-error", "preliminary", "final"} <= statuses
    assert any(r.get("valueString") == "see comment" for r in observations)
    assert any(r.get("valueQuantity", {}).get("code") == "g/dL" for r in observations)
    assert any(PARTIAL_DATE.match(r.get("effectiveDateTime", "x")) for r in observations)
    admins = [r for r in resources if r["resourceType"] == "MedicationAdministration"]
    arzerra = [a for a in admins if a["contained"][0]["id"] == "arzerra"]
    assert arzerra and arzerra[0]["dosage"]["route"]["coding"][0]["code"] == "47625008"
    late = [a for a in admins if a.get("effectiveDateTime", "").endswith("T23:30:00-05:00")]
    assert len(late) == 1
    local_day = date.fromisoformat(late[0]["effectiveDateTime"][:10])
    utc_day = datetime.fromisoformat(late[0]["effectiveDateTime"]).astimezone(UTC).date()
    assert local_day == ANCHOR - timedelta(days=32)
    assert utc_day == local_day + timedelta(days=1)
