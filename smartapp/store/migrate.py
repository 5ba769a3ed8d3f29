"""Schema migrations (Alembic): `smartapp db upgrade` applies them; start-up checks them.

    upgrade(db)            apply every migration not yet applied (idempotent)
    schema_state(db)       (current revision or None, the revision this code needs)
    require_current(db)    StoreError with the command to run when the schema is behind

A brand-new SQLite file (no tables at all) is created at the current revision by
`prepare(db)`, so a fresh install and `scripts/demo` need no set-up; a database that already
has a schema, and any PostgreSQL database, is only ever changed by `smartapp db upgrade`.
An in-memory database (unit tests) is built from the table definitions directly.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from smartapp.store.database import Database, DatabaseUnavailable, StoreError, describe_error
from smartapp.store.schema import metadata

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
UPGRADE_COMMAND = "smartapp db upgrade"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise StoreError("the app's schema migrations are missing")
    return head


def current_revision(db: Database) -> str | None:
    try:
        with db.read() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as err:
        raise DatabaseUnavailable(
            f"the database {db.display_url} cannot be reached: {describe_error(err)}"
        ) from err


def schema_state(db: Database) -> tuple[str | None, str]:
    """(the database's revision, or None when it has none; the revision this code needs)."""
    return current_revision(db), head_revision()


def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str]:
    """Apply the migrations up to `revision`; (revision before, revision after)."""
    before = current_revision(db)
    try:
        with db.write() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    except SQLAlchemyError as err:
        raise StoreError(f"the migration failed: {describe_error(err)}") from err
    after = current_revision(db)
    if before != after:
        log.info("database schema upgraded from %s to %s", before or "nothing", after)
    return before, after or ""


def _is_empty(db: Database) -> bool:
    with db.read() as conn:
        return not inspect(conn).get_table_names()


def prepare(db: Database) -> None:
    """Make the schema usable at start-up, or raise StoreError saying what to run."""
    if db.memory:
        with db.write() as conn:
            metadata.create_all(conn)
        return
    current, head = schema_state(db)
    if current == head:
        return
    if current is None and db.is_sqlite and _is_empty(db):
        log.info("creating the app's SQLite database at %s", db.display_url)
        upgrade(db)
        return
    require_current(db)


def require_current(db: Database) -> None:
    current, head = schema_state(db)
    if current == head:
        return
    if current is None:
        raise StoreError(
            f"the database {db.display_url} has no schema yet: run `{UPGRADE_COMMAND}`"
        )
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        raise StoreError(
            f"the database {db.display_url} is at schema revision {current}, which this version "
            f"of the app does not know (a newer version migrated it); this version needs {head}"
        )
    raise StoreError(
        f"the database {db.display_url} is at schema revision {current} but this version of "
        f"the app needs {head}: run `{UPGRADE_COMMAND}`"
    )
