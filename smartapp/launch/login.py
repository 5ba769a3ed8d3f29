"""The app's own sign-in for population mode: OpenID Connect against the organisation's
identity provider (SPEC §1 "the app's own login"; SMARTAPP_LOGIN_*).

Backend Services mode reads every patient with the app's system token, so it is served
only to a person who signed in here AND is on the allowlist (`allowed_users` by the
configured user claim, or a member of one of `allowed_groups`). Without login settings
nobody gets the population worklist in the browser (the CLI is unaffected).

The flow is the same as an EHR launch's, with authlib: authorization code with PKCE
S256, a 256-bit `state` bound to the session and used once, a `nonce` in the id_token,
the id_token's signature checked against the issuer's JWKS, `iss` = the configured
issuer and `aud` = our client id. Its redirect URI (`/login/callback`) is its own, so an
EHR's answer cannot complete a sign-in, nor the reverse. Sign-in rotates the session id
and the CSRF token and ends any EHR launch held in the same browser session.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from smartapp.config import LoginSettings
from smartapp.launch.discovery import AUTH_TIMEOUT_S, fetch_json, is_https, require_secure
from smartapp.launch.errors import (
    AuthorizationDenied,
    DiscoveryError,
    LaunchError,
    StateError,
    TokenError,
)
from smartapp.launch.idtoken import issuer_keys, verify_claims
from smartapp.launch.session_store import LAUNCH_KEY, PENDING_TTL_S, TOKEN_KEY
from smartapp.launch.state import launch_state
from smartapp.launch.tokens import authorization_url, bound_token_responses, request_token
from smartapp.launch.websession import ensure_session_id, rotate_session_id, session_id

log = logging.getLogger(__name__)

LOGIN_KEY = "login"
PENDING_KIND = "login"
#: A sign-in lasts this long at most, however active the session (a working day).
LOGIN_MAX_AGE_S = 8 * 3600
WORKLIST_PAGE = "/worklist"
_MAX_CLAIM = 200


class LoginRequired(LaunchError):
    """Population mode needs the app's sign-in, and this session has none (or it ended)."""

    status = 401
    title = "Please sign in"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "The worklist of all patients needs you to sign in to the app with your "
            "organisation's account."
        )


class LoginNotAllowed(LaunchError):
    """The identity provider vouched for the user, but the allowlist does not name them."""

    status = 403
    title = "You are not allowed to use the worklist"


