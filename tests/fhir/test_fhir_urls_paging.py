from __future__ import annotations

import pytest
from fhir_fakes import BASE, page_url

from smartapp.fhir import FhirClient, OffServerError
from smartapp.fhir.paging import check_next_link, next_link
from smartapp.fhir.urls import ServerBase

SERVER = ServerBase.parse(BASE)


def test_base_is_normalised_without_trailing_slash_and_lower_case_host() -> None:
    assert FhirClient("HTTPS://EHR.Example.org/fhir/").base == "https://ehr.example.org/fhir"
    assert ServerBase.parse("http://localhost:8080/fhir").url == "http://localhost:8080/fhir"
    assert ServerBase.parse("https://h.org:443/fhir").url == "https://h.org/fhir"


@pytest.mark.parametrize(
    "bad",
    [
        "ftp://h.org/fhir",
        "h.org/fhir",
        "https:///fhir",
        "https://h.org/fhir?x=1",
        "https://u:p@h.org",
    ],
)
def test_base_must_be_plain_http_url(bad: str) -> None:
    with pytest.raises(ValueError):
        ServerBase.parse(bad)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("Patient/1", f"{BASE}/Patient/1"),
        ("/Patient/1", f"{BASE}/Patient/1"),
        ("metadata", f"{BASE}/metadata"),
        ("?_getpages=x", f"{BASE}?_getpages=x"),
        (
            "Observation?code=http://loinc.org|5195-3",
            f"{BASE}/Observation?code=http://loinc.org|5195-3",
        ),
        (f"{BASE}/Patient/1", f"{BASE}/Patient/1"),
        ("http://ehr.example.org/fhir/Patient/1", f"{BASE}/Patient/1"),
    ],
)
def test_resolve_keeps_requests_on_the_base(ref: str, expected: str) -> None:
    assert SERVER.resolve(ref) == expected


@pytest.mark.parametrize(
    "ref",
    [
        "https://evil.example.com/fhir/Patient/1",
        "//evil.example.com/fhir/Patient/1",
        "https://ehr.example.org/other/Patient/1",
        "https://ehr.example.org/fhirx/Patient/1",
        "https://ehr.example.org:8443/fhir/Patient/1",
        "https://user@ehr.example.org/fhir/Patient/1",
        "Patient/../../admin",
        "Patient/%2e%2e/%2e%2e/admin",
    ],
)
def test_resolve_refuses_anything_off_the_base(ref: str) -> None:
    with pytest.raises(OffServerError):
        SERVER.resolve(ref)


def test_relative_url_for_the_query_log() -> None:
    assert SERVER.relative(f"{BASE}/Patient/1") == "Patient/1"
    assert SERVER.relative(f"{BASE}?_getpages=a") == "?_getpages=a"
    assert SERVER.relative(BASE) == ""


def test_next_link_is_found_among_links() -> None:
    bundle = {"link": [{"relation": "self", "url": "a"}, {"relation": "next", "url": " b "}]}
    assert next_link(bundle) == "b"
    assert next_link({"link": [{"relation": "self", "url": "a"}]}) is None
    assert next_link({}) is None


def test_next_link_with_http_on_an_https_base_is_rewritten_to_https() -> None:
    url, why = check_next_link(page_url(2, "http://ehr.example.org/fhir"), SERVER)
    assert why is None
    assert url == page_url(2)


def test_next_link_with_https_on_an_http_base_is_rewritten_to_http() -> None:
    base = ServerBase.parse("http://localhost:8080/fhir")
    url, why = check_next_link("https://localhost:8080/fhir?_getpages=x", base)
    assert (url, why) == ("http://localhost:8080/fhir?_getpages=x", None)


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        ("https://other.example.net/fhir?_getpages=x", "another server (other.example.net)"),
        ("http://localhost:8080/fhir?_getpages=x", "another server (localhost)"),
        ("https://ehr.example.org:9443/fhir?_getpages=x", "different port or path"),
        ("https://ehr.example.org/elsewhere?_getpages=x", "different port or path"),
        ("?_getpages=x", "not an absolute http(s) URL"),
        ("javascript:alert(1)", "not an absolute http(s) URL"),
        ("https:///fhir?_getpages=x", "no host"),
    ],
)
def test_unsafe_next_links_are_refused_with_a_reason(link: str, reason: str) -> None:
    url, why = check_next_link(link, SERVER)
    assert url is None
    assert why is not None and reason in why
    assert "_getpages" not in why  # the link itself (may hold search parameters) is not echoed
