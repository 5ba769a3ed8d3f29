"""Launch routes: `/launch` (EHR and standalone), `/callback`, `/open`, the app's JWKS,
and the app's own sign-in for population mode (`/login`, `/login/callback`, `/logout`).

The launch and sign-in routes are GETs arriving from outside (EHR, authorization server,
launch page), so they carry no CSRF token; none of them writes clinical data. `/open`
only creates a session for an allowlisted *open* server (no tokens involved). `/logout`
is a POST (CSRF-checked): another site cannot sign a user out.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from smartapp.launch import flow
from smartapp.launch.keys import public_jwks
from smartapp.launch.login import complete_login, start_login
from smartapp.launch.state import launch_state
from smartapp.launch.websession import end_session

bp = Blueprint("launch", __name__)


def _public_url(path: str, endpoint: str) -> str:
    """`{SMARTAPP_PUBLIC_URL}{path}`; without a public URL, the endpoint's URL as this request
    reached the app."""
    public_url = launch_state().config.public_url
    if public_url:
        return f"{public_url}{path}"
    return url_for(endpoint, _external=True)


def callback_base() -> str:
    """`{SMARTAPP_PUBLIC_URL}/callback`; each EHR's redirect URI adds its callback id."""
    return _public_url("/callback", "launch.callback")


@bp.get("/launch")
def launch() -> ResponseReturnValue:
    iss = request.args.get("iss")
    launch_param = request.args.get("launch")
    if iss is None and launch_param is None:
        tenants = [t for t in launch_state().config.all_tenants() if not t.open_server]
        return Response(render_template("launch/choose.html", tenants=tenants))
    url = flow.start_launch(iss, launch_param, callback_base=callback_base())
    return redirect(url, code=302)


@bp.get("/callback")
@bp.get("/callback/<callback_id>")
def callback(callback_id: str | None = None) -> ResponseReturnValue:
    target = flow.complete_callback(request.args, callback_id)
    return redirect(target, code=302)


#: Fetch Metadata values of a navigation this app's own pages started ("same-origin") or the
#: user typed or bookmarked ("none"). Anything else — another site, a sibling subdomain, or a
#: client that sends no Fetch Metadata at all (curl, very old browsers) — is asked first.
_OWN_NAVIGATION = frozenset({"same-origin", "none"})


@bp.get("/open")
def open_server() -> ResponseReturnValue:
    """Open an allowlisted open server. Goes straight on only for a navigation from this app's
    own pages or one the user typed; asks first (a same-origin form) otherwise, and whenever
    this would end a live EHR launch or sign-in: a link on any web page must not silently swap
    the patient or session a clinician is working in."""
    iss, patient = request.args.get("iss"), request.args.get("patient")
    tenant, _ = flow.open_target(iss, patient)
    replaces = flow.session_to_replace()
    if request.headers.get("Sec-Fetch-Site") not in _OWN_NAVIGATION or replaces is not None:
        page = render_template(
            "launch/confirm_open.html",
            server=tenant.display_name,
            replaces=replaces,
            iss=tenant.iss,
            patient=patient or "",
        )
        return Response(page, mimetype="text/html")
    return redirect(flow.open_server_launch(iss, patient), code=302)


@bp.post("/open")
def open_server_confirmed() -> ResponseReturnValue:
    """The confirmation form's answer (CSRF-checked and same-origin like every POST)."""
    target = flow.open_server_launch(request.form.get("iss"), request.form.get("patient"))
    return redirect(target, code=303)


def login_redirect_uri() -> str:
    """The sign-in's own redirect URI (register it at the identity provider)."""
    return _public_url("/login/callback", "launch.login_callback")


@bp.get("/login")
def login() -> ResponseReturnValue:
    return redirect(start_login(redirect_uri=login_redirect_uri()), code=302)


@bp.get("/login/callback")
def login_callback() -> ResponseReturnValue:
    return redirect(complete_login(request.args), code=302)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    end_session()
    return Response(render_template("launch/signed_out.html"), mimetype="text/html")


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(public_jwks(launch_state().app_key))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
