"""Fixtures every test directory may use (a pytest plugin: `pytest_plugins` in
tests/conftest.py), instead of importing fixtures into each conftest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from tests.launch.launch_fakes import OPEN_ISS
from tests.support.fake_fhir import FakeFhir
from tests.support.navigation import TYPED

Resource = dict[str, Any]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """`responses` for one test: every HTTP call must be mocked, not all mocks called."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the `app` fixture in force (the smart app's by default, see
    tests/launch/launch_fakes.py; a test directory or module may define its own `app`)."""
    return app.test_client()


@pytest.fixture
def open_patient(client: FlaskClient, rsps: responses.RequestsMock) -> Iterator[Any]:
    """`open_patient(resources, patient_id)`: an open-server session on that patient."""

    def start(resources: list[Resource], patient_id: str, **kwargs: Any) -> FakeFhir:
        fake = FakeFhir(resources, base=OPEN_ISS, **kwargs).install(rsps)
        response = client.get(
            "/open",
            query_string={"iss": OPEN_ISS, "patient": patient_id},
            headers=TYPED,
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return fake

    yield start
