"""A real PostgreSQL server for the store's tests, started from Debian's binaries.

    with postgres_server() as admin_url:     # postgresql://smartapp@127.0.0.1:PORT/postgres
        url = create_database(admin_url, "t1")      # a fresh, empty database

`initdb` + `pg_ctl` from /usr/lib/postgresql/<version>/bin (the `postgresql` package;
scripts/test installs it), a cluster in a temporary directory, listening on a free loopback
port with trust authentication, durability off (tests only). PostgreSQL refuses to run as
root, so under root the server runs as the `postgres` user the package creates.
`SMARTAPP_TEST_POSTGRES_URL` (an admin URL) uses an already-running server instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from tests.support.servers import free_port

PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "smartapp"


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory (AssertionError when none is)."""
    found = sorted(
        (path for path in PG_ROOT.glob("*/bin") if (path / "initdb").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    assert found, "PostgreSQL is not installed (scripts/test installs Debian's postgresql)"
    return found[-1]


def _run_as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@contextmanager
def postgres_server() -> Iterator[str]:
    external = os.environ.get("SMARTAPP_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    bindir = postgres_bindir()
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    # Directly in the temporary directory: the server's user must be able to reach it.
    home = Path(tempfile.mkdtemp(prefix="smartapp-pg-"))
    home.chmod(0o755)
    data, sockets, log = home / "data", home / "sockets", home / "server.log"
    sockets.mkdir()
    if owner is not None:
        for path in (home, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    as_owner = _run_as(owner)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        env=env,
        **as_owner,
    )
    port = free_port()
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        check=True,
        capture_output=True,
        env=env,
        **as_owner,
    )
    try:
        yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
            env=env,
            **as_owner,
        )
        shutil.rmtree(home, ignore_errors=True)


def create_database(admin_url: str, name: str) -> str:
    """A new empty database on the server; its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
