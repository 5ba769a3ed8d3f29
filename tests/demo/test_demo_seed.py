"""Seeding: one transaction per patient, created/updated counted, failures collected."""

from __future__ import annotations

import itertools
import re
from datetime import date
from typing import Any

import pytest

from smartapp.demo import DEMO_SLUGS, demo_bundles, generate_cohort, seed
from smartapp.demo.seed import PatientResult

ANCHOR = date(2025, 3, 1)


class ConditionalUpdateServer:
    """An in-memory stand-in for a FHIR server's transaction endpoint: conditional updates
    by identifier (no match -> create 201, one match -> update 200, several -> 412) and
    urn:uuid references replaced by the ids assigned, as HAPI does."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.posted = 0

    def _matches(self, rtype: str, system: str, value: str) -> list[str]:
        return [
            key
            for key, resource in self.store.items()
            if key.startswith(f"{rtype}/")
            and {"system": system, "value": value} in resource.get("identifier", [])
        ]

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        self.posted += 1
        assert bundle["type"] == "transaction"
        targets: dict[str, str] = {}
        statuses = []
        for entry in bundle["entry"]:
            request = entry["request"]
            assert request["method"] == "PUT"
            match = re.fullmatch(r"(\w+)\?identifier=(.+)\|([^|]+)", request["url"])
            assert match, request["url"]
            rtype, system, value = match.groups()
            found = self._matches(rtype, system, value)
            if len(found) > 1:
                raise RuntimeError("HTTP 412: HAPI-0958 matched 2 resources")
            key = found[0] if found else f"{rtype}/{next(self.ids)}"
            targets[entry["fullUrl"]] = key
            statuses.append("200 OK" if found else "201 Created")
        for entry in bundle["entry"]:
            resource = _replace_refs(entry["resource"], targets)
            self.store[targets[entry["fullUrl"]]] = resource
        return {
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": [{"response": {"status": s}} for s in statuses],
        }


def _replace_refs(node: Any, targets: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: (targets.get(v, v) if k == "reference" else _replace_refs(v, targets))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_replace_refs(item, targets) for item in node]
    return node


def test_seeding_creates_then_updates_and_never_duplicates() -> None:
    server = ConditionalUpdateServer()
    bundles = demo_bundles(ANCHOR)
    total = sum(len(b["entry"]) for b in bundles)

    first = seed(server, bundles)
    assert first.ok and first.patients == len(DEMO_SLUGS) == first.loaded
    assert (first.created, first.updated) == (total, 0)
    assert len(server.store) == total

    # Seeding again (even on another day: the dates move) updates the same resources.
    second = seed(server, demo_bundles(date(2025, 4, 9)))
    assert second.ok
    assert (second.created, second.updated) == (0, total)
    assert len(server.store) == total
    assert server.posted == 2 * len(DEMO_SLUGS)


def test_references_land_on_the_resources_of_the_same_patient() -> None:
    server = ConditionalUpdateServer()
    seed(server, demo_bundles(ANCHOR, slugs=["all-ok-maintenance", "pml"]))
    patients = {
        r["identifier"][0]["value"]: key
        for key, r in server.store.items()
        if key.startswith("Patient/")
    }
    for key, resource in server.store.items():
        owner = resource["identifier"][0]["value"]
        slug = "pml" if owner.startswith("pml") else "all-ok-maintenance"
        subject = resource.get("subject") or resource.get("patient")
        if subject:
            assert subject["reference"] == patients[slug], key


def test_a_failing_patient_is_reported_and_the_others_still_load() -> None:
    server = ConditionalUpdateServer()

    class Flaky:
        def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
            url = bundle["entry"][0]["request"]["url"]
            if url.endswith("|hbsag-positive"):
                raise ConnectionError("server said\n 503 Service Unavailable")
            return server.transaction(bundle)

    seen: list[PatientResult] = []
    report = seed(Flaky(), demo_bundles(ANCHOR), on_result=seen.append)
    assert not report.ok
    assert report.errors == [
        ("hbsag-positive", "ConnectionError: server said 503 Service Unavailable")
    ]
    assert report.loaded == len(DEMO_SLUGS) - 1
    assert [r.patient for r in seen] == list(DEMO_SLUGS)
    assert "1 failed: hbsag-positive" in report.describe()


def test_a_response_that_is_not_a_transaction_response_is_an_error() -> None:
    class Odd:
        def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
            return {"resourceType": "OperationOutcome", "issue": []}

    report = seed(Odd(), demo_bundles(ANCHOR, slugs=["pml"]))
    assert report.errors == [("pml", "unexpected response: OperationOutcome")]


def test_a_short_response_is_an_error() -> None:
    class Short:
        def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
            return {"resourceType": "Bundle", "entry": [{"response": {"status": "201 Created"}}]}

    report = seed(Short(), demo_bundles(ANCHOR, slugs=["pml"]))
    assert report.created == 1
    assert report.errors and "responses for" in report.errors[0][1]


def test_other_statuses_are_counted_separately() -> None:
    class NotModified:
        def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
            entries = [{"response": {"status": "304 Not Modified"}} for _ in bundle["entry"]]
            return {"resourceType": "Bundle", "entry": entries}

    report = seed(NotModified(), demo_bundles(ANCHOR, slugs=["pml"]))
    assert report.ok and report.other == len(demo_bundles(ANCHOR, slugs=["pml"])[0]["entry"])
    assert "other" in report.describe()


def test_generated_cohorts_seed_the_same_way() -> None:
    server = ConditionalUpdateServer()
    report = seed(server, generate_cohort(5, ANCHOR, seed=9))
    assert report.ok and report.patients == 5
    again = seed(server, generate_cohort(5, ANCHOR, seed=9))
    assert again.created == 0 and again.updated == report.created


@pytest.mark.parametrize("count", [0])
def test_nothing_to_seed(count: int) -> None:
    report = seed(ConditionalUpdateServer(), generate_cohort(count, ANCHOR))
    assert report.ok and report.patients == 0
    assert report.describe().startswith("0 of 0 patients loaded")
