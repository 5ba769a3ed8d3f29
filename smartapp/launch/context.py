"""The launch context of the current request, and FHIR access with a fresh token.

Views call `current_context()` (or `require_context()`), then `fhir_client_for(context)`.
The token is refreshed about 60 s before it expires when the EHR gave a refresh token;
refreshes are serialised per session so a refresh token is used once, and the stored one
is replaced when the EHR rotates it. With no refresh token an expired session raises
`RelaunchRequired`, which the web layer shows as a "please relaunch" page (HTTP 401).

One browser session holds one launch context: a second launch in the same browser
(same EHR, other tab) replaces the first. Pages that write should echo
`LaunchContext.launch_id` and check it with `same_launch()` before writing.

Patient lock: a launch whose context names a patient serves that patient only, whatever
other (`user/`, `system/`) scopes the EHR granted; `may_open()` says which patients a
context may read. A "population" context (a patient opened from the population worklist
under the app's own login) has no token of its own: it borrows the app's Backend Services
token, and only while the login in the same session is valid.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from flask import g, has_request_context

from smartapp.fhir import FhirClient, ReadLimits
from smartapp.launch import tokens
from smartapp.launch.errors import RelaunchRequired
from smartapp.launch.population import population_token
from smartapp.launch.scopes import GrantedScopes
from smartapp.launch.session_store import LAUNCH_KEY, TOKEN_KEY
from smartapp.launch.state import launch_state
from smartapp.launch.websession import session_id

log = logging.getLogger(__name__)

#: Refresh this many seconds before the access token expires.
REFRESH_LEEWAY_S = 60


@dataclass(frozen=True)
class LaunchContext:
    """Who launched the app, for which patient, with which rights. No tokens in here."""

    fhir_base: str
    patient: str | None
    scopes: GrantedScopes
    fhir_user: str | None
    need_patient_banner: bool
    open_server: bool
    tenant_label: str
    #: Random id of this launch (not secret): pages echo it so a write can be checked
    #: against the launch it was shown for.
    launch_id: str
    encounter: str | None = None
    intent: str | None = None
    smart_style_url: str | None = None
    session_id: str | None = field(default=None, repr=False, compare=False)
    #: The EHR put a patient in context: this session serves that patient only.
    patient_locked: bool = False
    #: Opened from the population worklist: the app's Backend Services token, under login.
    population: bool = False
    #: The EHR's error code that made the launch ask again for read access only.
    scope_negotiated: str | None = None

    @property
    def user_level(self) -> bool:
        """May list and open other patients (worklist): never a patient-locked launch."""
        if self.patient_locked:
            return False
        return self.open_server or self.population or bool({"user", "system"} & self.scopes.levels)

    def may_open(self, patient_id: str) -> bool:
        """Whether this context may read `patient_id` (its own patient, or any when it is
        user-level; the FHIR server still applies its own rules)."""
        if self.user_level:
            return True
        return self.patient is not None and patient_id == self.patient

    @property
    def can_write_plan(self) -> bool:
        """CarePlan and Task write scopes granted (or an open server): show "save plan"."""
        if self.open_server:
            return True
        return self.scopes.can_write("CarePlan") and self.scopes.can_write("Task")

    def can_read(self, resource_type: str) -> bool:
        return self.open_server or self.scopes.can_read(resource_type)

    def can_write(self, resource_type: str) -> bool:
        return self.open_server or self.scopes.can_write(resource_type)

    @classmethod
    def from_record(cls, record: dict[str, Any], sid: str | None) -> LaunchContext:
        open_server = bool(record.get("open_server", False))
        population = bool(record.get("population", False))
        # A record from before the lock existed: locked when it names a patient.
        locked = record.get("patient_lock")
        if locked is None:
            locked = record.get("patient") is not None and not (open_server or population)
        return cls(
            fhir_base=str(record["iss"]),
            patient=record.get("patient"),
            scopes=GrantedScopes.parse(record.get("scope")),
            fhir_user=record.get("fhir_user"),
            need_patient_banner=bool(record.get("need_patient_banner", True)),
            open_server=open_server,
            tenant_label=str(record.get("tenant_label") or record["iss"]),
            launch_id=str(record.get("launch_id") or ""),
            encounter=record.get("encounter"),
            intent=record.get("intent"),
            smart_style_url=record.get("smart_style_url"),
            session_id=sid,
            patient_locked=bool(locked),
            population=population,
            scope_negotiated=record.get("scope_negotiated"),
        )


def new_launch_record(
    *,
    iss: str,
    tenant_label: str,
    patient: str | None,
    scope: str,
    open_server: bool = False,
    patient_lock: bool = False,
    need_patient_banner: bool = True,
    fhir_user: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    """The session's record of a new launch (EHR launch, open server or a patient opened
    from the population worklist), as `LaunchContext.from_record` reads it: a fresh
    launch id, the given fields and `more` (EHR launch details, `population`)."""
    return {
        "launch_id": secrets.token_urlsafe(12),
        "iss": iss,
        "tenant_label": tenant_label,
        "open_server": open_server,
        "patient": patient,
        "patient_lock": patient_lock,
        "need_patient_banner": need_patient_banner,
        "fhir_user": fhir_user,
        "scope": scope,
        **more,
        "started_at": time.time(),
    }


def current_context() -> LaunchContext | None:
    """The launch context of this request's session, or None (no launch yet)."""
    if not has_request_context():
        return None
    cached = g.get("_smartapp_context")
    if isinstance(cached, LaunchContext):
        return cached
    sid = session_id()
    if sid is None:
        return None
    record = launch_state().store.get(sid, LAUNCH_KEY)
    if record is None:
        return None
    context = LaunchContext.from_record(record, sid)
    g._smartapp_context = context
    return context


