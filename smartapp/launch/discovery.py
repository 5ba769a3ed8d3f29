"""SMART discovery: `GET {iss}/.well-known/smart-configuration` (SMART App Launch 2.x §conformance).

Only ever called for an `iss` already on the allowlist. HTTPS is required for the
document and every endpoint it names, except on loopback hosts (local sandbox EHR).
Redirects are not followed: a redirect could point anywhere.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from smartapp.launch.errors import DiscoveryError

log = logging.getLogger(__name__)

#: Timeout (seconds) for every call to an authorization server (discovery, token, JWKS).
AUTH_TIMEOUT_S = 10.0


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure(url: object, what: str) -> str:
    """`url` as a string when it is an absolute https URL (http only on loopback)."""
    if not isinstance(url, str) or not url:
        raise DiscoveryError(f"The EHR's SMART configuration has no {what}.")
    parts = urlsplit(url)
    if not parts.netloc or parts.scheme not in ("https", "http"):
        raise DiscoveryError(f"The EHR's {what} is not an absolute URL.")
    if parts.scheme != "https" and not is_loopback(url):
        raise DiscoveryError(f"The EHR's {what} does not use HTTPS.")
    return url


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass(frozen=True)
class SmartConfiguration:
    """The parts of `.well-known/smart-configuration` the app uses."""

    authorization_endpoint: str | None
    token_endpoint: str
    issuer: str | None = None
    jwks_uri: str | None = None
    capabilities: frozenset[str] = frozenset()
    code_challenge_methods: frozenset[str] = frozenset()
    token_endpoint_auth_methods: frozenset[str] = frozenset()
    grant_types: frozenset[str] = frozenset()

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def uses_v1_scopes_only(self) -> bool:
        """Server advertises SMART v1 scopes and not v2: request `.read`/`.write`."""
        return self.supports("permission-v1") and not self.supports("permission-v2")

    def to_record(self) -> dict[str, Any]:
        """JSON form kept with a pending launch (endpoints are pinned at launch time)."""
        return {
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "capabilities": sorted(self.capabilities),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SmartConfiguration:
        return cls(
            authorization_endpoint=record.get("authorization_endpoint"),
            token_endpoint=str(record["token_endpoint"]),
            issuer=record.get("issuer"),
            jwks_uri=record.get("jwks_uri"),
            capabilities=frozenset(record.get("capabilities") or ()),
        )


def _strings(value: object) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(item for item in value if isinstance(item, str))


def parse_smart_configuration(doc: object, *, need_authorize: bool) -> SmartConfiguration:
    """Validate a discovery document; raise DiscoveryError with a clear reason."""
    if not isinstance(doc, dict):
        raise DiscoveryError("The EHR's SMART configuration is not a JSON object.")
    methods = _strings(doc.get("code_challenge_methods_supported"))
    if "S256" not in methods:
        raise DiscoveryError(
            "The EHR does not support PKCE with S256, which SMART App Launch 2 requires; "
            "the app will not launch against it."
        )
    token_endpoint = require_secure(doc.get("token_endpoint"), "token endpoint")
    authorize = doc.get("authorization_endpoint")
    if need_authorize or authorize is not None:
        authorize = require_secure(authorize, "authorization endpoint")
    jwks_uri = doc.get("jwks_uri")
    if jwks_uri is not None:
        jwks_uri = require_secure(jwks_uri, "JWKS URL")
    issuer = doc.get("issuer")
    return SmartConfiguration(
        authorization_endpoint=authorize if isinstance(authorize, str) else None,
        token_endpoint=token_endpoint,
        issuer=issuer if isinstance(issuer, str) and issuer else None,
        jwks_uri=jwks_uri if isinstance(jwks_uri, str) else None,
        capabilities=_strings(doc.get("capabilities")),
        code_challenge_methods=methods,
        token_endpoint_auth_methods=_strings(doc.get("token_endpoint_auth_methods_supported")),
        grant_types=_strings(doc.get("grant_types_supported")),
    )


def fetch_json(url: str, *, what: str, timeout: float = AUTH_TIMEOUT_S) -> object:
    """GET a JSON document from an authorization server (no redirects, bounded time)."""
    require_secure(url, what)
    try:
        response = requests.get(
            url, headers={"Accept": "application/json"}, timeout=timeout, allow_redirects=False
        )
    except requests.RequestException as err:
        log.warning("%s fetch failed: %s", what, type(err).__name__)
        raise DiscoveryError(f"The EHR's {what} could not be reached.") from err
    if response.status_code != 200:
        raise DiscoveryError(f"The EHR's {what} answered HTTP {response.status_code}.")
    try:
        return response.json()
    except ValueError as err:
        raise DiscoveryError(f"The EHR's {what} is not JSON.") from err


def discover(
    iss: str, *, need_authorize: bool = True, timeout: float = AUTH_TIMEOUT_S
) -> SmartConfiguration:
    """Fetch and validate the SMART configuration of an allowlisted FHIR base."""
    url = f"{iss.rstrip('/')}/.well-known/smart-configuration"
    try:
        require_secure(url, "SMART configuration")
    except DiscoveryError as err:
        raise DiscoveryError(
            "The FHIR server does not use HTTPS; only loopback servers may use plain http."
        ) from err
    doc = fetch_json(url, what="SMART configuration", timeout=timeout)
    return parse_smart_configuration(doc, need_authorize=need_authorize)
