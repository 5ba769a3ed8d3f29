"""The app's own database: one SQLAlchemy engine, SQLite by default, PostgreSQL in deployments.

    db = Database(url)            # "sqlite:////var/lib/smartapp/smartapp.db",
                                  # "postgresql://user@host/db" (psycopg 3), or None (memory)
    with db.write() as conn: ...  # one transaction; on SQLite it takes the write lock first
    with db.read() as conn: ...

SQLite is set up for several processes on one file: WAL journal (readers never wait for the
writer), a busy timeout instead of "database is locked" errors, and `BEGIN IMMEDIATE` for
write transactions, because SQLite cannot upgrade a read transaction to a write one without
failing at once. `url=None` is a private in-memory database for unit tests (one process;
its transactions take turns on a lock because they share one connection).

Connections never cross a `fork()`: gunicorn forks its workers after the app is built, so
each worker calls `after_fork()` and opens its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from smartapp.launch.session_store import SessionStoreUnavailable

log = logging.getLogger(__name__)

#: How long a SQLite writer waits for another process's write transaction.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: How long a PostgreSQL connection attempt may take (an unreachable server fails fast).
CONNECT_TIMEOUT_S = 5
_WRITE = "smartapp_write"


class StoreError(RuntimeError):
    """The database cannot be used; `str(err)` is one sentence for people (no password)."""


class DatabaseUnavailable(StoreError, SessionStoreUnavailable):
    """The database did not answer (down, unreachable, refused the login, locked too long)."""


def normalise_url(url: str) -> str:
    """`postgres://` and `postgresql://` mean psycopg 3; SQLite stays as given.

    Raises ValueError naming what is wrong (the caller names the setting)."""
    try:
        parsed = make_url(url.strip())
    except ArgumentError as err:
        raise ValueError(f"'{safe_url(url)}' is not a database URL") from err
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "psycopg"):
            raise ValueError(f"PostgreSQL is reached with psycopg 3, not '{driver}'")
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ValueError(f"SQLite is reached with Python's sqlite3, not '{driver}'")
    else:
        raise ValueError(f"'{backend}' is not supported (use sqlite:/// or postgresql://)")
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def describe_error(err: BaseException) -> str:
    """A one-line reason from a driver error (first line only: no SQL, no parameters)."""
    original = getattr(err, "orig", None) or err
    first = str(original).strip().splitlines()
    return first[0][:200] if first else type(original).__name__


class Database:
    """One engine and the transaction helpers every store module uses (module doc)."""

    def __init__(self, url: str | None) -> None:
        self.memory = url is None
        self.url = "sqlite://" if url is None else normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        # An in-memory database exists once per connection: every thread shares one,
        # taking turns (unit tests only).
        self._turns: threading.RLock | None = threading.RLock() if self.memory else None
        self.engine = self._create_engine()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def display_url(self) -> str:
        return "in-memory SQLite" if self.memory else safe_url(self.url)

    def _create_engine(self) -> Engine:
        if self.memory:
            engine = create_engine(
                self.url,
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
            )
        elif self.is_sqlite:
            path = sqlite_file(self.url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                self.url,
                connect_args={
                    "check_same_thread": False,
                    "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                },
            )
        else:
            engine = create_engine(
                self.url,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=10,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
            )
        if self.is_sqlite:
            _sqlite_setup(engine, wal=not self.memory)
        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (committed on success, rolled back on error).

        Raises DatabaseUnavailable when the database does not answer."""
        with self._turns or nullcontext(), self._unavailable_as_error():
            with self.engine.connect() as conn:
                conn = conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction (a consistent view of the data)."""
        with self._turns or nullcontext(), self._unavailable_as_error():
            with self.engine.connect() as conn, conn.begin():
                yield conn

    @contextmanager
    def _unavailable_as_error(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as err:
            raise DatabaseUnavailable(
                f"the app's database ({self.display_url}) did not answer: {describe_error(err)}"
            ) from err

    def ping(self) -> str | None:
        """None when the database answers, else the reason (one line)."""
        try:
            with self.read() as conn:
                conn.execute(text("SELECT 1"))
        except DatabaseUnavailable as err:
            return describe_error(err.__cause__ or err)
        except SQLAlchemyError as err:
            return describe_error(err)
        return None

    def after_fork(self) -> None:
        """In a forked child: forget the parent's pooled connections (never use them)."""
        self.engine.dispose(close=False)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_setup(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite's own implicit
        # transactions would defer it, and could not take the write lock up front).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
