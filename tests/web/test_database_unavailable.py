"""When the app's database does not answer: a clear 503 page, and `/healthz` says degraded
with the reason (a load balancer takes the instance out; compose shows it unhealthy)."""

from __future__ import annotations

from pathlib import Path

from smartapp.config import AppConfig
from smartapp.store import Database
from smartapp.web import create_app
from tests.support.navigation import TYPED

SECRET = "test-secret-key-0123456789abcdef"


def test_healthz_reports_a_database_that_does_not_answer() -> None:
    dead = Database("postgresql://app:pw-secret@127.0.0.1:9/app")
    app = create_app(AppConfig(secret_key=SECRET, insecure_cookies=True), database=dead)
    reply = app.test_client().get("/healthz")
    assert reply.status_code == 503
    assert reply.json["status"] == "degraded"
    assert reply.json["reason"].startswith("the app's database does not answer: ")
    assert "pw-secret" not in reply.text


def test_healthz_is_ok_when_the_database_answers(tmp_path: Path) -> None:
    config = AppConfig(secret_key=SECRET, database_url=f"sqlite:///{tmp_path / 'a.db'}")
    reply = create_app(config).test_client().get("/healthz")
    assert reply.status_code == 200 and reply.json["status"] == "ok"


def test_a_session_page_says_the_database_is_unavailable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    config = AppConfig(
        secret_key=SECRET,
        database_url=url,
        insecure_cookies=True,
        issuers=("http://hapi.local/fhir",),
        open_servers=("http://hapi.local/fhir",),
    )
    app = create_app(config)
    client = app.test_client()
    opened = client.get("/open?iss=http://hapi.local/fhir", headers=TYPED)
    assert opened.status_code in (302, 303)
    # The database goes away under the running app: its file becomes a directory.
    db_file = tmp_path / "a.db"
    for path in tmp_path.glob("a.db*"):
        path.unlink()
    db_file.mkdir()
    app.extensions["smartapp.store"].after_fork()  # drop the pooled connection
    page = client.get("/worklist")
    assert page.status_code == 503
    assert "The app&#39;s database is not available" in page.text or (
        "The app's database is not available" in page.text
    )
    assert "Traceback" not in page.text
    assert page.headers["Retry-After"] == "30"
    assert client.get("/healthz").status_code == 503
