"""Bounded FHIR reads (smartapp.fhir.limits) against a real hostile server on 127.0.0.1:
a whole-view deadline that a dripping server cannot outlast, a size cap, a nesting cap."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator

import pytest
import responses

from smartapp.fhir import DeadlineExceeded, FhirClient, ReadLimits, ResponseTooLarge
from smartapp.fhir.limits import Deadline, nesting_exceeds, parse_json
from tests.support.hostile_fhir import HostileFhir

AREAS = [("labs", "Observation?patient=1"), ("doses", "MedicationAdministration?patient=1")]
MB = 1024 * 1024


@pytest.fixture
def hostile() -> Iterator[HostileFhir]:
    with HostileFhir() as server:
        yield server


def _client(server: HostileFhir, **limits: float) -> FhirClient:
    return FhirClient(
        server.base,
        timeout=20,
        backoff_s=0.01,
        limits=ReadLimits.start(limits.get("deadline"), int(limits.get("max_bytes", 50 * MB))),
    )


def test_a_dripping_server_is_cut_off_at_the_deadline_not_the_socket_timeout(
    hostile: HostileFhir,
) -> None:
    """One byte every 0.3 s never trips a 20 s read timeout; the 1.5 s view deadline does."""
    hostile.mode = "drip"
    hostile.drip_interval_s = 0.3
    started = time.monotonic()
    with _client(hostile, deadline=1.5) as client:
        result = client.batch_search(AREAS)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, elapsed
    assert result.failed_areas == {"labs", "doses"}
    assert "SMARTAPP_FHIR_DEADLINE" in result.problems[0]
    assert len(hostile.requests) == 1  # past the deadline nothing is retried


def test_one_deadline_covers_every_request_of_a_view(hostile: HostileFhir) -> None:
    hostile.mode = "drip"
    hostile.drip_interval_s = 0.2
    limits = ReadLimits.start(1.0)
    started = time.monotonic()
    with FhirClient(hostile.base, timeout=20, limits=limits) as first:
        first.search_all("Observation?patient=1")
    with FhirClient(hostile.base, timeout=20, limits=limits) as second:
        result = second.search_all("Condition?patient=1")  # nothing left for this one
    assert time.monotonic() - started < 2.5
    assert not result.complete and "SMARTAPP_FHIR_DEADLINE" in str(result.problem)


def test_retries_and_backoff_stop_at_the_deadline(hostile: HostileFhir) -> None:
    with FhirClient("http://127.0.0.1:9/fhir", backoff_s=5, limits=ReadLimits.start(1.0)) as c:
        started = time.monotonic()
        result = c.search_all("Observation?patient=1")
    assert time.monotonic() - started < 1.5  # no 5 s backoff past a 1 s deadline
    assert not result.complete and "SMARTAPP_FHIR_DEADLINE" in str(result.problem)


@pytest.mark.parametrize("mode", ["huge", "huge_declared", "gzip_bomb"])
def test_a_body_over_the_size_cap_is_not_read(hostile: HostileFhir, mode: str) -> None:
    hostile.mode = mode
    hostile.huge_bytes = 8 * MB
    with _client(hostile, max_bytes=1 * MB) as client:
        result = client.batch_search(AREAS)
        log = client.requests_made
    assert result.failed_areas == {"labs", "doses"}
    assert "SMARTAPP_FHIR_MAX_BYTES" in result.problems[0]
    assert log[-1].error == "not read"


def test_a_deeply_nested_answer_fails_its_areas_without_an_exception(
    hostile: HostileFhir,
) -> None:
    hostile.mode = "deep"
    with _client(hostile) as client:
        result = client.batch_search(AREAS)
        single = client.search_all("Observation?patient=1")
    assert result.failed_areas == {"labs", "doses"}
    assert "nested more than 100 levels" in result.problems[0]
    assert not single.complete and "nested" in str(single.problem)


def test_an_ordinary_answer_is_read_and_the_connection_reused(hostile: HostileFhir) -> None:
    with _client(hostile, deadline=5) as client:
        for _ in range(3):
            assert client.search_all("Observation?patient=1").complete


def test_nesting_scan_counts_levels_exactly() -> None:
    assert not nesting_exceeds(b"[" * 100 + b"]" * 100, 100)
    assert nesting_exceeds(b"[" * 101 + b"]" * 101, 100)
    assert not nesting_exceeds(b'{"a": [{"b": "[x]"}]}', 4)
    # Brackets inside strings count too: the scan can only be stricter than the real depth.
    assert nesting_exceeds(b'{"a": "[[[[]]]]"}', 3)
    assert parse_json(b'{"a": [1, {"b": 2}]}', "x") == {"a": [1, {"b": 2}]}
    assert parse_json(b"not json", "x") is None


def test_a_deadline_tells_its_setting() -> None:
    clock = iter([0.0, 0.5, 2.0, 2.0])
    deadline = Deadline(1.0, clock=lambda: next(clock))
    assert deadline.remaining() == 0.5
    assert deadline.expired
    err = deadline.exceeded("Observation search")
    assert isinstance(err, DeadlineExceeded) and "1 s" in str(err)


def test_unit_mocks_still_read_through_the_stream() -> None:
    """`responses` bodies (used by the unit tests) go through the same bounded reader."""
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.GET,
            "https://fhir.example.org/Patient/1",
            body=gzip.compress(b'{"resourceType": "Patient", "id": "1"}'),
            headers={"Content-Encoding": "gzip"},
            content_type="application/fhir+json",
        )
        with FhirClient("https://fhir.example.org") as client:
            assert client.read("Patient/1")["id"] == "1"
    assert issubclass(ResponseTooLarge, Exception)
