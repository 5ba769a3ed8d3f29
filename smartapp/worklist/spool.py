"""Exported resources parked on disk by patient, so a whole server's export fits any memory.

A system-level `$export` arrives one resource type at a time (all Patients, then all
Observations, …), so no patient can be evaluated until every file has been read. Held as
Python dicts, 5,000 generated patients (~450,000 resources) took 2.7 GB; about 6.6 KB
per resource, against ~1.1 KB as JSON text (benchmarks/results/worklist.md). `DiskBuckets`
keeps each resource as compact JSON in a private SQLite file instead and hands a
patient's resources back in arrival order, one patient at a time.

The file is scratch: created with mode 0600 in the temporary directory (`TMPDIR`, or the
`directory` given), written without journal or fsync, and deleted on `close()`. JSON
rather than pickle, so what is read back can only ever be data.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from smartapp.fhir import jsonio

#: Rows written per `executemany`: large enough to amortise the call, small enough to
#: keep the pending list a few MB.
_BATCH = 2_000


class SpoolError(Exception):
    """The spool file could not be created or written (no space, no such directory, …)."""


@contextmanager
def _disk_errors(directory: str) -> Iterator[None]:
    try:
        yield
    except (OSError, sqlite3.Error) as err:
        raise SpoolError(
            f"Could not keep the exported records on disk in {directory} ({err}); "
            "free space there or point TMPDIR at a larger disk."
        ) from err


class DiskBuckets:
    """A `fhir_mappings.search.population.BucketStore` in a temporary SQLite file.

    Use from one thread at a time (the worklist reads an export on a single thread).
    """

    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory or tempfile.gettempdir()
        self._pending: list[tuple[str, str]] = []
        self.count = 0
        self.path = ""
        with _disk_errors(self.directory):
            fd, self.path = tempfile.mkstemp(
                prefix="smartapp-export-", suffix=".sqlite", dir=self.directory
            )
            os.close(fd)
        try:
            with _disk_errors(self.directory):
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                # Scratch data, rebuilt by the next export: no journal, no fsync.
                self._db.execute("PRAGMA journal_mode=OFF")
                self._db.execute("PRAGMA synchronous=OFF")
                self._db.execute("CREATE TABLE bucket (patient TEXT NOT NULL, body TEXT NOT NULL)")
                # Indexing after the load measured only ~15% faster (200,000 rows): not
                # worth a second mode.
                self._db.execute("CREATE INDEX bucket_patient ON bucket (patient)")
        except SpoolError:
            self.close()
            raise

    def append(self, patient_id: str, resource: dict[str, Any]) -> None:
        self._pending.append((patient_id, _dumps(resource)))
        if len(self._pending) >= _BATCH:
            self._flush()
        self.count += 1

    def take(self, patient_id: str) -> list[dict[str, Any]]:
        found = self.peek(patient_id)
        with _disk_errors(self.directory):
            self._db.execute("DELETE FROM bucket WHERE patient = ?", (patient_id,))
        return found

    def peek(self, patient_id: str) -> list[dict[str, Any]]:
        self._flush()
        with _disk_errors(self.directory):
            rows = self._db.execute(
                "SELECT body FROM bucket WHERE patient = ? ORDER BY rowid", (patient_id,)
            ).fetchall()
        return [jsonio.loads(body) for (body,) in rows]

    def close(self) -> None:
        """Drop the file. Safe to call twice, and after a failed start."""
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
        if self.path:
            Path(self.path).unlink(missing_ok=True)

    def __enter__(self) -> DiskBuckets:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _flush(self) -> None:
        if self._pending:
            with _disk_errors(self.directory):
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO bucket VALUES (?, ?)", self._pending)
                self._db.execute("COMMIT")
            self._pending.clear()


def _dumps(resource: dict[str, Any]) -> str:
    return jsonio.dumps_text(resource)
