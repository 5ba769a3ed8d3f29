"""The app's database inside the web app: where views find it, and what a request sees when
it does not answer (a clear 503 page; `/healthz` says "degraded" with the reason).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, request

from smartapp.launch.session_store import SessionStoreUnavailable
from smartapp.launch.websession import raise_if_unavailable
from smartapp.store.database import Database, StoreError

log = logging.getLogger(__name__)

EXTENSION = "smartapp.store"
UNAVAILABLE_TITLE = "The app's database is not available"
UNAVAILABLE_MESSAGE = (
    "The app cannot reach its own database just now, so it cannot open your session or "
    "its stored worklist. Nothing was changed. Please try again in a few minutes; if it "
    "keeps happening, tell your administrator."
)
#: Endpoints that work without the session store (health checks, static files).
_WITHOUT_SESSION = frozenset({"health.healthz", "static"})


def init_database(app: Flask, db: Database) -> None:
    app.extensions[EXTENSION] = db

    @app.before_request
    def _session_store_answered() -> None:
        if request.endpoint not in _WITHOUT_SESSION:
            raise_if_unavailable()

    def _unavailable(error: Exception) -> Response:
        from smartapp.web.errors import render_error

        log.warning("database unavailable: %s", error)
        response = render_error(503, UNAVAILABLE_TITLE, UNAVAILABLE_MESSAGE)
        response.headers["Retry-After"] = "30"
        return response

    app.register_error_handler(SessionStoreUnavailable, _unavailable)
    app.register_error_handler(StoreError, _unavailable)


def current_database() -> Database:
    return current_database_of(current_app)


def current_database_of(app: Flask) -> Database:
    db: Database = app.extensions[EXTENSION]
    return db
