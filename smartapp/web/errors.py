"""Error pages: a clear message, the right status, never a traceback.

HTML for pages, JSON (`{"error", "message"}`) for `/api/…` and clients that ask for JSON.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from smartapp.fhir.errors import TokenExpired
from smartapp.launch.errors import LaunchError, RelaunchRequired
from smartapp.launch.login import LoginRequired

log = logging.getLogger(__name__)

TITLES = {
    400: "The request could not be used",
    401: "Please sign in again",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed here",
    500: "Something went wrong",
}
MESSAGES = {
    404: "There is no page at this address.",
    405: "This page cannot be used that way.",
    500: "The app hit an unexpected error. Nothing was saved. Please try again; if it keeps "
    "happening, tell your administrator the time it happened.",
}


#: Machine endpoints: JSON errors whatever the Accept header says.
JSON_PATHS = ("/api/", "/cds-services")
#: ... except these pages for people.
HTML_PATHS = ("/cds-services/report",)


class PageError(Exception):
    """A refusal or failure a view raises to show a page: the status, a title and a
    sentence a person can act on. The app renders it as the error page (JSON for machine
    endpoints); a feature blueprint registers its own handler to render it as its message
    page. `values` are extra template values of that page (a back link, a retry link)."""

    def __init__(self, status: int, title: str, message: str, **values: Any) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message
        self.values = values


def wants_json() -> bool:
    if request.path.startswith(JSON_PATHS) and not request.path.startswith(HTML_PATHS):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def render_error(
    status: int, title: str, message: str, *, relaunch: bool = False, sign_in: bool = False
) -> Response:
    if wants_json():
        response = jsonify({"error": title, "message": message})
    else:
        response = Response(
            render_template(
                "error.html",
                status=status,
                title=title,
                message=message,
                relaunch=relaunch,
                sign_in=sign_in,
            ),
            mimetype="text/html",
        )
    response.status_code = status
    return response


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if isinstance(error, InternalServerError):
        message = MESSAGES[500]
    else:
        message = MESSAGES.get(status) or str(error.description or "")
    response = render_error(status, TITLES.get(status, "Error"), message)
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def launch_error_page(error: LaunchError) -> Response:
    log.info("launch refused (%s): %s", error.status, error.title)
    return render_error(
        error.status,
        error.title,
        error.message,
        relaunch=isinstance(error, RelaunchRequired),
        sign_in=isinstance(error, LoginRequired),
    )


def relaunch_page(error: TokenExpired | None = None) -> Response:
    """The "please relaunch" page: the FHIR server refused the token even after a renewal."""
    relaunch = RelaunchRequired()
    return render_error(relaunch.status, relaunch.title, relaunch.message, relaunch=True)


def _page_error(error: PageError) -> Response:
    return render_error(error.status, error.title, error.message)


def register_error_handlers(app: Flask) -> None:
    for status in (400, 401, 403, 404, 405, 500):
        app.register_error_handler(status, _http_error)
    app.register_error_handler(LaunchError, launch_error_page)
    # A FHIR 401 that no view handled (it did not retry with a refreshed token).
    app.register_error_handler(TokenExpired, relaunch_page)
    app.register_error_handler(PageError, _page_error)
