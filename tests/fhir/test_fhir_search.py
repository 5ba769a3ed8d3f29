"""search_all and $everything: paging, next-link safety, expired pages, loop protection."""

from __future__ import annotations

import pytest
import requests
import responses
from fhir_fakes import BASE, PATIENT, TOKEN, obs, outcome, page_url, resource, searchset

from smartapp.fhir import FhirClient, SearchResult, TokenExpired

SEARCH = f"Observation?patient={PATIENT}&_count=20"
SEARCH_URL = f"{BASE}/{SEARCH}"


def assert_incomplete(result: SearchResult, problem: str, ids: list[str]) -> None:
    """The search stopped short, says why (exactly `problem`) and keeps what it had read."""
    assert not result.complete
    assert result.problem == problem
    assert [r["id"] for r in result.resources] == ids


def test_search_follows_hapi_next_links_at_the_server_base(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(SEARCH_URL, json=searchset([obs(1), obs(2)], next_url=page_url(2)))
    http.get(page_url(2), json=searchset([obs(3)], next_url=page_url(3)))
    http.get(page_url(3), json=searchset([obs(4)]))
    result = client.search_all(SEARCH)
    assert result.complete and result.problem is None
    assert [r["id"] for r in result.resources] == ["obs-1", "obs-2", "obs-3", "obs-4"]
    assert client.round_trips == 3
    assert [call.request.url for call in http.calls] == [SEARCH_URL, page_url(2), page_url(3)]
    for call in http.calls:
        assert call.request.headers["Cache-Control"] == "no-cache"
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert [e.entries for e in client.requests_made] == [2, 1, 1]


def test_next_link_with_http_instead_of_https_is_followed_as_https(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    insecure_next = page_url(2, "http://ehr.example.org/fhir")
    plain = http.get(insecure_next, json=searchset([obs("wrong")]))
    http.get(SEARCH_URL, json=searchset([obs(1)], next_url=insecure_next))
    http.get(page_url(2), json=searchset([obs(2)]))
    result = client.search_all(SEARCH)
    assert result.complete
    assert [r["id"] for r in result.resources] == ["obs-1", "obs-2"]
    assert plain.call_count == 0
    assert str(http.calls[1].request.url).startswith("https://")


def test_next_link_to_another_host_is_refused_and_never_gets_the_token(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    seen_elsewhere: list[requests.PreparedRequest] = []

    def elsewhere(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen_elsewhere.append(request)
        return 200, {}, "{}"

    http.add_callback(responses.GET, "https://collector.example.net/fhir", callback=elsewhere)
    http.get(
        SEARCH_URL,
        json=searchset([obs(1)], next_url=page_url(2, "https://collector.example.net/fhir")),
    )
    assert_incomplete(
        client.search_all(SEARCH),
        "Observation search incomplete: the next-page link points to another server "
        "(collector.example.net); it was not followed",
        ["obs-1"],
    )
    assert seen_elsewhere == []
    assert all(str(call.request.url).startswith(BASE) for call in http.calls)
    assert client.round_trips == 1


def test_410_gone_on_page_2_leaves_the_search_incomplete(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.get(SEARCH_URL, json=searchset([obs(1)], next_url=page_url(2)))
    http.get(
        page_url(2),
        status=410,
        json=outcome("Search ID abc-123 does not exist and may have expired", code="processing"),
    )
    assert_incomplete(
        client.search_all(SEARCH),
        "Observation search incomplete: page 2 of the results has expired on the server "
        "(HTTP 410 Gone); reload to search again",
        ["obs-1"],
    )
    assert sleeps == []  # 410 is final, not retried


def test_same_next_link_twice_stops_the_loop(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(SEARCH_URL, json=searchset([obs(1)], next_url=page_url(2)))
    http.get(page_url(2), json=searchset([obs(2)], next_url=page_url(2)))
    result = client.search_all(SEARCH)
    assert not result.complete
    assert result.problem is not None and "repeated a next-page link" in result.problem
    assert client.round_trips == 2


def test_max_pages_bounds_the_search(client: FhirClient, http: responses.RequestsMock) -> None:
    http.get(SEARCH_URL, json=searchset([obs(1)], next_url=page_url(2)))
    http.get(page_url(2), json=searchset([obs(2)], next_url=page_url(3)))
    result = client.search_all(SEARCH, max_pages=2)
    assert not result.complete
    assert result.problem == "Observation search incomplete: stopped after 2 pages"
    assert client.round_trips == 2


def test_resources_are_deduplicated_across_pages(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(SEARCH_URL, json=searchset([obs(1), obs(2)], next_url=page_url(2)))
    http.get(page_url(2), json=searchset([obs(2), obs(3)]))
    result = client.search_all(SEARCH)
    assert [r["id"] for r in result.resources] == ["obs-1", "obs-2", "obs-3"]


def test_included_resources_are_collected(client: FhirClient, http: responses.RequestsMock) -> None:
    query = (
        f"MedicationAdministration?patient={PATIENT}&_include=MedicationAdministration:medication"
    )
    http.get(
        f"{BASE}/{query}",
        json=searchset(
            [resource("MedicationAdministration", "ma-1")],
            includes=[resource("Medication", "kesimpta")],
        ),
    )
    result = client.search_all(query)
    assert {(r["resourceType"], r["id"]) for r in result.resources} == {
        ("MedicationAdministration", "ma-1"),
        ("Medication", "kesimpta"),
    }


def test_first_page_failure_is_a_problem_not_an_exception(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.get(
        SEARCH_URL,
        status=500,
        json=outcome("HAPI-0389: Failed to call access method", code="exception"),
    )
    result = client.search_all(SEARCH)
    assert result == result.__class__([], False, result.problem)
    assert result.problem == (
        "Observation search failed: HTTP 500 Internal Server Error: error exception: "
        "HAPI-0389: Failed to call access method (after 4 attempts)"
    )
    assert sleeps == [0.5, 1.0, 2.0]


def test_timeout_on_a_later_page_keeps_what_was_read(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(SEARCH_URL, json=searchset([obs(1)], next_url=page_url(2)))
    http.get(page_url(2), body=requests.exceptions.ConnectTimeout("connect timeout"))
    assert_incomplete(
        client.search_all(SEARCH),
        "Observation search failed: no answer from the FHIR server (timeout, 4 attempts)",
        ["obs-1"],
    )


def test_401_while_paging_raises_token_expired(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(SEARCH_URL, json=searchset([obs(1)], next_url=page_url(2)))
    http.get(page_url(2), status=401)
    with pytest.raises(TokenExpired):
        client.search_all(SEARCH)


def test_403_on_a_search_is_reported_as_a_scope_problem(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(SEARCH_URL, status=403)
    result = client.search_all(SEARCH)
    assert not result.complete
    assert result.problem is not None and "not permitted by the granted scopes" in result.problem


def test_an_error_outcome_inside_the_searchset_makes_it_incomplete(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    bundle = searchset([obs(1)])
    bundle["entry"].append(
        {"resource": outcome("too many includes"), "search": {"mode": "outcome"}}
    )
    http.get(SEARCH_URL, json=bundle)
    result = client.search_all(SEARCH)
    assert not result.complete
    assert result.problem == (
        "Observation search incomplete: the server reported error processing: too many includes"
    )
    assert [r["resourceType"] for r in result.resources] == ["Observation"]


def test_a_warning_outcome_inside_the_searchset_is_not_collected(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    bundle = searchset([obs(1)])
    bundle["entry"].append(
        {"resource": outcome("filtered", severity="warning"), "search": {"mode": "outcome"}}
    )
    http.get(SEARCH_URL, json=bundle)
    result = client.search_all(SEARCH)
    assert result.complete
    assert [r["resourceType"] for r in result.resources] == ["Observation"]


def test_a_non_bundle_answer_is_a_problem(client: FhirClient, http: responses.RequestsMock) -> None:
    http.get(SEARCH_URL, json=resource("Patient", PATIENT))
    result = client.search_all(SEARCH)
    assert (
        result.problem == "Observation search failed: the server did not answer with a FHIR Bundle"
    )


def test_everything_reads_all_pages(client: FhirClient, http: responses.RequestsMock) -> None:
    http.get(
        f"{BASE}/Patient/{PATIENT}/$everything",
        json=searchset([resource("Patient", PATIENT), obs(1)], next_url=page_url(2)),
    )
    http.get(page_url(2), json=searchset([resource("Immunization", "imm-1")]))
    result = client.everything(PATIENT)
    assert result.complete
    assert [r["resourceType"] for r in result.resources] == [
        "Patient",
        "Observation",
        "Immunization",
    ]


def test_everything_with_page_size(client: FhirClient, http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/Patient/{PATIENT}/$everything?_count=500", json=searchset([]))
    assert client.everything(PATIENT, count=500).complete
    assert http.calls[0].request.url == f"{BASE}/Patient/{PATIENT}/$everything?_count=500"


@pytest.mark.parametrize("bad", ["", "../admin", "a/b", "x" * 65, "id with space"])
def test_everything_refuses_an_invalid_id(client: FhirClient, bad: str) -> None:
    with pytest.raises(ValueError):
        client.everything(bad)
