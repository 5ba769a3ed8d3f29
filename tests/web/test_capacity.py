"""smartapp.web.capacity: requests that may call out take a slot; /healthz never waits."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from smartapp.web.capacity import limit_outbound


@pytest.fixture
def limited(app: Flask) -> tuple[Flask, threading.Event, threading.Event]:
    entered, release = threading.Event(), threading.Event()

    @app.get("/_slow")
    def _slow() -> str:  # stands in for a view waiting on a slow FHIR server
        entered.set()
        release.wait(10)
        return "done"

    limit_outbound(app, 1)
    return app, entered, release


def test_a_second_outbound_request_is_answered_busy_at_once_and_healthz_still_works(
    limited: tuple[Flask, threading.Event, threading.Event],
) -> None:
    app, entered, release = limited
    results: list[int] = []
    worker = threading.Thread(
        target=lambda: results.append(app.test_client().get("/_slow").status_code)
    )
    worker.start()
    assert entered.wait(5)
    busy = app.test_client().get("/_slow")
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert "The app is busy" in busy.get_data(as_text=True)
    assert app.test_client().get("/healthz").status_code == 200
    assert app.test_client().get("/.well-known/jwks.json").status_code == 200
    release.set()
    worker.join(5)
    assert results == [200]
    assert app.test_client().get("/_slow").status_code == 200  # the slot came back
