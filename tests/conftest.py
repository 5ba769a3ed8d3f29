"""Session-wide real servers. HAPI starts once (about a minute) and only when a test asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import hapi_server

LOG_DIR = Path(__file__).resolve().parent / "e2e" / "artifacts"


@pytest.fixture(scope="session")
def hapi_base() -> Iterator[str]:
    """The FHIR base URL of a real HAPI FHIR JPA server (hapi/run), shared by the session."""
    with hapi_server(LOG_DIR) as base:
        yield base


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A real PostgreSQL server (tests/support/postgres.py), started once per session."""
    from tests.support.postgres import postgres_server

    with postgres_server() as url:
        yield url
