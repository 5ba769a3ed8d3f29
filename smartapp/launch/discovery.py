"""SMART discovery: `GET {iss}/.well-known/smart-configuration` (SMART App Launch 2.x §conformance).

Only ever called for an `iss` already on the allowlist. HTTPS is required for the
document and every endpoint it names, except on loopback hosts (local sandbox EHR) — and
an https issuer never gets a plain-http endpoint, loopback or not. The token endpoint
must be on the FHIR server's own origin unless the tenant lists its origin in
`auth_origins` (OAuth mix-up: an allowlisted server must not send the app's codes, PKCE
verifiers and client credentials to another host). Redirects are not followed: a
redirect could point anywhere.

What is checked depends on the flow. A user launch needs PKCE S256
(`code_challenge_methods_supported`; a tenant may assume it when the field is missing,
`assume_pkce`). Backend Services (`client_credentials`) has no PKCE: it needs the token
endpoint and, where the document lists them, `client_credentials`, `private_key_jwt` and
the app's signing algorithm (SMART "Backend Services"; the SMART reference Bulk Data
server lists no PKCE methods and no grant types at all).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from smartapp.fhir.errors import FhirError
from smartapp.fhir.limits import Deadline, DeadlineExceeded, parse_json
from smartapp.fhir.transport import NETWORK_ERRORS, read_limited
from smartapp.launch.errors import DiscoveryError

log = logging.getLogger(__name__)

#: Timeout (seconds) for every call to an authorization server (discovery, token, JWKS).
AUTH_TIMEOUT_S = 10.0
#: Discovery documents and key sets are small; anything larger is not read.
MAX_DOCUMENT_BYTES = 1024 * 1024


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure(url: object, what: str, *, https_only: bool = False) -> str:
    """`url` as a string when it is an absolute https URL (http only on loopback, and
    never when `https_only`: an https issuer's endpoints are https too)."""
    if not isinstance(url, str) or not url:
        raise DiscoveryError(f"The EHR's SMART configuration has no {what}.")
    parts = urlsplit(url)
    if not parts.netloc or parts.scheme not in ("https", "http"):
        raise DiscoveryError(f"The EHR's {what} is not an absolute URL.")
    if parts.scheme != "https" and (https_only or not is_loopback(url)):
        raise DiscoveryError(f"The EHR's {what} does not use HTTPS.")
    return url


def is_https(url: str) -> bool:
    return urlsplit(url).scheme.lower() == "https"


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
    scopes_supported: frozenset[str] = frozenset()
    #: PKCE is used although discovery did not list it (tenant quirk `assume_pkce`).
    pkce_assumed: bool = False
    #: RFC 9207: the server names itself (`iss`) on every authorization response.
    iss_parameter: bool = False

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
            "iss_parameter": self.iss_parameter,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SmartConfiguration:
        return cls(
            authorization_endpoint=record.get("authorization_endpoint"),
            token_endpoint=str(record["token_endpoint"]),
            issuer=record.get("issuer"),
            jwks_uri=record.get("jwks_uri"),
            capabilities=frozenset(record.get("capabilities") or ()),
            iss_parameter=bool(record.get("iss_parameter", False)),
        )


def _strings(value: object) -> frozenset[str]:
    if not isinstance(value, list):
        return frozenset()
    return frozenset(item for item in value if isinstance(item, str))


def parse_smart_configuration(
    doc: object,
    *,
    need_authorize: bool,
    assume_pkce: bool = False,
    https_only: bool = False,
    token_origins: frozenset[str] | None = None,
) -> SmartConfiguration:
    """Validate a discovery document for a user launch; raise DiscoveryError with a clear
    reason. `assume_pkce`: a document without `code_challenge_methods_supported` is taken
    to support S256 (one that lists methods without S256 is still refused).
    `https_only`: no plain-http endpoint even on loopback (an https issuer);
    `token_origins`: where the token endpoint may be (None: anywhere)."""
    if not isinstance(doc, dict):
        raise DiscoveryError("The EHR's SMART configuration is not a JSON object.")
    methods = _strings(doc.get("code_challenge_methods_supported"))
    assumed = assume_pkce and "code_challenge_methods_supported" not in doc
    if "S256" not in methods and not assumed:
        raise DiscoveryError(
            "The EHR does not support PKCE with S256, which SMART App Launch 2 requires; "
            "the app will not launch against it."
        )
    return _parsed(
        doc,
        need_authorize=need_authorize,
        pkce_assumed=assumed,
        https_only=https_only,
        token_origins=token_origins,
    )


def parse_backend_configuration(
    doc: object,
    *,
    alg: str | None = None,
    https_only: bool = False,
    token_origins: frozenset[str] | None = None,
) -> SmartConfiguration:
    """Validate a discovery document for Backend Services (module doc)."""
    if not isinstance(doc, dict):
        raise DiscoveryError("The FHIR server's SMART configuration is not a JSON object.")
    grants = _strings(doc.get("grant_types_supported"))
    if "grant_types_supported" in doc and "client_credentials" not in grants:
        raise DiscoveryError(
            "The FHIR server does not offer the client_credentials grant that Backend Services use."
        )
    methods = _strings(doc.get("token_endpoint_auth_methods_supported"))
    if "token_endpoint_auth_methods_supported" in doc and "private_key_jwt" not in methods:
        raise DiscoveryError(
            "The FHIR server does not accept private_key_jwt client authentication, which "
            "Backend Services use."
        )
    algs = _strings(doc.get("token_endpoint_auth_signing_alg_values_supported"))
    if alg and "token_endpoint_auth_signing_alg_values_supported" in doc and alg not in algs:
        raise DiscoveryError(
            f"The FHIR server does not accept {alg} signatures; it lists "
            f"{', '.join(sorted(algs)) or 'none'}. Use a key of an algorithm it accepts."
        )
    return _parsed(
        doc,
        need_authorize=False,
        pkce_assumed=False,
        https_only=https_only,
        token_origins=token_origins,
    )


def _parsed(
    doc: dict[str, Any],
    *,
    need_authorize: bool,
    pkce_assumed: bool,
    https_only: bool,
    token_origins: frozenset[str] | None,
) -> SmartConfiguration:
    methods = _strings(doc.get("code_challenge_methods_supported"))
    token_endpoint = require_secure(
        doc.get("token_endpoint"), "token endpoint", https_only=https_only
    )
    if token_origins is not None and origin_of(token_endpoint) not in token_origins:
        raise DiscoveryError(
            "The EHR's token endpoint is on another server than the FHIR server; the app "
            "only sends sign-in codes and credentials there when the administrator allows "
            "that server ('auth_origins' in the tenants file)."
        )
    authorize = doc.get("authorization_endpoint")
    if need_authorize or authorize is not None:
        authorize = require_secure(authorize, "authorization endpoint", https_only=https_only)
    jwks_uri = doc.get("jwks_uri")
    if jwks_uri is not None:
        jwks_uri = require_secure(jwks_uri, "JWKS URL", https_only=https_only)
    issuer = doc.get("issuer")
    iss_parameter = doc.get("authorization_response_iss_parameter_supported") is True
    return SmartConfiguration(
        authorization_endpoint=authorize if isinstance(authorize, str) else None,
        token_endpoint=token_endpoint,
        issuer=issuer if isinstance(issuer, str) and issuer else None,
        jwks_uri=jwks_uri if isinstance(jwks_uri, str) else None,
        capabilities=_strings(doc.get("capabilities")),
        code_challenge_methods=methods,
        token_endpoint_auth_methods=_strings(doc.get("token_endpoint_auth_methods_supported")),
        grant_types=_strings(doc.get("grant_types_supported")),
        scopes_supported=_strings(doc.get("scopes_supported")),
        pkce_assumed=pkce_assumed,
        iss_parameter=iss_parameter,
    )


def fetch_json(url: str, *, what: str, timeout: float = AUTH_TIMEOUT_S) -> object:
    """GET a JSON document from an authorization server: no redirects, the whole exchange
    within `timeout` seconds (a server that drips its answer is cut off), at most
    MAX_DOCUMENT_BYTES, JSON nesting capped."""
    require_secure(url, what)
    budget = Deadline(timeout)
    try:
        response = requests.get(
            url,
            headers={"Accept": "application/json"},
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        )
        with response:
            if response.status_code != 200:
                raise DiscoveryError(f"The EHR's {what} answered HTTP {response.status_code}.")
            body = read_limited(
                response,
                budget,
                max_bytes=MAX_DOCUMENT_BYTES,
                read_timeout=timeout,
                what=what,
                too_large=lambda _what, _size: DiscoveryError(f"The EHR's {what} is too large."),
            )
    except (*NETWORK_ERRORS, requests.RequestException, DeadlineExceeded) as err:
        log.warning("%s fetch failed: %s", what, type(err).__name__)
        raise DiscoveryError(f"The EHR's {what} could not be reached.") from err
    try:
        document = parse_json(body, what)
    except FhirError as err:
        raise DiscoveryError(f"The EHR's {what} is not JSON the app can read.") from err
    if document is None:
        raise DiscoveryError(f"The EHR's {what} is not JSON.")
    return document


def _document(iss: str, timeout: float) -> object:
    url = f"{iss.rstrip('/')}/.well-known/smart-configuration"
    try:
        require_secure(url, "SMART configuration")
    except DiscoveryError as err:
        raise DiscoveryError(
            "The FHIR server does not use HTTPS; only loopback servers may use plain http."
        ) from err
    return fetch_json(url, what="SMART configuration", timeout=timeout)


def discover(
    iss: str,
    *,
    need_authorize: bool = True,
    assume_pkce: bool = False,
    timeout: float = AUTH_TIMEOUT_S,
    auth_origins: tuple[str, ...] = (),
) -> SmartConfiguration:
    """Fetch and validate the SMART configuration of an allowlisted FHIR base (user launch).

    The token endpoint must be on `iss`'s origin or one of `auth_origins` (the tenant's)."""
    doc = _document(iss, timeout)
    return parse_smart_configuration(
        doc,
        need_authorize=need_authorize,
        assume_pkce=assume_pkce,
        https_only=is_https(iss),
        token_origins=frozenset({origin_of(iss), *auth_origins}),
    )


def discover_backend(
    iss: str,
    *,
    alg: str | None = None,
    timeout: float = AUTH_TIMEOUT_S,
    auth_origins: tuple[str, ...] = (),
) -> SmartConfiguration:
    """Fetch and validate the SMART configuration for Backend Services (module doc)."""
    return parse_backend_configuration(
        _document(iss, timeout),
        alg=alg,
        https_only=is_https(iss),
        token_origins=frozenset({origin_of(iss), *auth_origins}),
    )
