"""Population mode: the app's Backend Services token, lent only to signed-in users.

The token reads every patient of `SMARTAPP_BACKEND_ISS`, so it never goes to a browser
session by itself: `population_token()` first asks `smartapp.launch.login` for a valid
sign-in of this session (and refuses when the app has no login configured). It is never
copied into a session either: a patient opened from the population worklist keeps only
`population: true` in its launch record, and every FHIR call borrows the token again —
so signing out, or the sign-in expiring, ends that access too. A patient-level EHR launch
never reaches this module (the patient lock, `LaunchContext.user_level`).

The token itself comes from one `BackendTokenProvider` per app process: a new signed
assertion shortly before the cached token expires (no refresh tokens in this flow), or
when the FHIR server refused it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import current_app

from smartapp.config import AppConfig
from smartapp.launch.backend import BackendTokenProvider
from smartapp.launch.errors import LaunchError
from smartapp.launch.login import SignedInUser, require_login
from smartapp.launch.scopes import GrantedScopes
from smartapp.launch.state import launch_state

BACKEND_EXTENSION = "smartapp.launch.population"
_provider_lock = threading.Lock()


class PopulationUnavailable(LaunchError):
    """No population mode here: no Backend Services, or no login to guard them."""

    status = 403
    title = "The worklist is not available here"


@dataclass(frozen=True)
class BackendToken:
    access_token: str
    scope: GrantedScopes
    expires_at: float


def population_configured(config: AppConfig) -> bool:
    """Backend Services AND the app's own login: the only way the browser gets them."""
    return bool(config.backend_iss) and config.login is not None


def startup_notice(config: AppConfig) -> str | None:
    """What start-up should say about population mode (None: nothing to say)."""
    if config.backend_iss and config.login is None:
        return (
            "SMARTAPP_BACKEND_ISS is set but SMARTAPP_LOGIN_ISSUER is not: the population "
            "worklist is served to no one in the browser (the command line still works)"
        )
    if config.login is not None and not config.backend_iss:
        return (
            "SMARTAPP_LOGIN_ISSUER is set but SMARTAPP_BACKEND_ISS is not: signing in to the "
            "app gives access to nothing"
        )
    return None


def _backend_token(force: bool) -> BackendToken:
    state = launch_state()
    iss = state.config.backend_iss
    if not iss:
        raise PopulationUnavailable("Backend Services are not configured (SMARTAPP_BACKEND_ISS).")
    with _provider_lock:
        provider = current_app.extensions.get(BACKEND_EXTENSION)
        if not isinstance(provider, BackendTokenProvider):
            provider = BackendTokenProvider(state.config, state.app_key, iss=iss)
            current_app.extensions[BACKEND_EXTENSION] = provider
    token = provider.token(force=force)
    return BackendToken(
        str(token["access_token"]),
        GrantedScopes.parse(str(token.get("scope") or state.config.backend_scopes)),
        float(token["expires_at"]),
    )


def population_token(*, force: bool = False) -> tuple[SignedInUser, BackendToken]:
    """The signed-in user and the Backend Services token they may use.

    Raises PopulationUnavailable (no backend, or no login configured: nobody gets it) or
    LoginRequired (this session has not signed in, or its sign-in expired)."""
    config = launch_state().config
    if not config.backend_iss:
        raise PopulationUnavailable(
            "The app has no Backend Services access configured (SMARTAPP_BACKEND_ISS)."
        )
    if config.login is None:
        raise PopulationUnavailable(
            "The worklist of all patients needs the app's own sign-in, which is not "
            "configured (SMARTAPP_LOGIN_ISSUER); ask your administrator. A care "
            "coordinator can still open the worklist with a standalone launch through the EHR."
        )
    user = require_login()
    return user, _backend_token(force)


def job_token(*, force: bool = False) -> BackendToken:
    """The Backend Services token for work a signed-in user started that goes on without
    their request (the background worklist refresh): `population_token()` was checked
    when it started. Needs an app context."""
    return _backend_token(force)
