"""Session-wide real servers. HAPI starts once (about a minute) and only when a test asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smartapp.store import Database
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


@pytest.fixture(params=("sqlite", "postgresql"))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty app database, once on SQLite and once on PostgreSQL."""
    from tests.support.databases import empty_database_url

    return empty_database_url(request.param, tmp_path, request)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated app database (schema at head), once per backend."""
    from smartapp.store.migrate import upgrade

    db = Database(database_url)
    upgrade(db)
    yield db
    db.close()
