"""The store's tests run against SQLite (a file, as deployed) and a real PostgreSQL server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartapp.store import Database
from smartapp.store.migrate import upgrade
from tests.support.postgres import create_database

_numbers = itertools.count(1)

BACKENDS = ("sqlite", "postgresql")


def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'smartapp.db'}"
    admin_url = request.getfixturevalue("postgres_admin_url")
    return create_database(admin_url, f"test_{next(_numbers)}")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database, once per backend."""
    return empty_database_url(request.param, tmp_path, request)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database (schema at head), once per backend."""
    db = Database(database_url)
    upgrade(db)
    yield db
    db.close()
