"""The SMART App Launch 2.x flow: launch → discovery → authorize → callback → token.

Security order matters and is tested: `iss` is normalised and checked against the
allowlist before any network call; `state` (256 bits) and the S256 PKCE verifier are
fresh per launch, kept server-side in the session that started the launch, valid 10
minutes and usable once; `aud` is the configured FHIR base of the tenant (never the raw
request text); the id_token is verified before `fhirUser` is trusted (an invalid one
rejects the launch); the session id and the CSRF token are rotated at sign-in.

OAuth mix-up defence (RFC 9700 §4.4): every EHR has its own redirect URI,
`{public URL}/callback/{tenant callback_id}`, and an answer is only accepted at the
redirect URI of the EHR its `state` was sent to — so an allowlisted but hostile server
that relays another EHR's authorization cannot make the app send that EHR's code and PKCE
verifier to its own token endpoint. When the server names itself on the answer
(RFC 9207 `iss`, required when its discovery promises it), that name must match too. The
token endpoint itself must be on the EHR's origin (`discovery`, tenant `auth_origins`).

Error answers show a fixed sentence per known OAuth error code and never the answer's own
text: anyone can send a browser to `/callback?error=…&error_description=…`.

Scope negotiation: when the EHR answers `invalid_scope` (at the authorization or the token
step; a site may have registered the app read-only or v1-only), the app asks once more
for the read part of its request (`scopes.read_only`, in the same v1/v2 syntax) and then
runs read-only, with a banner saying why. A second refusal ends the launch. The granted
scopes are always what the app goes by: a token response without `scope` is taken as
read-only. EHR error codes are shown with our own sentence and the code; the EHR's
`error_description` is logged, cleaned, only when the answer belongs to this session's
launch, and never shown (`oauth_errors`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fhir_mappings.ids import is_fhir_id
from smartapp.config import Tenant, normalise_base
from smartapp.launch import tokens
from smartapp.launch.context import current_context, new_launch_record
from smartapp.launch.discovery import SmartConfiguration, discover, require_secure
from smartapp.launch.errors import (
    AuthorizationDenied,
    DiscoveryError,
    IssuerNotAllowed,
    LaunchError,
    StateError,
)
from smartapp.launch.idtoken import resolve_fhir_user, validate_id_token
from smartapp.launch.login import LOGIN_KEY, current_login
from smartapp.launch.oauth_errors import explain, log_refusal
from smartapp.launch.scopes import GrantedScopes, read_only, requested_scopes, with_refresh_scope
from smartapp.launch.session_store import LAUNCH_KEY, PENDING_TTL_S, TOKEN_KEY
from smartapp.launch.state import launch_state
from smartapp.launch.websession import ensure_session_id, rotate_session_id, session_id

log = logging.getLogger(__name__)

#: FHIR `id` datatype: the only shape a patient or encounter id from the EHR may have.
_MAX_LAUNCH_PARAM = 4096
_MAX_TEXT = 200

#: Where the browser goes after a successful launch.
PATIENT_PAGE = "/patient"
WORKLIST_PAGE = "/worklist"


def allowed_tenant(iss: str | None) -> Tenant:
    """The tenant for `iss`, or IssuerNotAllowed. Never touches the network."""
    value = (iss or "").strip()
    if not value:
        raise IssuerNotAllowed(
            "The launch did not say which FHIR server to use (the 'iss' parameter is missing)."
        )
    parts = urlsplit(value)
    tenant = None
    if (
        parts.scheme in ("http", "https")
        and parts.netloc
        and not parts.query
        and not parts.fragment
    ):
        tenant = launch_state().config.tenant(normalise_base(value))
    if tenant is None:
        # The address is not repeated: it is request text, and a page that shows it could
        # dress an attacker's server up as one the app vouches for.
        log.info("launch refused: the FHIR server is not on the allowlist")
        raise IssuerNotAllowed(
            "The FHIR server named in this launch is not allowed to launch the app. Ask your "
            "administrator to add it to the app's allowlist (SMARTAPP_ISSUERS)."
        )
    return tenant


def fhir_id(value: object, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not is_fhir_id(value):
        raise LaunchError(f"The EHR sent a {what} id the app cannot use.")
    return value


def start_launch(iss: str | None, launch: str | None, *, callback_base: str) -> str:
    """Begin an EHR launch (`launch` given) or a standalone launch; the authorize URL.

    `callback_base` is `{public URL}/callback`; the redirect URI adds the tenant's id."""
    tenant = allowed_tenant(iss)
    if tenant.open_server:
        raise LaunchError(
            "This FHIR server is an open test server without sign-in; open it from the "
            "launch page instead.",
        )
    if launch is not None and (not launch or len(launch) > _MAX_LAUNCH_PARAM):
        raise LaunchError("The EHR's launch parameter is empty or too long.")
    ehr_launch = launch is not None
    if not tenant.client_id:
        raise LaunchError(
            "No client_id is configured for this EHR; ask the administrator to register the app.",
            status=500,
        )
    smart = discover(
        tenant.iss, auth_origins=tenant.auth_origins, assume_pkce=tenant.quirks.assume_pkce
    )
    redirect_uri = f"{callback_base.rstrip('/')}/{tenant.callback_id}"
    if smart.authorization_endpoint is None:  # pragma: no cover - discover() requires it
        raise DiscoveryError("The EHR's SMART configuration has no authorization endpoint.")
    scope = launch_scopes(tenant, smart, ehr_launch=ehr_launch)
    log.info(
        "launch started for tenant %s (%s)",
        tenant.display_name,
        "EHR launch" if ehr_launch else "standalone",
    )
    return _authorize(tenant, smart, scope, launch=launch, redirect_uri=redirect_uri)


