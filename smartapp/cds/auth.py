"""Who is calling: the CDS client's signed JWT (CDS Hooks 2.0 "Trusting CDS Clients").

Every service and feedback call carries `Authorization: Bearer <JWT>`, checked in this
order before anything else happens (no FHIR request is made for a refused call):

1. the header: `alg` asymmetric (RS/PS/ES; never `none` or HMAC), `typ` JWT, a `kid`;
2. `iss` names a client of SMARTAPP_CDS_CLIENTS that may call this service;
3. its keys: the client's inline `jwks`, or the key set at the client's configured `jku`
   (a token's `jku` header must equal it; fetched over https, cached, fetched again once
   when a `kid` is new, at most every `JWKS_MIN_REFRESH_S`);
4. the signature, with the key named by `kid`;
5. `aud` is the URL of the endpoint called (the service URL is also accepted at its
   feedback endpoint), `exp` is in the future and at most `MAX_LIFETIME_S` ahead, `iat` is
   not in the future, `jti` is present;
6. `jti` was never used by this client (replay): remembered until the token expires, in
   the app's database (`smartapp.store.cds.DatabaseReplayCache`), so a token replayed to
   another app process is refused too.

Any failure is `CdsAuthError` (HTTP 401) with a reason an integrator can act on; the
reason never echoes token content. Clock skew of `LEEWAY_S` is allowed on times.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from smartapp.cds.clients import CdsClient
from smartapp.launch.discovery import fetch_json
from smartapp.launch.errors import DiscoveryError
from smartapp.launch.keys import signing_keys

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
LEEWAY_S = 60
#: CDS clients sign a fresh JWT per call; five minutes is the usual upper bound (SMART
#: Backend Services asks the same of its assertions).
MAX_LIFETIME_S = 300
JWKS_TTL_S = 300
JWKS_MIN_REFRESH_S = 30
JWKS_TIMEOUT_S = 5.0
MAX_JTI_LENGTH = 255


class CdsAuthError(Exception):
    """The call is not authenticated; `str(err)` is the reason (no token content)."""


class ReplayCache(Protocol):
    def first_use(self, issuer: str, jti: str, expires_at: float, now: float) -> bool:
        """Remember (issuer, jti) until `expires_at`; False when it was seen before."""


@dataclass
class KeySets:
    """Each client's key set: inline, or fetched from its `jku` and cached."""

    fetch: Callable[[str], object] = field(
        default=lambda url: fetch_json(url, what="CDS client JWKS", timeout=JWKS_TIMEOUT_S)
    )
    clock: Callable[[], float] = time.time
    _cache: dict[str, tuple[KeySet, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def for_client(self, client: CdsClient, kid: str) -> KeySet:
        if client.jwks is not None:
            return KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
        assert client.jku is not None  # noqa: S101 - clients.py requires one of the two
        now = self.clock()
        with self._lock:
            cached = self._cache.get(client.jku)
        if cached is not None:
            keys, fetched_at = cached
            fresh = now - fetched_at < JWKS_TTL_S
            known = any(key.kid == kid for key in keys.keys)
            if (fresh and known) or now - fetched_at < JWKS_MIN_REFRESH_S:
                return keys
        keys = self._download(client.jku)
        with self._lock:
            self._cache[client.jku] = (keys, now)
        return keys

    def _download(self, url: str) -> KeySet:
        try:
            document = self.fetch(url)
        except DiscoveryError as err:
            log.warning("CDS client JWKS fetch failed: %s", err)
            raise CdsAuthError("the client's key set (jku) could not be fetched") from err
        try:
            return signing_keys(document)
        except ValueError as err:
            raise CdsAuthError(f"the client's key set (jku) {err}") from err


@dataclass(frozen=True)
class CdsCaller:
    """An authenticated call: who, and the token's `tenant` when it sent one."""

    client: CdsClient
    tenant: str | None


def bearer_token(header: str | None) -> str:
    if not header:
        raise CdsAuthError("no Authorization header: send 'Bearer <signed JWT>'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise CdsAuthError("the Authorization header must be 'Bearer <signed JWT>'")
    return token.strip()


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as err:
        raise CdsAuthError("the bearer token is not a signed JWT") from err
    header = dict(compact.protected)
    if not isinstance(claims, dict):
        raise CdsAuthError("the JWT payload is not a JSON object")
    return header, claims


def _check_header(header: Mapping[str, Any], client: CdsClient) -> str:
    if header.get("alg") not in ALGORITHMS:
        raise CdsAuthError(f"the JWT alg must be one of {', '.join(ALGORITHMS)}")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise CdsAuthError("the JWT header must say typ JWT")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise CdsAuthError("the JWT header has no kid")
    jku = header.get("jku")
    if jku is not None and jku != client.jku:
        raise CdsAuthError("the JWT's jku is not the key set URL registered for this client")
    return kid


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CdsAuthError(f"the JWT has no numeric {name}")
    return float(value)


def _check_claims(claims: Mapping[str, Any], audiences: Iterable[str], now: float) -> str:
    aud = claims.get("aud")
    given = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    wanted = {url.rstrip("/") for url in audiences}
    if not any(isinstance(item, str) and item.rstrip("/") in wanted for item in given):
        raise CdsAuthError("the JWT's aud is not the URL of this service")
    exp = _number(claims, "exp")
    if exp <= now - LEEWAY_S:
        raise CdsAuthError("the JWT has expired")
    if exp > now + MAX_LIFETIME_S + LEEWAY_S:
        raise CdsAuthError(f"the JWT's exp is more than {MAX_LIFETIME_S} s ahead")
    if _number(claims, "iat") > now + LEEWAY_S:
        raise CdsAuthError("the JWT's iat is in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise CdsAuthError("the JWT has no jti")
    return jti


@dataclass
class Authenticator:
    clients: Mapping[str, CdsClient]
    replay: ReplayCache
    key_sets: KeySets = field(default_factory=KeySets)
    clock: Callable[[], float] = time.time

    def authenticate(
        self, authorization: str | None, *, service_id: str, audiences: Iterable[str]
    ) -> CdsCaller:
        token = bearer_token(authorization)
        header, unverified = _unverified(token)
        issuer = unverified.get("iss")
        client = self.clients.get(issuer) if isinstance(issuer, str) else None
        if client is None:
            raise CdsAuthError("the JWT's iss is not a registered CDS client")
        if not client.may_call(service_id):
            raise CdsAuthError(f"this client may not call {service_id}")
        kid = _check_header(header, client)
        keys = self.key_sets.for_client(client, kid)
        try:
            verified = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
        except JoseError as err:
            raise CdsAuthError(f"the JWT signature could not be verified ({err.error})") from err
        claims = verified.claims
        if claims.get("iss") != client.iss:
            raise CdsAuthError("the JWT's iss is not a registered CDS client")
        now = self.clock()
        jti = _check_claims(claims, audiences, now)
        if not self.replay.first_use(client.iss, jti, _number(claims, "exp") + LEEWAY_S, now):
            raise CdsAuthError("this JWT was used before (jti replay)")
        tenant = claims.get("tenant")
        return CdsCaller(client, tenant if isinstance(tenant, str) else None)