@dataclass(frozen=True)
class SignedInUser:
    """Who signed in (verified id_token claims only), kept in the session store."""

    issuer: str
    subject: str
    #: The value of the configured user claim (what the allowlist names).
    user: str
    name: str | None
    groups: tuple[str, ...]
    signed_in_at: float

    @property
    def display(self) -> str:
        """For pages and the Provenance of what this user writes."""
        return f"{self.name} ({self.user})" if self.name and self.name != self.user else self.user

    def to_record(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "subject": self.subject,
            "user": self.user,
            "name": self.name,
            "groups": list(self.groups),
            "signed_in_at": self.signed_in_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SignedInUser:
        return cls(
            issuer=str(record["issuer"]),
            subject=str(record["subject"]),
            user=str(record["user"]),
            name=record.get("name"),
            groups=tuple(str(group) for group in record.get("groups") or ()),
            signed_in_at=float(record["signed_in_at"]),
        )


@dataclass(frozen=True)
class _Provider:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    #: RFC 9207: the provider names itself (`iss`) on its authorization responses.
    iss_parameter: bool


def _settings() -> LoginSettings:
    settings = launch_state().config.login
    if settings is None:
        raise LaunchError(
            "The app's own sign-in is not configured (SMARTAPP_LOGIN_ISSUER), so the worklist "
            "of all patients is not available in the browser. Ask your administrator.",
            status=403,
            title="Sign-in is not configured",
        )
    return settings


def _provider(settings: LoginSettings, timeout: float = AUTH_TIMEOUT_S) -> _Provider:
    """The identity provider's endpoints from its OpenID configuration (issuer checked)."""
    strict = is_https(settings.issuer)
    doc = fetch_json(
        f"{settings.issuer}/.well-known/openid-configuration",
        what="OpenID configuration",
        timeout=timeout,
    )
    if not isinstance(doc, dict) or str(doc.get("issuer", "")).rstrip("/") != settings.issuer:
        raise DiscoveryError("The sign-in service's OpenID configuration names another issuer.")
    methods = doc.get("code_challenge_methods_supported")
    if isinstance(methods, list) and methods and "S256" not in methods:
        raise DiscoveryError("The sign-in service does not support PKCE with S256.")
    return _Provider(
        authorization_endpoint=require_secure(
            doc.get("authorization_endpoint"), "sign-in authorization endpoint", https_only=strict
        ),
        token_endpoint=require_secure(
            doc.get("token_endpoint"), "sign-in token endpoint", https_only=strict
        ),
        jwks_uri=require_secure(doc.get("jwks_uri"), "sign-in JWKS URL", https_only=strict),
        iss_parameter=doc.get("authorization_response_iss_parameter_supported") is True,
    )


def start_login(*, redirect_uri: str) -> str:
    """The identity provider's authorize URL for a new sign-in of this browser session."""
    settings = _settings()
    provider = _provider(settings)
    code_verifier = secrets.token_urlsafe(64)
    oauth_state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    url = authorization_url(
        settings.client_id,
        provider.authorization_endpoint,
        scope=settings.scopes,
        redirect_uri=redirect_uri,
        state=oauth_state,
        code_verifier=code_verifier,
        nonce=nonce,
    )
    launch_state().store.add_pending(
        ensure_session_id(),
        oauth_state,
        {
            "kind": PENDING_KIND,
            "issuer": settings.issuer,
            "code_verifier": code_verifier,
            "nonce": nonce,
            "redirect_uri": redirect_uri,
            "token_endpoint": provider.token_endpoint,
            "jwks_uri": provider.jwks_uri,
            "iss_parameter": provider.iss_parameter,
            "created": time.time(),
        },
        PENDING_TTL_S,
    )
    log.info("sign-in started")
    return url


_ERRORS = {
    "access_denied": "The sign-in was cancelled or refused.",
    "login_required": "The sign-in service needs you to sign in first.",
    "consent_required": "The sign-in service needs your consent first.",
    "interaction_required": "The sign-in service needs you to finish signing in there.",
    "server_error": "The sign-in service had an error; please try again.",
    "temporarily_unavailable": "The sign-in service is busy; please try again shortly.",
}


def complete_login(args: Mapping[str, str]) -> str:
    """Finish a sign-in from the callback's query parameters; the page to go to next."""
    settings = _settings()
    state = launch_state()
    sid = session_id()
    oauth_state = args.get("state")
    pending = state.store.take_pending(sid, oauth_state) if sid and oauth_state else None
    error = args.get("error")
    if error:
        # A fixed sentence per known code: the response's own text is never shown.
        log.info("sign-in refused by the identity provider")
        raise AuthorizationDenied(
            _ERRORS.get(error, "The sign-in service refused the sign-in."),
            title="You were not signed in",
        )
    if pending is None or pending.get("kind") != PENDING_KIND:
        raise StateError(
            "This sign-in response is unknown, expired or was already used, or it belongs to "
            "another browser session; please sign in again."
        )
    _check_iss_parameter(args.get("iss"), settings.issuer, bool(pending.get("iss_parameter")))
    code = args.get("code")
    if not code:
        raise LaunchError("The sign-in response has no authorization code.")
    token = _exchange(settings, pending, code)
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise TokenError("The sign-in service did not say who you are (no id_token).")
    claims = verify_claims(
        id_token,
        issuer_keys(str(pending["jwks_uri"])),
        issuer=settings.issuer,
        client_id=settings.client_id,
        nonce=str(pending["nonce"]),
    )
    user = _signed_in_user(settings, claims)
    if not is_allowed(settings, user):
        log.info("sign-in refused: the user is not on the worklist allowlist")
        raise LoginNotAllowed(
            f"You signed in as {user.user}, who is not allowed to open the worklist of all "
            "patients. Ask your administrator to add you (SMARTAPP_LOGIN_ALLOWED_USERS or "
            "SMARTAPP_LOGIN_ALLOWED_GROUPS)."
        )
    new_sid = rotate_session_id()
    # One mode per browser session: the population sign-in replaces any EHR launch.
    state.store.discard(new_sid, LAUNCH_KEY)
    state.store.discard(new_sid, TOKEN_KEY)
    state.store.set(new_sid, LOGIN_KEY, user.to_record())
    log.info("sign-in completed for the population worklist")
    return WORKLIST_PAGE


def _check_iss_parameter(sent: str | None, issuer: str, required: bool) -> None:
    """RFC 9207: when the provider names itself on the response, it must be ours."""
    if sent is None:
        if required:
            raise StateError("The sign-in response does not say which service sent it.")
        return
    if not hmac.compare_digest(sent.rstrip("/").encode(), issuer.encode()):
        log.warning("sign-in response from another issuer refused")
        raise StateError("This sign-in response came from another sign-in service.")


def _exchange(settings: LoginSettings, pending: Mapping[str, Any], code: str) -> dict[str, Any]:
    session = OAuth2Session(
        settings.client_id,
        settings.client_secret,
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
        redirect_uri=str(pending["redirect_uri"]),
    )
    bound_token_responses(session)
    try:
        token = request_token(
            session,
            str(pending["token_endpoint"]),
            timeout=AUTH_TIMEOUT_S,
            grant_type="authorization_code",
            code=code,
            code_verifier=str(pending["code_verifier"]),
        )
    except OAuthError as err:
        log.warning("sign-in token refused: %s", err.error)
        raise TokenError("The sign-in service refused the sign-in; please try again.") from err
    except (requests.RequestException, ValueError) as err:
        log.warning("sign-in token request failed: %s", type(err).__name__)
        raise TokenError("The sign-in service could not be reached.") from err
    return dict(token)


def _claim_text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:_MAX_CLAIM]
    return None


