"""The cohort generator: deterministic for a seed, n bundles, realistic sizes, valid FHIR."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle

from smartapp.demo import DEMO_SYSTEM, generate_cohort, generate_cohort_resources
from smartapp.demo.generator import generate_patient_resources, patient_key
from tests.demo.helpers import FULL_DATE, contained_ids, dates, parse_r4b, references

ANCHOR = date(2025, 3, 1)


def test_yields_n_transaction_bundles() -> None:
    bundles = list(generate_cohort(7, ANCHOR, seed=1))
    assert len(bundles) == 7
    for bundle in bundles:
        assert bundle["type"] == "transaction"
        full_urls = {e["fullUrl"] for e in bundle["entry"]}
        for entry in bundle["entry"]:
            assert entry["request"]["method"] == "PUT"
            assert entry["request"]["url"].startswith(
                f"{entry['resource']['resourceType']}?identifier={DEMO_SYSTEM}|gen-1-"
            )
            for reference in references(entry["resource"]):
                assert reference in full_urls or reference in contained_ids(entry["resource"])
        Bundle.model_validate(bundle)


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    assert list(generate_cohort(4, ANCHOR, seed=5)) == list(generate_cohort(4, ANCHOR, seed=5))
    a = list(generate_cohort_resources(4, ANCHOR, seed=5))
    b = list(generate_cohort_resources(4, ANCHOR, seed=6))
    assert a != b


def test_patient_i_does_not_depend_on_the_cohort_size() -> None:
    small = list(generate_cohort_resources(3, ANCHOR, seed=2))
    large = list(generate_cohort_resources(10, ANCHOR, seed=2))
    assert large[:3] == small
    assert generate_patient_resources(2, ANCHOR, seed=2) == small[2]


def test_patient_keys_are_unique_and_carry_the_seed() -> None:
    keys = [r[0]["id"] for r in generate_cohort_resources(50, ANCHOR, seed=3)]
    assert keys == [patient_key(i, 3) for i in range(50)]
    assert len(set(keys)) == 50


def test_five_years_of_history_is_60_to_150_resources() -> None:
    sizes = [len(r) for r in generate_cohort_resources(60, ANCHOR, seed=4, years=(5, 5))]
    assert min(sizes) >= 60 and max(sizes) <= 150, (min(sizes), max(sizes))


def test_history_spans_the_requested_years() -> None:
    for resources in generate_cohort_resources(30, ANCHOR, seed=8, years=(2, 3)):
        doses = sorted(
            date.fromisoformat(r["effectiveDateTime"][:10])
            for r in resources
            if r["resourceType"] == "MedicationAdministration"
        )
        assert 2 * 365 - 1 <= (ANCHOR - doses[0]).days <= 3 * 365 + 1
        assert doses[-1] < ANCHOR


def test_doses_follow_the_label_with_some_late_ones() -> None:
    gaps: list[int] = []
    for resources in generate_cohort_resources(40, ANCHOR, seed=11, years=(3, 5)):
        days = sorted(
            date.fromisoformat(r["effectiveDateTime"][:10])
            for r in resources
            if r["resourceType"] == "MedicationAdministration"
        )
        assert (days[1] - days[0]).days in (7, 8)
        gaps += [(b - a).days for a, b in itertools.pairwise(days[3:])]
    assert gaps.count(28) > len(gaps) * 0.6
    assert any(gap > 28 for gap in gaps)


def test_labs_come_in_mixed_units() -> None:
    units = {
        r["valueQuantity"]["code"]
        for resources in generate_cohort_resources(20, ANCHOR, seed=12)
        for r in resources
        if r["resourceType"] == "Observation"
        and r["code"]["coding"][0]["code"] in ("2465-3", "2472-9")
    }
    assert {"g/L", "mg/dL"} <= units


def test_generated_resources_parse_with_the_r4b_models() -> None:
    for resources in generate_cohort_resources(8, ANCHOR, seed=13):
        for resource in resources:
            parse_r4b(resource)


def test_nothing_is_dated_after_the_anchor_except_order_starts() -> None:
    for resources in generate_cohort_resources(30, ANCHOR, seed=14):
        for resource in resources:
            if resource["resourceType"] == "MedicationRequest":
                continue
            for where, value in dates(resource):
                if FULL_DATE.match(value):
                    assert date.fromisoformat(value[:10]) < ANCHOR, (resource["id"], where)


@pytest.mark.parametrize("years", [(0, 2), (3, 2)])
def test_bad_year_ranges_are_refused(years: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="years"):
        next(generate_cohort(1, ANCHOR, years=years))


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        next(generate_cohort(-1, ANCHOR))
