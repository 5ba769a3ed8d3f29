"""Schema migrations: they build exactly the tables the code uses, on SQLite and PostgreSQL;
start-up refuses a database that is behind with the command to run; a fresh SQLite file
needs no set-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from smartapp.config import AppConfig, ConfigError
from smartapp.store import Database, StoreError
from smartapp.store.migrate import head_revision, prepare, require_current, schema_state, upgrade
from smartapp.store.schema import metadata
from smartapp.web import create_app

SECRET = "test-secret-key-0123456789abcdef"


def test_the_migrations_build_exactly_the_tables_the_code_uses(database: Database) -> None:
    with database.read() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
    assert schema_state(database) == (head_revision(), head_revision())


def test_upgrading_twice_changes_nothing(database: Database) -> None:
    assert upgrade(database) == (head_revision(), head_revision())


def test_an_empty_database_is_refused_with_the_command_to_run(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(StoreError, match=r"has no schema yet: run `smartapp db upgrade`"):
            require_current(db)
    finally:
        db.close()


def test_a_schema_from_a_newer_version_is_refused(database: Database) -> None:
    with database.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="revision 9999, which this version of the app does not"):
        require_current(database)


def test_a_fresh_sqlite_file_is_created_at_start_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'smartapp.db'}"
    app = create_app(AppConfig(secret_key=SECRET, database_url=url))
    assert (tmp_path / "new" / "smartapp.db").is_file()
    assert app.test_client().get("/healthz").json["status"] == "ok"
    db = Database(url)
    try:
        assert schema_state(db)[0] == head_revision()
    finally:
        db.close()


def test_start_up_refuses_an_empty_postgresql_database(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    from tests.support.postgres import create_database

    url = create_database(postgres_admin_url, "never_migrated")
    with pytest.raises(ConfigError) as err:
        create_app(AppConfig(secret_key=SECRET, database_url=url))
    assert str(err.value).startswith("SMARTAPP_DATABASE_URL: ")
    assert "run `smartapp db upgrade`" in str(err.value)


def test_start_up_refuses_a_database_with_a_foreign_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    db = Database(url)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE something_else (x INTEGER)"))
    db.close()
    with pytest.raises(ConfigError, match="has no schema yet: run `smartapp db upgrade`"):
        create_app(AppConfig(secret_key=SECRET, database_url=url))


def test_an_unreachable_database_stops_start_up_with_one_line_and_no_password() -> None:
    url = "postgresql://app:hunter2-secret@127.0.0.1:9/app"
    with pytest.raises(ConfigError) as err:
        create_app(AppConfig(secret_key=SECRET, database_url=url))
    message = str(err.value)
    assert message.startswith("SMARTAPP_DATABASE_URL: the app's database (postgresql")
    assert "did not answer: connection failed" in message
    assert "hunter2" not in message and "\n" not in message


def test_prepare_builds_an_in_memory_database_from_the_tables() -> None:
    db = Database(None)
    prepare(db)
    with db.read() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
