"""One user's session served by two app processes on one database, and kept by a restart.

Real processes: the sandbox EHR in front of the real HAPI server, and two
`python -m smartapp.cli serve` processes (the first with two gunicorn workers) sharing one
database — a SQLite file, then a real PostgreSQL server. The browser's cookie for
127.0.0.1 goes to both ports, as it would to two replicas behind a load balancer.

The sandbox issues access tokens that are already inside the app's refresh window and
rotates refresh tokens, revoking the whole family when an old one is presented: if either
process used a stale refresh token, the session would die. Alternating requests therefore
prove that tokens are shared (encrypted) through the database and refreshed under one lock.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e import stack as smart
from tests.e2e.stack import (
    ARTIFACTS,
    CLIENT_ID,
    DemoCohort,
    SmartStack,
    launch_options,
)
from tests.integration.stack import AUTO, data_round_trips, ehr_launch
from tests.support.loopback import LoopbackSession
from tests.support.postgres import create_database
from tests.support.servers import app_env, free_port, python_server, sandbox_server

pytestmark = pytest.mark.integration

demo_cohort = smart.demo_cohort


class TwoApps:
    def __init__(self, hapi: str, database_url: str, tag: str) -> None:
        self.hapi = hapi
        self.database_url = database_url
        self.tag = tag
        self.secret = secrets.token_urlsafe(32)
        self.sandbox_port, self.a_port, self.b_port = free_port(), free_port(), free_port()
        self.sandbox = f"http://127.0.0.1:{self.sandbox_port}"
        self.a = f"http://127.0.0.1:{self.a_port}"
        self.b = f"http://127.0.0.1:{self.b_port}"
        self.stack = ExitStack()

    def log(self, name: str) -> Path:
        return ARTIFACTS / f"two-apps-{self.tag}-{name}.log"

    def start_sandbox(self) -> None:
        options = launch_options(self.a, self.sandbox)
        self.stack.enter_context(
            sandbox_server(self.sandbox_port, self.hapi, self.log("sandbox"), *options)
        )

    @contextmanager
    def app(self, port: int, *, workers: int, name: str) -> Iterator[str]:
        base = f"http://127.0.0.1:{port}"
        with python_server(
            ["-m", "smartapp.cli", "serve", "--port", str(port), "--workers", str(workers)],
            "/healthz",
            self.log(name),
            port=port,
            env=app_env(
                {
                    # Both apps sign and read the same sessions.
                    "SMARTAPP_SECRET_KEY": self.secret,
                    "SMARTAPP_ISSUERS": f"{self.sandbox}/fhir,{self.hapi}",
                    "SMARTAPP_OPEN_SERVERS": self.hapi,
                    "SMARTAPP_CLIENT_ID": CLIENT_ID,
                    "SMARTAPP_PUBLIC_URL": base,
                    "SMARTAPP_DATABASE_URL": self.database_url,
                }
            ),
        ) as url:
            yield url

    def as_stack(self) -> SmartStack:
        return SmartStack(
            hapi=self.hapi,
            sandbox=self.sandbox,
            app=self.a,
            app_log=self.log("a"),
            sandbox_log=self.log("sandbox"),
            ehr_ui_port=free_port(),
        )

    def configure_sandbox(self, **changes: Any) -> None:
        reply = requests.post(f"{self.sandbox}/_admin/config", json=changes, timeout=10)
        assert reply.status_code == 200, reply.text


def migrate(database_url: str) -> None:
    from smartapp.store import Database
    from smartapp.store.migrate import upgrade

    db = Database(database_url)
    try:
        upgrade(db)
    finally:
        db.close()


@pytest.fixture(params=("sqlite", "postgresql"))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    url = create_database(request.getfixturevalue("postgres_admin_url"), "two_apps")
    migrate(url)  # PostgreSQL is never migrated implicitly
    return url


def test_two_processes_serve_one_session_and_a_restart_keeps_it(
    hapi_base: str, demo_cohort: DemoCohort, database_url: str
) -> None:
    apps = TwoApps(hapi_base, database_url, database_url.split(":", 1)[0])
    patient = demo_cohort.patient_ids["hbsag-positive"]
    with apps.stack, LoopbackSession() as browser:
        apps.start_sandbox()
        apps.configure_sandbox(**AUTO)
        # Every token is already "about to expire": each page view refreshes it.
        apps.configure_sandbox(access_token_lifetime=30)
        with apps.app(apps.a_port, workers=2, name="a") as a:
            launch = ehr_launch(apps.as_stack(), browser, patient)
            assert launch.response.status_code == 200, launch.html[:2000]
            assert data_round_trips(launch.html) >= 1
            with apps.app(apps.b_port, workers=1, name="b") as b:
                for url in (b, a) * 3:  # B, A, B, A, B, A: six refreshes, in turn
                    page = browser.get(f"{url}/patient", timeout=60)
                    assert page.status_code == 200, (url, page.text[:2000])
                    assert data_round_trips(page.text) >= 1
        # Both processes are gone; a new one on the same database keeps the session.
        with apps.app(apps.a_port, workers=1, name="a-restarted") as a:
            page = browser.get(f"{a}/patient", timeout=60)
            assert page.status_code == 200, page.text[:2000]
            assert data_round_trips(page.text) >= 1
        a_log, b_log = apps.log("a").read_text(), apps.log("b").read_text()
        assert "Traceback" not in a_log + b_log
        assert b_log.count("access token refreshed") >= 3
        assert a_log.count("access token refreshed") >= 3