def launch_scopes(tenant: Tenant, smart: SmartConfiguration, *, ehr_launch: bool) -> str:
    """The scope parameter: the tenant's (or configured) scopes, with the tenant's refresh
    scope, in v1 or v2 syntax (tenant `scope_version`, else as discovery says)."""
    config = launch_state().config
    base = with_refresh_scope(tenant.scopes or config.scopes, tenant.quirks.refresh_scope)
    version = tenant.quirks.scope_version
    v1 = version == "v1" or (version == "auto" and smart.uses_v1_scopes_only)
    return requested_scopes(base, ehr_launch=ehr_launch, v1=v1)


def _authorize(
    tenant: Tenant,
    smart: SmartConfiguration,
    scope: str,
    *,
    launch: str | None,
    redirect_uri: str,
    negotiated: str | None = None,
) -> str:
    """The authorize URL for `scope`, with fresh state, PKCE verifier and nonce kept in
    the session. `negotiated`: the EHR's error code that made this a second request."""
    if smart.authorization_endpoint is None:  # pragma: no cover - checked by the callers
        raise DiscoveryError("The EHR's SMART configuration has no authorization endpoint.")
    if not tenant.client_id:  # pragma: no cover - checked by start_launch
        raise LaunchError("No client_id is configured for this EHR.", status=500)
    code_verifier = secrets.token_urlsafe(64)
    oauth_state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32) if "openid" in scope.split() else None
    aud = tenant.iss  # the configured base, whatever spelling the launch request used
    url = tokens.authorization_url(
        tenant.client_id,
        smart.authorization_endpoint,
        scope=scope,
        redirect_uri=redirect_uri,
        state=oauth_state,
        code_verifier=code_verifier,
        aud=aud,
        launch=launch,
        nonce=nonce,
    )
    sid = ensure_session_id()
    launch_state().store.add_pending(
        sid,
        oauth_state,
        {
            "iss": tenant.iss,
            "launch": launch,
            "code_verifier": code_verifier,
            "nonce": nonce,
            "scope": scope,
            "redirect_uri": redirect_uri,
            "callback_id": tenant.callback_id,
            "smart": smart.to_record(),
            "negotiated": negotiated,
            "created": time.time(),
        },
        PENDING_TTL_S,
    )
    return url


def _ask_again_read_only(pending: Mapping[str, Any], code: str) -> str:
    """After `invalid_scope`: the authorize URL for the read part of what was asked (once;
    module doc). The launch then runs read-only, and says why."""
    tenant = allowed_tenant(str(pending["iss"]))
    smart = SmartConfiguration.from_record(pending["smart"])
    scope = read_only(str(pending["scope"]))
    log.info(
        "tenant %s refused the scopes (%s); asking for read access only",
        tenant.display_name,
        code,
    )
    launch = pending.get("launch")
    return _authorize(
        tenant,
        smart,
        scope,
        launch=launch if isinstance(launch, str) else None,
        redirect_uri=str(pending["redirect_uri"]),
        negotiated=code,
    )


