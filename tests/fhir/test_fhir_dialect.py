"""A server's search dialect (tenant quirk `observation_categories`): split, not OR-ed."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import responses
from fhir_fakes import BASE, batch_response, obs, ok_entry, searchset

from smartapp.fhir import FhirClient
from smartapp.fhir.dialect import SearchDialect

CATEGORIES = SearchDialect({"Observation": ("category", ("laboratory", "social-history"))})


def test_an_observation_search_is_split_per_category_other_searches_are_not() -> None:
    assert CATEGORIES.expand("Observation?patient=p1&_count=500") == [
        "Observation?patient=p1&_count=500&category=laboratory",
        "Observation?patient=p1&_count=500&category=social-history",
    ]
    assert CATEGORIES.expand("Observation?patient=p1&category=vital-signs") == [
        "Observation?patient=p1&category=vital-signs"
    ]
    assert CATEGORIES.expand("Observation?_id=o1") == ["Observation?_id=o1"]
    assert CATEGORIES.expand("Condition?patient=p1") == ["Condition?patient=p1"]
    assert CATEGORIES.expand("Patient/p1") == ["Patient/p1"]
    assert CATEGORIES.expand("Observation") == [
        "Observation?category=laboratory",
        "Observation?category=social-history",
    ]
    assert not SearchDialect() and CATEGORIES


def test_a_batch_carries_the_splits_in_the_same_single_post(
    http: responses.RequestsMock,
) -> None:
    sent: list[list[str]] = []

    def answer(request):  # type: ignore[no-untyped-def]
        urls = [e["request"]["url"] for e in json.loads(request.body)["entry"]]
        sent.append(urls)
        entries = []
        for url in urls:
            category = parse_qs(urlsplit(url).query).get("category", [""])[0]
            found = [obs(1), obs(2)] if category == "laboratory" else [obs(2), obs(3)]
            entries.append(ok_entry(searchset(found if url.startswith("Observation") else [])))
        return 200, {}, json.dumps(batch_response(*entries))

    http.add_callback(responses.POST, BASE, callback=answer)
    with FhirClient(BASE, dialect=CATEGORIES) as client:
        result = client.batch_search(
            [("labs", "Observation?patient=p1&code=x"), ("conditions", "Condition?patient=p1")]
        )
        assert client.round_trips == 1
    assert sent == [
        [
            "Observation?patient=p1&code=x&category=laboratory",
            "Observation?patient=p1&code=x&category=social-history",
            "Condition?patient=p1",
        ]
    ]
    # An Observation in two categories is read once.
    assert sorted(r["id"] for r in result.resources) == ["obs-1", "obs-2", "obs-3"]
    assert result.failed_areas == frozenset()


def test_search_all_reads_every_split(http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/Observation?patient=p1&category=laboratory", json=searchset([obs(1)]))
    http.get(f"{BASE}/Observation?patient=p1&category=social-history", json=searchset([obs(2)]))
    with FhirClient(BASE, dialect=CATEGORIES) as client:
        result = client.search_all("Observation?patient=p1")
    assert [r["id"] for r in result.resources] == ["obs-1", "obs-2"] and result.complete
