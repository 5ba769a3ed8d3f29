"""Slow FHIR servers must not starve the app: a thread stays free for /healthz.

Under `smartapp serve` each gunicorn worker runs `threads` threads. Requests that may call
out (to a FHIR server, an EHR's or the identity provider's token endpoint) need one of
`threads - 1` slots; one that finds none free is answered at once with a "busy, try again"
page (HTTP 503, `Retry-After`) instead of queuing behind them. Endpoints that never call
out (/healthz, static files, the JWKS, the launch page) need no slot, so they are answered
in milliseconds even while every other thread waits on a slow server — and those waits are
bounded themselves (SMARTAPP_FHIR_DEADLINE), so slots come back.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask, Response, g, request

log = logging.getLogger(__name__)

#: Endpoints that never call another server.
LOCAL_ENDPOINTS = frozenset({"health.healthz", "static", "launch.jwks", "dashboard.launch_page"})
RETRY_AFTER_S = 5


def limit_outbound(app: Flask, slots: int) -> None:
    """Let at most `slots` requests that may call out run at once in this process."""
    if slots < 1:
        raise ValueError("slots must be at least 1")
    semaphore = threading.BoundedSemaphore(slots)
    from smartapp.web.errors import render_error

    @app.before_request
    def _take_slot() -> Response | None:
        if request.routing_exception is not None or request.endpoint in LOCAL_ENDPOINTS:
            return None
        if not semaphore.acquire(blocking=False):
            log.warning("busy: all %d request slots wait on other servers; answered 503", slots)
            response = render_error(
                503,
                "The app is busy",
                "Every connection the app has to the EHR's servers is waiting for an answer "
                "right now. Nothing was changed. Please try again in a few seconds.",
            )
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        g._outbound_slot = True
        return None

    @app.teardown_request
    def _give_slot_back(_error: BaseException | None) -> None:
        if g.pop("_outbound_slot", False):
            semaphore.release()
