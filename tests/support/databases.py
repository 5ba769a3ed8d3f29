"""Empty app databases for tests: a SQLite file, or a fresh database on the test PostgreSQL."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.support.postgres import create_database

BACKENDS = ("sqlite", "postgresql")
_numbers = itertools.count(1)


def empty_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new empty database of `backend` (the PostgreSQL server starts once per session)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'smartapp-{next(_numbers)}.db'}"
    admin_url = request.getfixturevalue("postgres_admin_url")
    return create_database(admin_url, f"test_{next(_numbers)}")
