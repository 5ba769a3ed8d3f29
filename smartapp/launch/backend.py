"""SMART Backend Services: `client_credentials` with a private_key_jwt assertion.

For the coordinator worklist when no user is present (and the organisation approves).
Every token request carries a new assertion (fresh `jti`, exp ≤ 300 s, `kid`, RS384 or
ES384); no refresh tokens are expected, so a new token is fetched when the old one nears
expiry (`BackendTokenProvider`).

Discovery is checked for what `client_credentials` needs, not for PKCE
(`discovery.parse_backend_configuration`). The scopes asked for (`scope`, else
SMARTAPP_BACKEND_SCOPES: read scopes for exactly the types the worklist reads) are narrowed
to the types the server's CapabilityStatement lists, and written in v1 syntax when the
server speaks only v1 (or the tenant's `scope_version` says so): a server that lacks a
type may refuse the whole request (the SMART reference Bulk Data server answers
`invalid_scope`). A refusal with `invalid_scope` whose description names scopes or types
is asked again without them, at most three times; the granted `scope` is what counts.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError

from smartapp.config import AppConfig, Tenant, normalise_base
from smartapp.fhir.bulk import server_types
from smartapp.launch.discovery import (
    AUTH_TIMEOUT_S,
    SmartConfiguration,
    discover_backend,
    fetch_json,
)
from smartapp.launch.errors import DiscoveryError, IssuerNotAllowed, LaunchError, TokenError
from smartapp.launch.keys import AppKey
from smartapp.launch.oauth_errors import explain, log_refusal
from smartapp.launch.scopes import parse_resource_scope, to_v1
from smartapp.launch.tokens import oauth_session, request_token

log = logging.getLogger(__name__)

REFRESH_LEEWAY_S = 60
#: Refusals naming scopes that are asked again without them (each drops at least one).
_MAX_SCOPE_RETRIES = 3


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
    return replace(
        tenant,
        client_id=client_id,
        client_secret=None,
        scopes=None,
        open_server=False,
        auth_method="private_key_jwt",
    )


def fetch_backend_token(
    config: AppConfig,
    app_key: AppKey | None,
    *,
    iss: str | None = None,
    scope: str | None = None,
    token_endpoint: str | None = None,
    smart: SmartConfiguration | None = None,
    timeout: float = AUTH_TIMEOUT_S,
) -> dict[str, Any]:
    """A system-level token dict (`access_token`, `expires_at`, `scope`, …) (module doc).

    Discovery is fetched unless `smart` (or a bare `token_endpoint`) is given.
    """
    if app_key is None:
        raise LaunchError("Backend Services need SMARTAPP_PRIVATE_KEY.", status=500)
    tenant = backend_tenant(config, iss)
    if smart is None and token_endpoint is None:
        smart = discover_backend(
            tenant.iss, alg=app_key.alg, timeout=timeout, auth_origins=tenant.auth_origins
        )
    if token_endpoint is None:
        assert smart is not None  # noqa: S101 - set just above
        token_endpoint = smart.token_endpoint
    wanted = backend_scopes(scope or config.backend_scopes, tenant, smart, timeout=timeout)
    for _ in range(_MAX_SCOPE_RETRIES + 1):
        try:
            token = _client_credentials(tenant, app_key, token_endpoint, wanted, timeout)
        except OAuthError as err:
            log_refusal(log, "backend token", tenant.display_name, err.error, err.description)
            narrower = (
                without_named(wanted, err.description) if err.error == "invalid_scope" else ""
            )
            if narrower and narrower != wanted:
                log.info("backend token: asking again without the refused scopes")
                wanted = narrower
                continue
            raise TokenError(
                "The FHIR server refused the app's backend credentials. " + explain(err.error)
            ) from err
        break
    result = dict(token)
    if not result.get("access_token"):
        raise TokenError("The FHIR server's token response has no access token.")
    if not isinstance(result.get("expires_at"), int | float):
        expires_in = result.get("expires_in")
        result["expires_at"] = time.time() + float(expires_in or 300)
    if not isinstance(result.get("scope"), str):
        result["scope"] = wanted  # RFC 6749 §5.1: absent means as requested
    log.info("backend token obtained for tenant %s", tenant.display_name)
    return result


def _client_credentials(
    tenant: Tenant, app_key: AppKey, token_endpoint: str, scope: str, timeout: float
) -> dict[str, Any]:
    session = oauth_session(tenant, app_key)
    try:
        token = request_token(
            session, token_endpoint, timeout=timeout, grant_type="client_credentials", scope=scope
        )
    except (requests.RequestException, ValueError) as err:
        log.warning("backend token request failed: %s", type(err).__name__)
        raise TokenError("The FHIR server's token service could not be reached.") from err
    return dict(token)


def backend_scopes(
    requested: str,
    tenant: Tenant,
    smart: SmartConfiguration | None,
    *,
    timeout: float = AUTH_TIMEOUT_S,
) -> str:
    """`requested` narrowed to the server's types, in the scope syntax it speaks."""
    offered = _server_types(tenant.iss, timeout)
    kept = [item for item in requested.split() if _offered(item, offered)]
    dropped = len(requested.split()) - len(kept)
    if dropped:
        log.info(
            "backend scopes: %d left out (types the server's CapabilityStatement lacks)", dropped
        )
    text = " ".join(kept)
    version = tenant.quirks.scope_version
    if version == "v1" or (version == "auto" and smart is not None and smart.uses_v1_scopes_only):
        text = to_v1(text)
    return text


def without_named(scope: str, description: object) -> str:
    """`scope` without the scopes (or the types' scopes) a refusal's description names."""
    text = description if isinstance(description, str) else ""
    if not text:
        return scope
    kept = []
    for item in scope.split():
        parsed = parse_resource_scope(item)
        named = item in text or (
            parsed is not None
            and parsed.resource_type != "*"
            and re.search(rf"(?<![A-Za-z]){re.escape(parsed.resource_type)}(?![A-Za-z])", text)
        )
        if not named:
            kept.append(item)
    return " ".join(kept)


def _offered(item: str, offered: frozenset[str]) -> bool:
    parsed = parse_resource_scope(item)
    return parsed is None or not offered or parsed.resource_type in ("*", *offered)


def _server_types(iss: str, timeout: float) -> frozenset[str]:
    """The types the server's (public) CapabilityStatement lists; empty when unknown."""
    try:
        return server_types(
            fetch_json(f"{iss}/metadata", what="CapabilityStatement", timeout=timeout)
        )
    except DiscoveryError:
        return frozenset()


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
        self._smart: SmartConfiguration | None = None
        self._token: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def access_token(self) -> str:
        return str(self.token()["access_token"])

    def token(self, *, force: bool = False) -> dict[str, Any]:
        """The cached token dict (`access_token`, `expires_at`, `scope`); a new one when it
        is about to expire, or when `force` (the server refused it)."""
        with self._lock:
            token = self._token
            if (
                force
                or token is None
                or float(token["expires_at"]) - REFRESH_LEEWAY_S <= time.time()
            ):
                if self._smart is None:
                    tenant = backend_tenant(self._config, self._iss)
                    alg = self._key.alg if self._key is not None else None
                    self._smart = discover_backend(
                        tenant.iss, alg=alg, auth_origins=tenant.auth_origins
                    )
                token = fetch_backend_token(
                    self._config, self._key, iss=self._iss, scope=self._scope, smart=self._smart
                )
                self._token = token
            return token
