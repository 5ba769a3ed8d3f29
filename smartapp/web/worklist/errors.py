"""How the worklist's refusals and failures look, registered once on its blueprint (no
view catches them).

- `PageError` (a refused form, a broken link): the worklist's message page, with a link
  back to the worklist as it was shown (the form's `return` query).
- `LoginRequired` in population mode: the page and "Read the server again" go to the
  organisation's sign-in page; the other routes show the "please sign in" page.
- `FhirError` while creating Tasks: "Nothing could be written" (502). Elsewhere a FHIR
  error is not expected (the page reads the stored worklist) and stays a server error.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from smartapp.fhir import FhirError
from smartapp.launch.login import LoginRequired
from smartapp.web.errors import PageError, launch_error_page
from smartapp.web.worklist.page import url
from smartapp.worklist import WorklistFilters

log = logging.getLogger(__name__)

#: Routes that send a visitor who has not signed in yet to the sign-in page.
SIGN_IN_REDIRECTS = frozenset({"worklist.index", "worklist.refresh"})
#: Routes whose FHIR failure is a page: the title for it.
FHIR_FAILURES = {"worklist.tasks": "Nothing could be written"}


def parse_query(text: str) -> dict[str, list[str]]:
    return parse_qs(text[:2000], keep_blank_values=False)


def return_filters() -> WorklistFilters:
    """The filters of the worklist page a form was posted from (its `return` field)."""
    return WorklistFilters.from_query(parse_query(request.form.get("return", "")))


def back_link() -> str:
    """The worklist as the form's page showed it (the plain worklist for a link)."""
    return url("worklist.index", return_filters().query_string())


def message_page(status: int, title: str, message: str, back: str) -> Response:
    html = render_template("worklist/message.html", title=title, message=message, back=back)
    return Response(html, status=status, mimetype="text/html")


def _refused(error: PageError) -> Response:
    return message_page(error.status, error.title, error.message, back_link())


def _sign_in(error: LoginRequired) -> BaseResponse:
    if request.endpoint in SIGN_IN_REDIRECTS:
        # Population mode and no sign-in yet: off to the organisation's sign-in page.
        return redirect(url_for("launch.login"), code=302)
    return launch_error_page(error)


def _fhir_failed(error: FhirError) -> Response:
    title = FHIR_FAILURES.get(request.endpoint or "")
    if title is None:
        raise error  # the app's "something went wrong" page, logged with its traceback
    log.info("worklist task creation failed (HTTP %s)", error.status)
    return message_page(502, title, f"The FHIR server failed: {error}", back_link())


def register_error_handlers(bp: Blueprint) -> None:
    bp.register_error_handler(PageError, _refused)
    bp.register_error_handler(LoginRequired, _sign_in)
    bp.register_error_handler(FhirError, _fhir_failed)
