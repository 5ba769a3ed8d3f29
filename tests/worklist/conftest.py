from __future__ import annotations

from collections.abc import Iterator

import pytest

from fhir_mappings.site import Mappings, load_mappings
from smartapp.fhir import FhirClient
from smartapp.rules.settings import RuleSettings
from tests.support.fake_fhir import BASE


@pytest.fixture
def client() -> Iterator[FhirClient]:
    with FhirClient(BASE, sleep=lambda _s: None) as fhir:
        yield fhir


@pytest.fixture(scope="session")
def mappings() -> Mappings:
    return load_mappings(None)


@pytest.fixture(scope="session")
def settings() -> RuleSettings:
    return RuleSettings()
