"""Session-wide real servers. HAPI starts once (about a minute) and only when a test asks."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartapp.store import Database
from tests.support.servers import hapi_server

# Fixtures shared by every directory: the unit tests' fakes (one fake FHIR server, `rsps`,
# `open_patient`) and the SMART launch fakes (`app`, `client`, `config`, `ehr`, `store`).
pytest_plugins = ["tests.launch.launch_fakes", "tests.support.fixtures"]

LOG_DIR = Path(__file__).resolve().parent / "e2e" / "artifacts"

# The app's default SQLite file lives under $XDG_DATA_HOME. Point it at a directory of this
# test run, so no test reads or writes the developer's own ~/.local/share/smartapp (a database
# left there by another checkout at another schema revision would fail unrelated tests), and
# the servers the tests start inherit the same scratch place.
_TEST_DATA_HOME = tempfile.mkdtemp(prefix="smartapp-tests-data-")
os.environ["XDG_DATA_HOME"] = _TEST_DATA_HOME
atexit.register(shutil.rmtree, _TEST_DATA_HOME, ignore_errors=True)


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