def _text(value: object) -> str | None:
    return value.strip()[:_MAX_TEXT] if isinstance(value, str) and value.strip() else None


def _banner(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() != "false"
    return True


def _style_url(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return require_secure(value, "style URL")
    except DiscoveryError:
        return None


def complete_callback(args: Mapping[str, str], callback_id: str | None = None) -> str:
    """Finish the launch from the callback's query parameters; the page to go to next.

    `callback_id` is the last segment of the redirect URI the answer arrived at (None for
    the bare `/callback`, which no launch uses)."""
    state = launch_state()
    oauth_state = args.get("state")
    sid = session_id()
    pending = (
        state.store.take_pending(sid, oauth_state) if sid is not None and oauth_state else None
    )
    error = args.get("error")
    if error:
        # Our sentence and the code (when it has the shape of one) on the page. The EHR's
        # own text is logged, cleaned, only for an answer to this session's launch at
        # that EHR's redirect URI: otherwise anyone could write into the app's log.
        ours = (
            pending is not None
            and pending.get("kind") is None
            and pending.get("callback_id") == callback_id
        )
        where = allowed_tenant(str(pending["iss"])).display_name if ours and pending else "?"
        description = args.get("error_description") if ours else None
        log_refusal(log, "authorization", where, error, description)
        if ours and pending and error == "invalid_scope" and not pending.get("negotiated"):
            return _ask_again_read_only(pending, error)
        raise AuthorizationDenied(explain(error))
    if not oauth_state:
        raise StateError("The sign-in response has no 'state'; please launch the app again.")
    if sid is None:
        raise StateError(
            "This sign-in response does not belong to this browser session. If the app runs "
            "inside the EHR, the browser may be blocking its cookie; please launch again."
        )
    if pending is None or pending.get("kind") is not None:
        raise StateError(
            "This sign-in response is unknown, expired or was already used; please launch "
            "the app again from the EHR."
        )
    if pending.get("callback_id") != callback_id:
        # The answer came back at another EHR's redirect URI: a mix-up attempt, or a
        # registration pointing at the wrong address. The code is not used.
        log.warning("authorization answer at another EHR's redirect URI refused")
        raise StateError(
            "This sign-in response arrived at the address of another EHR, so the app did not "
            "use it. Please launch again; if this keeps happening, ask your administrator to "
            "check the redirect URI registered for this EHR."
        )
    _check_iss_parameter(args.get("iss"), SmartConfiguration.from_record(pending["smart"]))
    code = args.get("code")
    if not code:
        raise LaunchError("The sign-in response has no authorization code.")
    tenant = allowed_tenant(str(pending["iss"]))
    smart = SmartConfiguration.from_record(pending["smart"])
    try:
        token = tokens.exchange_code(
            tenant,
            state.app_key,
            token_endpoint=smart.token_endpoint,
            code=code,
            code_verifier=str(pending["code_verifier"]),
            redirect_uri=str(pending["redirect_uri"]),
        )
    except tokens.TokenRefused as refused:
        if refused.code == "invalid_scope" and not pending.get("negotiated"):
            return _ask_again_read_only(pending, refused.code)
        raise
    granted_text = token.get("scope")
    if not isinstance(granted_text, str):
        # SMART requires `scope`. Without it the app does not assume what it asked for:
        # it reads as asked (the server refuses what it does not allow) and never writes.
        log.warning(
            "token response for tenant %s has no scope: running read-only", tenant.display_name
        )
        granted_text = read_only(str(pending["scope"]))
    granted = GrantedScopes.parse(granted_text)
    fhir_user = _verified_fhir_user(token, tenant, smart, pending)
    patient = fhir_id(token.get("patient"), "patient")
    if patient is None and granted.has_patient_scopes:
        raise LaunchError(
            "The EHR granted patient access but did not say which patient; please launch the "
            "app from a patient's chart."
        )
    record = new_launch_record(
        iss=tenant.iss,
        tenant_label=tenant.display_name,
        patient=patient,
        # The EHR chose the patient: this session serves that patient only (patient lock).
        patient_lock=patient is not None,
        encounter=fhir_id(token.get("encounter"), "encounter"),
        need_patient_banner=_banner(token.get("need_patient_banner")),
        fhir_user=fhir_user,
        intent=_text(token.get("intent")),
        smart_style_url=_style_url(token.get("smart_style_url")),
        scope=granted.raw,
        # Why this launch asked twice (the EHR's code), for the read-only banner.
        scope_negotiated=pending.get("negotiated"),
    )
    token_data = tokens.token_record(token, token_endpoint=smart.token_endpoint)
    token_data["obtained_at"] = time.time()
    new_sid = rotate_session_id()
    # One mode per browser session: an EHR launch ends a population sign-in.
    state.store.discard(new_sid, LOGIN_KEY)
    state.store.set(new_sid, LAUNCH_KEY, record)
    state.store.set(new_sid, TOKEN_KEY, token_data)
    can_write = granted.can_write("CarePlan") and granted.can_write("Task")
    log.info(
        "launch completed for tenant %s: %d scopes granted, plan write-back %s",
        tenant.display_name,
        len(granted),
        "allowed" if can_write else "not allowed (read-only)",
    )
    return PATIENT_PAGE if patient else WORKLIST_PAGE


def _check_iss_parameter(sent: str | None, smart: SmartConfiguration) -> None:
    """RFC 9207: an answer that names its server must name the one we sent the user to."""
    if sent is None:
        if smart.iss_parameter:
            raise StateError("The sign-in response does not say which server sent it.")
        return
    expected = smart.issuer
    if expected is None or sent.rstrip("/") != expected.rstrip("/"):
        log.warning("authorization answer naming another issuer refused")
        raise StateError("This sign-in response came from another server than the EHR's.")


def _verified_fhir_user(
    token: Mapping[str, Any], tenant: Tenant, smart: SmartConfiguration, pending: Mapping[str, Any]
) -> str | None:
    id_token = token.get("id_token")
    if not id_token:
        if "openid" in str(pending.get("scope", "")).split():
            log.warning("no id_token from tenant %s: the user is unknown", tenant.display_name)
        return None
    if not isinstance(id_token, str) or not tenant.client_id:
        raise LaunchError("The EHR's identity token is malformed.")
    claims = validate_id_token(
        id_token,
        smart=smart,
        fhir_base=tenant.iss,
        client_id=tenant.client_id,
        nonce=pending.get("nonce"),
    )
    return resolve_fhir_user(claims.get("fhirUser"), tenant.iss)


def open_target(iss: str | None, patient: str | None) -> tuple[Tenant, str | None]:
    """The allowlisted open server and patient id an `/open` request names (or an error)."""
    tenant = allowed_tenant(iss)
    if not tenant.open_server:
        raise IssuerNotAllowed(
            "This FHIR server is not configured as an open server; launch the app from the "
            "EHR instead."
        )
    return tenant, fhir_id(patient, "patient")


def session_to_replace() -> str | None:
    """What an open-server session would end in this browser: the EHR of a live launch,
    or the app's own sign-in; None when there is nothing worth asking about."""
    context = current_context()
    if context is not None and not context.open_server:
        return context.tenant_label
    if current_login() is not None:
        return "your sign-in to the app"
    return None


def open_server_launch(iss: str | None, patient: str | None) -> str:
    """Open-server mode: no OAuth, full capabilities, patient in context."""
    tenant, patient_id = open_target(iss, patient)
    state = launch_state()
    sid = rotate_session_id() if session_id() else ensure_session_id()
    state.store.discard(sid, TOKEN_KEY)
    state.store.discard(sid, LOGIN_KEY)
    state.store.set(
        sid,
        LAUNCH_KEY,
        new_launch_record(
            iss=tenant.iss,
            tenant_label=tenant.display_name,
            patient=patient_id,
            scope="",
            open_server=True,
        ),
    )
    log.info("open-server session started for tenant %s", tenant.display_name)
    return PATIENT_PAGE if patient_id else WORKLIST_PAGE
