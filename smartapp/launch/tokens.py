"""Token endpoint calls through authlib: client authentication, code exchange, refresh.

Client authentication per tenant (`Tenant.auth_method`, SMARTAPP_CLIENT_AUTH):
`client_secret_basic` (confidential symmetric), `client_secret_post`, `private_key_jwt`
(confidential asymmetric, SMARTAPP_PRIVATE_KEY) or `none` (public: `client_id` in the body).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

from smartapp.config import Tenant
from smartapp.fhir.errors import FhirError
from smartapp.fhir.limits import Deadline
from smartapp.fhir.transport import NETWORK_ERRORS, read_limited
from smartapp.launch.discovery import AUTH_TIMEOUT_S
from smartapp.launch.errors import LaunchError, RelaunchRequired, TokenError
from smartapp.launch.keys import AppKey
from smartapp.launch.oauth_errors import explain, log_refusal, safe_code

log = logging.getLogger(__name__)


class TokenRefused(TokenError):
    """The token endpoint answered with an OAuth error; `code` is the EHR's (safe) code."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


#: SMART asymmetric client auth: the assertion's `exp` at most 5 minutes ahead.
ASSERTION_LIFETIME_S = 300


class SmartPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """authlib's PrivateKeyJWT with SMART's rules.

    authlib's defaults are wrong for SMART: RS256, `exp` = iat + 3600, no `kid`; and a
    `claims` dict would be mutated with the first `jti` and reused forever. Here: the key's
    alg (RS384/ES384), `kid` and `typ` headers, exp = iat + 300, a fresh jti per assertion.
    """

    def __init__(self, app_key: AppKey, token_endpoint: str | None = None) -> None:
        super().__init__(token_endpoint, claims=None, headers=None, alg=app_key.alg)
        self.app_key = app_key

    def sign(self, auth: Any, token_endpoint: str) -> str:
        assertion: str = private_key_jwt_sign(
            self.app_key.key,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.app_key.alg,
            claims=None,
            header={"kid": self.app_key.kid, "typ": "JWT"},
            expires_in=ASSERTION_LIFETIME_S,
        )
        return assertion


def auth_method_for(tenant: Tenant) -> str:
    if tenant.auth_method:
        return tenant.auth_method
    return "client_secret_basic" if tenant.client_secret else "none"


#: A token response is a few KB; one this large is not read.
TOKEN_MAX_BYTES = 1024 * 1024


