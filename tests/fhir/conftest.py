from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from fhir_fakes import BASE, TOKEN

from smartapp.fhir import FhirClient


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the client asked for (the injected `sleep`)."""
    return []


@pytest.fixture
def client(sleeps: list[float]) -> Iterator[FhirClient]:
    with FhirClient(BASE, token=TOKEN, sleep=sleeps.append) as fhir:
        yield fhir


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
