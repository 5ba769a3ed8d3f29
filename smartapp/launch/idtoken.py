"""OpenID Connect id_token validation (joserfc) before `fhirUser` is trusted.

Signature against the issuer's JWKS (`jwks_uri` from SMART discovery, else from
`{issuer}/.well-known/openid-configuration`), then `iss`, `aud` = client_id, `exp` and the
`nonce` sent with the authorize request. The issuer must be the one SMART discovery named,
or (when discovery names none) live on the FHIR server's or token endpoint's origin: an
unverified `iss` claim never makes the app fetch from an arbitrary host.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from smartapp.launch.discovery import (
    AUTH_TIMEOUT_S,
    SmartConfiguration,
    fetch_json,
    is_https,
    origin_of,
    require_secure,
)
from smartapp.launch.errors import DiscoveryError, IdTokenError
from smartapp.launch.keys import signing_keys

log = logging.getLogger(__name__)

#: Asymmetric algorithms only (an HMAC id_token would need the client secret as key).
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "ES256", "ES384")
CLOCK_SKEW_S = 60


def _fail(reason: str) -> IdTokenError:
    # The reason names the failed check, never token content.
    log.warning("id_token rejected: %s", reason)
    return IdTokenError(
        "The EHR's identity token could not be verified, so the app cannot tell who you are. "
        "Please launch the app again; if this keeps happening, contact your EHR administrator."
    )


def _unverified_issuer(id_token: str) -> str:
    try:
        payload = json.loads(jws.extract_compact(id_token.encode("ascii")).payload)
    except (JoseError, ValueError, UnicodeError) as err:
        raise _fail("not a compact JWS") from err
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(issuer, str) or not issuer:
        raise _fail("no iss claim")
    return issuer


def _jwks_uri(issuer: str, smart: SmartConfiguration, fhir_base: str, timeout: float) -> str:
    if smart.issuer is not None:
        if issuer.rstrip("/") != smart.issuer.rstrip("/"):
            raise _fail("iss differs from the issuer in SMART discovery")
        if smart.jwks_uri:
            return smart.jwks_uri
    elif origin_of(issuer) not in {origin_of(fhir_base), origin_of(smart.token_endpoint)}:
        raise _fail("iss is on a host unrelated to the FHIR server")
    try:
        require_secure(issuer, "OpenID issuer", https_only=is_https(fhir_base))
        config = fetch_json(
            f"{issuer.rstrip('/')}/.well-known/openid-configuration",
            what="OpenID configuration",
            timeout=timeout,
        )
    except DiscoveryError as err:
        raise _fail("OpenID configuration unavailable") from err
    if not isinstance(config, dict) or str(config.get("issuer", "")).rstrip("/") != issuer.rstrip(
        "/"
    ):
        raise _fail("OpenID configuration names another issuer")
    try:
        return require_secure(config.get("jwks_uri"), "JWKS URL")
    except DiscoveryError as err:
        raise _fail("OpenID configuration has no usable jwks_uri") from err


def issuer_keys(jwks_uri: str, timeout: float = AUTH_TIMEOUT_S) -> KeySet:
    """The signing keys (RSA, EC) published at `jwks_uri`; IdTokenError when unusable."""
    try:
        doc = fetch_json(jwks_uri, what="JWKS", timeout=timeout)
    except DiscoveryError as err:
        raise _fail("JWKS unavailable") from err
    try:
        return signing_keys(doc)
    except ValueError as err:
        raise _fail(f"JWKS {err}") from err


def verify_claims(
    id_token: str,
    key_set: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str | None,
) -> dict[str, Any]:
    """The claims of a signed id_token after the signature, `iss`, `aud`, `exp` and `nonce`
    checks (OpenID Connect Core §3.1.3.7); IdTokenError otherwise."""
    try:
        token = jwt.decode(id_token, key_set, algorithms=list(ID_TOKEN_ALGORITHMS))
    except JoseError as err:
        raise _fail(f"signature check failed ({err.error})") from err
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW_S,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
    )
    try:
        registry.validate(token.claims)
    except JoseError as err:
        raise _fail(f"claim check failed ({err.error})") from err
    if nonce is not None:
        claimed = token.claims.get("nonce")
        if not isinstance(claimed, str) or not hmac.compare_digest(
            claimed.encode(), nonce.encode()
        ):
            raise _fail("nonce mismatch")
    return dict(token.claims)


def validate_id_token(
    id_token: str,
    *,
    smart: SmartConfiguration,
    fhir_base: str,
    client_id: str,
    nonce: str | None,
    timeout: float = AUTH_TIMEOUT_S,
) -> dict[str, Any]:
    """The verified claims; raise IdTokenError (logged at WARNING, no content) otherwise."""
    issuer = _unverified_issuer(id_token)
    key_set = issuer_keys(_jwks_uri(issuer, smart, fhir_base, timeout), timeout)
    return verify_claims(id_token, key_set, issuer=issuer, client_id=client_id, nonce=nonce)


def resolve_fhir_user(claim: object, fhir_base: str) -> str | None:
    """`fhirUser` as an absolute URL (it may be relative to the FHIR base), else None."""
    if not isinstance(claim, str) or not claim.strip():
        return None
    value = claim.strip()
    if value.startswith(("https://", "http://")):
        return value
    return f"{fhir_base.rstrip('/')}/{value.lstrip('/')}"