def _bounded_body(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Read a token endpoint's answer within AUTH_TIMEOUT_S in all and TOKEN_MAX_BYTES.

    A response hook runs before `requests` reads the body, so a token endpoint that drips
    its answer (a per-read timeout never fires for it) or sends a huge one cannot hold a
    web thread or fill memory; going past either is a RequestException (the token service
    "could not be reached")."""
    if response.raw is None or getattr(response, "_content_consumed", False):
        return response
    try:
        body = read_limited(
            response,
            Deadline(AUTH_TIMEOUT_S),
            max_bytes=TOKEN_MAX_BYTES,
            read_timeout=AUTH_TIMEOUT_S,
            what="Token response",
            too_large=lambda what, size: ValueError(f"{what} larger than {TOKEN_MAX_BYTES} bytes"),
        )
    except (FhirError, ValueError, *NETWORK_ERRORS) as err:
        raise requests.exceptions.ContentDecodingError(str(err), response=response) from err
    response._content = body
    return response


def bound_token_responses(session: requests.Session) -> requests.Session:
    """Make every answer `session` gets bounded (see `_bounded_body`)."""
    session.hooks["response"].append(_bounded_body)
    return session


def oauth_session(
    tenant: Tenant,
    app_key: AppKey | None,
    *,
    client_id: str | None = None,
    **kwargs: Any,
) -> OAuth2Session:
    """An authlib session that authenticates as the tenant's client.

    Built WITHOUT a `scope` unless one is passed: authlib would otherwise resend it on
    refresh, and SMART only allows a subset of the *granted* scopes there.
    """
    method = auth_method_for(tenant)
    cid = client_id or tenant.client_id
    if not cid:
        raise LaunchError(
            "No client_id is configured for this EHR; ask the administrator to register the app.",
            status=500,
        )
    if method == "private_key_jwt":
        if app_key is None:
            raise LaunchError("The app's signing key is not configured.", status=500)
        session = OAuth2Session(
            cid,
            app_key.key,
            token_endpoint_auth_method="private_key_jwt",  # noqa: S106 - a method name
            **kwargs,
        )
        session.register_client_auth_method(SmartPrivateKeyJWT(app_key))
        bound_token_responses(session)
        return session
    secret = tenant.client_secret if method.startswith("client_secret") else None
    session = OAuth2Session(cid, secret, token_endpoint_auth_method=method, **kwargs)
    bound_token_responses(session)
    return session


def request_token(
    session: OAuth2Session, token_endpoint: str, *, timeout: float, **grant: Any
) -> Any:
    """One token request on `session` (closed afterwards). Redirects are not followed: the
    client's credentials and the code go to the token endpoint the app knows, nowhere else."""
    with session:
        return session.fetch_token(token_endpoint, timeout=timeout, allow_redirects=False, **grant)


def authorization_url(
    client_id: str,
    endpoint: str,
    *,
    scope: str,
    redirect_uri: str,
    state: str,
    code_verifier: str,
    **params: str | None,
) -> str:
    """The authorize URL of an authorization code request with PKCE (S256); `params` are
    added to the query (`aud`, `launch`, `nonce`; None ones left out)."""
    with OAuth2Session(
        client_id, scope=scope, redirect_uri=redirect_uri, code_challenge_method="S256"
    ) as client:
        url, _ = client.create_authorization_url(
            endpoint, state=state, code_verifier=code_verifier, **params
        )
    return str(url)


def _expires_at(token: dict[str, Any]) -> float | None:
    value = token.get("expires_at")
    if isinstance(value, int | float):
        return float(value)
    expires_in = token.get("expires_in")
    if isinstance(expires_in, int | float) or (
        isinstance(expires_in, str) and expires_in.isdigit()
    ):
        return time.time() + float(expires_in)
    return None


def token_record(
    token: dict[str, Any], *, token_endpoint: str, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the store keeps about a token (never logged, never sent to the browser)."""
    refresh = token.get("refresh_token") or (previous or {}).get("refresh_token")
    scope = token.get("scope")
    if scope is None and previous is not None:
        scope = previous.get("scope")
    return {
        "access_token": str(token["access_token"]),
        "token_type": str(token.get("token_type") or "Bearer"),
        "expires_at": _expires_at(token),
        "refresh_token": refresh,
        "scope": scope if isinstance(scope, str) else "",
        "token_endpoint": token_endpoint,
        "id_token": token.get("id_token") or (previous or {}).get("id_token"),
    }


def exchange_code(
    tenant: Tenant,
    app_key: AppKey | None,
    *,
    token_endpoint: str,
    code: str,
    code_verifier: str,
    redirect_uri: str,
    timeout: float = AUTH_TIMEOUT_S,
) -> dict[str, Any]:
    """authorization_code grant with the PKCE verifier; the raw token response dict."""
    session = oauth_session(tenant, app_key, redirect_uri=redirect_uri)
    try:
        token = request_token(
            session,
            token_endpoint,
            timeout=timeout,
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
        )
    except OAuthError as err:
        log_refusal(log, "token exchange", tenant.display_name, err.error, err.description)
        raise TokenRefused(
            "The EHR refused to issue an access token; please launch the app again. "
            + explain(err.error),
            code=safe_code(err.error),
        ) from err
    except (requests.RequestException, ValueError) as err:
        log.warning(
            "token exchange failed for tenant %s: %s", tenant.display_name, type(err).__name__
        )
        raise TokenError("The EHR's token service could not be reached.") from err
    if not isinstance(token, dict) or not token.get("access_token"):
        raise TokenError("The EHR's token response has no access token.")
    token_type = str(token.get("token_type") or "").lower()
    if token_type != "bearer":  # noqa: S105 - a token type name
        raise TokenError("The EHR issued a token type the app cannot use.")
    return dict(token)


def refresh(
    tenant: Tenant,
    app_key: AppKey | None,
    record: dict[str, Any],
    *,
    timeout: float = AUTH_TIMEOUT_S,
) -> dict[str, Any]:
    """refresh_token grant; the new record (refresh token rotated when a new one came)."""
    refresh_token = record.get("refresh_token")
    if not refresh_token:
        raise RelaunchRequired()
    token_endpoint = str(record["token_endpoint"])
    session = oauth_session(tenant, app_key)
    try:
        with session:
            token = session.refresh_token(
                token_endpoint,
                refresh_token=refresh_token,
                timeout=timeout,
                allow_redirects=False,
            )
    except OAuthError as err:
        log_refusal(log, "token refresh", tenant.display_name, err.error, err.description)
        raise RelaunchRequired() from err
    except (requests.RequestException, ValueError) as err:
        log.warning(
            "token refresh failed for tenant %s: %s", tenant.display_name, type(err).__name__
        )
        raise TokenError(
            "The EHR's token service could not be reached to renew your session; try again.",
            status=503,
        ) from err
    if not token.get("access_token"):
        raise RelaunchRequired()
    new_record = token_record(dict(token), token_endpoint=token_endpoint, previous=record)
    # authlib keeps the old refresh token when none came back; a new one replaces it.
    new_record["refresh_token"] = token.get("refresh_token") or refresh_token
    return new_record