def require_context() -> LaunchContext:
    """`current_context()`, or RelaunchRequired (a 401 "please relaunch" page)."""
    context = current_context()
    if context is None:
        raise RelaunchRequired(
            "There is no active launch in this browser session — please open the app from "
            "the EHR again."
        )
    return context


def same_launch(context: LaunchContext, submitted_launch_id: str | None) -> bool:
    """True when a submitted form belongs to the current launch (not an older tab)."""
    return bool(submitted_launch_id) and hmac.compare_digest(
        context.launch_id.encode(), str(submitted_launch_id).encode()
    )


def _expiring(record: dict[str, Any], now: float) -> bool:
    expires_at = record.get("expires_at")
    return isinstance(expires_at, int | float) and expires_at - REFRESH_LEEWAY_S <= now


def access_token_for(context: LaunchContext, *, force_refresh: bool = False) -> str | None:
    """A valid bearer token for the context (None on an open server).

    `force_refresh=True` after the FHIR server answered 401 to a token that looked valid.
    """
    if context.open_server:
        return None
    if context.population:
        return population_token(force=force_refresh)[1].access_token
    state = launch_state()
    sid = context.session_id
    record = state.store.get(sid, TOKEN_KEY) if sid else None
    if sid is None or record is None:
        raise RelaunchRequired()
    now = time.time()
    if not force_refresh and not _expiring(record, now):
        return str(record["access_token"])
    with state.store.lock(sid):
        # Another request may have refreshed while this one waited for the lock.
        record = state.store.get(sid, TOKEN_KEY)
        if record is None:
            raise RelaunchRequired()
        # A forced refresh (the server refused the token) always refreshes, even a young
        # token: the server's word beats our clock. Requests that raced here refresh in turn
        # under the lock, each with the newest refresh token, so rotation stays intact.
        if not force_refresh and not _expiring(record, time.time()):
            return str(record["access_token"])
        tenant = state.config.tenant(context.fhir_base)
        if not record.get("refresh_token") or tenant is None:
            state.store.discard(sid, TOKEN_KEY)
            raise RelaunchRequired()
        try:
            new_record = tokens.refresh(tenant, state.app_key, record)
        except RelaunchRequired:
            state.store.discard(sid, TOKEN_KEY)
            raise
        new_record["obtained_at"] = time.time()
        state.store.set(sid, TOKEN_KEY, new_record)
        launch = state.store.get(sid, LAUNCH_KEY)
        if (
            launch is not None
            and new_record["scope"]
            and launch.get("scope") != new_record["scope"]
        ):
            # A refresh may narrow the grant; features follow the new scopes.
            launch["scope"] = new_record["scope"]
            state.store.set(sid, LAUNCH_KEY, launch)
            if has_request_context():
                g.pop("_smartapp_context", None)
        log.info("access token refreshed for tenant %s", tenant.display_name)
        return str(new_record["access_token"])


def fhir_session_for(
    context: LaunchContext, *, force_refresh: bool = False
) -> tuple[str, str | None]:
    """(FHIR base, bearer token or None) for code that does its own HTTP."""
    return context.fhir_base, access_token_for(context, force_refresh=force_refresh)


def view_limits() -> ReadLimits:
    """Read bounds for one view (SMARTAPP_FHIR_DEADLINE, SMARTAPP_FHIR_MAX_BYTES); the
    clock starts now. Create them once per view and pass them to every client it uses."""
    config = launch_state().config
    return ReadLimits.start(config.fhir_deadline_s, config.fhir_max_bytes)


def fhir_client_for(
    context: LaunchContext, *, force_refresh: bool = False, limits: ReadLimits | None = None
) -> FhirClient:
    """A `FhirClient` for the context's server with a valid token (None on open servers).

    The client only sends the token to URLs under `context.fhir_base`. When the server
    refuses the token (401) the client renews it once through the session (refresh token
    or a new Backend Services token) and sends the request again; a second 401 raises
    `TokenExpired`, and a session that cannot renew raises `RelaunchRequired`: both reach
    the web layer's "relaunch" page. No caller handles a 401 itself.
    """
    base, token = fhir_session_for(context, force_refresh=force_refresh)
    config = launch_state().config
    return FhirClient(
        base,
        None,
        token=token,
        timeout=config.fhir_timeout_s,
        dialect=config.dialect_for(base),
        limits=limits or view_limits(),
        reauthorize=lambda: access_token_for(context, force_refresh=True),
    )
