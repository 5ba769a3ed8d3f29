"""SMART Backend Services: `client_credentials` with a private_key_jwt assertion.

For the coordinator worklist when no user is present (and the organisation approves).
Every token request carries a new assertion (fresh `jti`, exp ≤ 300 s, `kid`, RS384 or
ES384); no refresh tokens are expected, so a new token is fetched when the old one nears
expiry (`BackendTokenProvider`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError

from smartapp.config import AppConfig, Tenant, normalise_base
from smartapp.launch.discovery import AUTH_TIMEOUT_S, discover
from smartapp.launch.errors import IssuerNotAllowed, LaunchError, TokenError
from smartapp.launch.keys import AppKey
from smartapp.launch.tokens import oauth_session

log = logging.getLogger(__name__)

REFRESH_LEEWAY_S = 60


def backend_tenant(config: AppConfig, iss: str | None = None) -> Tenant:
    """The allowlisted tenant to call (default SMARTAPP_FHIR_BASE), as a private_key_jwt client."""
    base = iss or config.fhir_base
    if not base:
        raise LaunchError("No FHIR server: set SMARTAPP_FHIR_BASE or pass the issuer.")
    key = normalise_base(base)
    tenant = config.tenant(key)
    if tenant is None and key == config.fhir_base:
        tenant = Tenant(iss=key, client_id=config.client_id)
    if tenant is None:
        raise IssuerNotAllowed(f"This FHIR server is not allowed: {base}")
    client_id = config.backend_client_id or tenant.client_id or config.client_id
    return Tenant(
        iss=tenant.iss,
        client_id=client_id,
        label=tenant.label,
        auth_method="private_key_jwt",
    )


def fetch_backend_token(
    config: AppConfig,
    app_key: AppKey | None,
    *,
    iss: str | None = None,
    scope: str | None = None,
    token_endpoint: str | None = None,
    timeout: float = AUTH_TIMEOUT_S,
) -> dict[str, Any]:
    """A system-level token dict (`access_token`, `expires_at`, `scope`, …)."""
    if app_key is None:
        raise LaunchError("Backend Services need SMARTAPP_PRIVATE_KEY.", status=500)
    tenant = backend_tenant(config, iss)
    if token_endpoint is None:
        token_endpoint = discover(tenant.iss, need_authorize=False, timeout=timeout).token_endpoint
    session = oauth_session(tenant, app_key)
    try:
        with session:
            token = session.fetch_token(
                token_endpoint,
                grant_type="client_credentials",
                scope=scope or config.backend_scopes,
                timeout=timeout,
                allow_redirects=False,
            )
    except OAuthError as err:
        log.warning("backend token refused for tenant %s: %s", tenant.display_name, err.error)
        raise TokenError("The FHIR server refused the app's backend credentials.") from err
    except (requests.RequestException, ValueError) as err:
        log.warning("backend token request failed: %s", type(err).__name__)
        raise TokenError("The FHIR server's token service could not be reached.") from err
    result = dict(token)
    if not result.get("access_token"):
        raise TokenError("The FHIR server's token response has no access token.")
    if not isinstance(result.get("expires_at"), int | float):
        expires_in = result.get("expires_in")
        result["expires_at"] = time.time() + float(expires_in or 300)
    log.info("backend token obtained for tenant %s", tenant.display_name)
    return result


class BackendTokenProvider:
    """Caches a backend token and fetches a new one (new assertion) shortly before expiry."""

    def __init__(
        self,
        config: AppConfig,
        app_key: AppKey | None,
        *,
        iss: str | None = None,
        scope: str | None = None,
    ) -> None:
        self._config = config
        self._key = app_key
        self._iss = iss
        self._scope = scope
        self._token_endpoint: str | None = None
        self._token: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def access_token(self) -> str:
        with self._lock:
            token = self._token
            if token is None or float(token["expires_at"]) - REFRESH_LEEWAY_S <= time.time():
                if self._token_endpoint is None:
                    base = backend_tenant(self._config, self._iss).iss
                    self._token_endpoint = discover(base, need_authorize=False).token_endpoint
                token = fetch_backend_token(
                    self._config,
                    self._key,
                    iss=self._iss,
                    scope=self._scope,
                    token_endpoint=self._token_endpoint,
                )
                self._token = token
            return str(token["access_token"])
