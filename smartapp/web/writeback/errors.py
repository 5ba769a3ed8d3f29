"""How the write-back's failures look, registered once on its blueprint (no view catches
them): every page says what happened and that nothing was written, with a way on.

The title, the back link and the "Review the plan again" link follow the step that failed
(`STEPS`): reading the patient for the preview, saving the plan, or acknowledging a
finding. A FHIR 401 that the client's one token renewal did not cure shows the relaunch
page, like everywhere else in the app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, g, render_template, request

from fhir_mappings.errors import UnusableInput
from fhir_mappings.write.writeback import WritebackBlocked
from smartapp.fhir import FhirError, TokenExpired
from smartapp.web.errors import PageError, relaunch_page
from smartapp.web.writeback.page import DASHBOARD, finding_anchor
from smartapp.writeback import PatientUnreadable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    #: The page title when the FHIR server failed or returned nothing usable.
    failed: str
    #: Offer "Review the plan again".
    retry: bool
    #: Where "Back to the dashboard" goes.
    back: Callable[[], str] = lambda: DASHBOARD


def _finding_card() -> str:
    return finding_anchor(str((request.view_args or {}).get("check", "")))


STEPS = {
    "preview": Step("The patient could not be read", retry=True),
    "save": Step("The plan was not saved", retry=True),
    "acknowledge": Step("The acknowledgement was not saved", retry=False, back=_finding_card),
}
#: The step each route starts with; `begin` names another (a confirm that shows the new
#: preview is reading for a preview again).
ROUTE_STEPS = {
    "writeback.preview": "preview",
    "writeback.save_plan": "save",
    "writeback.acknowledge_finding": "acknowledge",
}


def begin(step: str) -> None:
    g.writeback_step = step


def _step() -> tuple[str, Step]:
    name = g.get("writeback_step") or ROUTE_STEPS.get(request.endpoint or "", "preview")
    return name, STEPS[name]


def message_page(
    status: int, title: str, message: str, *, retry: bool = False, back: str = DASHBOARD
) -> Response:
    """A clear page (never a traceback): what happened, that nothing was written, a way on."""
    html = render_template(
        "writeback/message.html", title=title, message=message, retry=retry, back=back
    )
    return Response(html, status=status, mimetype="text/html")


def _failed(message: str) -> Response:
    _, step = _step()
    return message_page(502, step.failed, message, retry=step.retry, back=step.back())


def _refused(error: PageError) -> Response:
    values: dict[str, Any] = error.values
    return message_page(error.status, error.title, error.message, **values)


def _unreadable(error: PatientUnreadable) -> Response:
    log.info("write-back %s: the patient could not be read", _step()[0])
    return _failed(f"Nothing was written: {error}")


def _blocked(error: WritebackBlocked) -> Response:
    return message_page(409, "The plan cannot be prepared", f"Nothing was written: {error}")


def _no_data(error: UnusableInput) -> Response:
    log.info("write-back %s: the patient could not be read (%s)", _step()[0], type(error).__name__)
    return _failed(
        f"Nothing was written: the FHIR server did not return this patient's data ({error})."
    )


def _fhir_failed(error: FhirError) -> Response:
    log.info("write-back %s: FHIR request failed (HTTP %s)", _step()[0], error.status)
    return _failed(f"Nothing was written: {error}")


def register_error_handlers(bp: Blueprint) -> None:
    bp.register_error_handler(PageError, _refused)
    bp.register_error_handler(PatientUnreadable, _unreadable)
    bp.register_error_handler(WritebackBlocked, _blocked)
    bp.register_error_handler(UnusableInput, _no_data)
    bp.register_error_handler(TokenExpired, relaunch_page)
    bp.register_error_handler(FhirError, _fhir_failed)