def _signed_in_user(settings: LoginSettings, claims: Mapping[str, Any]) -> SignedInUser:
    subject = _claim_text(claims.get("sub"))
    user = _claim_text(claims.get(settings.user_claim))
    if settings.user_claim == "email" and claims.get("email_verified") is False:
        user = None  # an unverified address names nobody
    if subject is None or user is None:
        raise LoginNotAllowed(
            f"The sign-in service did not say who you are (no '{settings.user_claim}' claim)."
        )
    raw_groups = claims.get(settings.groups_claim)
    if isinstance(raw_groups, str):
        raw_groups = [raw_groups]
    listed = raw_groups if isinstance(raw_groups, list) else []
    found = (_claim_text(group) for group in listed)
    groups = tuple(group for group in found if group is not None)
    return SignedInUser(
        issuer=settings.issuer,
        subject=subject,
        user=user,
        name=_claim_text(claims.get("name")),
        groups=groups,
        signed_in_at=time.time(),
    )


def is_allowed(settings: LoginSettings, user: SignedInUser) -> bool:
    return user.user in settings.allowed_users or bool(
        settings.allowed_groups.intersection(user.groups)
    )


def current_login() -> SignedInUser | None:
    """The signed-in user of this request's session when the sign-in is still valid (same
    issuer, younger than LOGIN_MAX_AGE_S, still on the allowlist), else None."""
    settings = launch_state().config.login
    sid = session_id()
    if settings is None or sid is None:
        return None
    record = launch_state().store.get(sid, LOGIN_KEY)
    if record is None:
        return None
    try:
        user = SignedInUser.from_record(record)
    except (KeyError, TypeError, ValueError):
        return None
    if user.issuer != settings.issuer or time.time() - user.signed_in_at > LOGIN_MAX_AGE_S:
        return None
    return user if is_allowed(settings, user) else None


def require_login() -> SignedInUser:
    """`current_login()`, or LoginRequired (the page offers the sign-in)."""
    _settings()
    user = current_login()
    if user is None:
        raise LoginRequired()
    return user
