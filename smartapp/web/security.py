"""Security headers, CSRF protection and the session cookie.

Headers on every response:
- `Content-Security-Policy`: no inline script or style; `frame-ancestors` lists 'self' and
  the origins of the allowlisted EHRs — never open servers — (plus tenant `frame_ancestors` and
  SMARTAPP_FRAME_ANCESTORS for EHR UIs on another origin); `form-action` allows 'self'
  and the issuers' origins (a form that starts a launch is redirected to the EHR).
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, and
  `Cache-Control: no-store` unless the view set its own. No `X-Frame-Options`: it would
  stop the app from running inside the EHR's iframe (frame-ancestors does that job).

CSRF: every POST/PUT/PATCH/DELETE must (1) come from this origin — `Sec-Fetch-Site:
same-origin`, else a matching `Origin`, else a matching `Referer` — and (2) carry the
session's token in the form field `csrf_token` or the `X-CSRF-Token` header. Templates
get it from `csrf_token()`. With `Referrer-Policy: no-referrer` browsers send `Origin:
null` on form posts, so the Fetch-Metadata header is what identifies our own forms;
`Origin: null` alone is never accepted. Machine endpoints authenticated otherwise (CDS
Hooks JWTs) opt out with `@csrf_exempt` or `csrf_exempt_blueprint(bp)`.

Cookie: only a signed, opaque session id (see `smartapp.launch.websession`):
`__Host-smartapp; Secure; HttpOnly; SameSite=None; Partitioned; Path=/` — SameSite=None
because the app runs in a third-party iframe inside the EHR, Partitioned (CHIPS) so
browsers that block third-party cookies keep it per EHR site. For plain-http local
development set SMARTAPP_INSECURE_COOKIES=1: the cookie is then `smartapp`, not Secure,
SameSite=Lax, not partitioned — which does NOT work inside a cross-site EHR iframe.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, request, session
from werkzeug.exceptions import BadRequest

from smartapp.config import AppConfig
from smartapp.launch.discovery import origin_of
from smartapp.launch.session_store import SessionStore
from smartapp.launch.state import launch_state
from smartapp.launch.websession import CSRF_SESSION_KEY, ServerSessionInterface

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SECURE_COOKIE = "__Host-smartapp"
INSECURE_COOKIE = "smartapp"

F = TypeVar("F", bound=Callable[..., Any])

_EXEMPT_BLUEPRINTS: set[str] = set()


class CsrfError(BadRequest):
    description = (
        "This form has expired or did not come from this app, so nothing was saved. "
        "Reload the page and try again."
    )


def csrf_exempt(view: F) -> F:
    """Mark a view as not needing a CSRF token (it must authenticate requests otherwise)."""
    view._csrf_exempt = True  # type: ignore[attr-defined]
    return view


def csrf_exempt_blueprint(blueprint: Blueprint) -> Blueprint:
    """Exempt every view of a blueprint (e.g. CDS Hooks, authenticated by signed JWTs)."""
    _EXEMPT_BLUEPRINTS.add(blueprint.name)
    return blueprint


def csrf_token() -> str:
    """The session's CSRF token (creating the session and token when needed)."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def expected_origin() -> str:
    public_url = launch_state().config.public_url
    return origin_of(public_url) if public_url else origin_of(request.host_url)


def is_same_origin_request() -> bool:
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site:
        return fetch_site.lower() == "same-origin"
    expected = expected_origin()
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return origin.rstrip("/").lower() == expected
    referer = request.headers.get("Referer")
    if referer:
        return origin_of(referer) == expected
    return False


def _is_exempt() -> bool:
    if request.blueprint in _EXEMPT_BLUEPRINTS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "_csrf_exempt", False))


def check_csrf() -> None:
    if request.method in SAFE_METHODS or request.routing_exception is not None or _is_exempt():
        return  # (no view runs for a 404/405: it gets its own error page)
    if not is_same_origin_request():
        raise CsrfError()
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    expected = session.get(CSRF_SESSION_KEY)
    if (
        not sent
        or not isinstance(expected, str)
        or not hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfError()


def build_csp(config: AppConfig) -> str:
    # Only EHRs may frame the app: an open FHIR server (HAPI sandbox) has no UI that would,
    # and anyone can host pages on some of them.
    tenants = [tenant for tenant in config.all_tenants() if not tenant.open_server]
    ancestors = {origin_of(tenant.iss) for tenant in tenants}
    ancestors.update(origin for tenant in tenants for origin in tenant.frame_ancestors)
    ancestors.update(config.frame_ancestors)
    form_targets = {origin_of(tenant.iss) for tenant in tenants}
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            " ".join(["form-action 'self'", *sorted(form_targets)]),
            " ".join(["frame-ancestors 'self'", *sorted(ancestors)]),
        ]
    )


def install_security(app: Flask, config: AppConfig, store: SessionStore) -> None:
    insecure = config.insecure_cookies
    app.config.update(
        SESSION_COOKIE_NAME=INSECURE_COOKIE if insecure else SECURE_COOKIE,
        SESSION_COOKIE_SECURE=not insecure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax" if insecure else "None",
        SESSION_COOKIE_PARTITIONED=not insecure,
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
    )
    app.session_interface = ServerSessionInterface(store)
    csp = build_csp(config)

    @app.before_request
    def _csrf() -> None:
        check_csrf()

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.pop("X-Frame-Options", None)
        if "Cache-Control" not in response.headers and request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response

    app.jinja_env.globals["csrf_token"] = csrf_token
