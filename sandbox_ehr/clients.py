"""The client registry: who may ask for tokens, how they authenticate, where codes may go."""

from __future__ import annotations

import fnmatch
import json
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

import requests
from authlib.oauth2.rfc6749 import ClientMixin
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from sandbox_ehr.config import SandboxConfig
from sandbox_ehr.scopes import join_scope, parse_resource_scope, split_scope

ClientType = Literal[
    "public", "confidential-symmetric", "confidential-asymmetric", "backend", "login"
]
CLIENT_TYPES: tuple[ClientType, ...] = (
    "public",
    "confidential-symmetric",
    "confidential-asymmetric",
    "backend",
    "login",
)
AUTH_METHODS: dict[ClientType, str] = {
    "public": "none",
    "confidential-symmetric": "client_secret_basic",
    "confidential-asymmetric": "private_key_jwt",
    "backend": "private_key_jwt",
    #: A plain OpenID Connect sign-in (the sandbox as the organisation's identity provider).
    "login": "client_secret_basic",
}
#: What a sign-in client may be granted: identity only, never FHIR access or launch context.
LOGIN_SCOPES = ("openid", "profile", "email", "groups")
JWKS_CACHE_SECONDS = 300


@dataclass(frozen=True)
class ClientRegistration:
    client_id: str
    client_type: ClientType
    redirect_uris: tuple[str, ...] = ()
    client_secret: str | None = None
    jwks: Mapping[str, Any] | None = None
    jwks_uri: str | None = None
    #: Shell-style patterns of the scopes this client may be granted; None = any.
    allowed_scopes: tuple[str, ...] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id is required")
        if self.client_type not in CLIENT_TYPES:
            raise ValueError(f"{self.client_id}: client_type must be one of {CLIENT_TYPES}")
        if self.client_type in ("confidential-symmetric", "login") and not self.client_secret:
            raise ValueError(f"{self.client_id}: a {self.client_type} client needs a secret")
        if self.client_type != "backend" and not self.redirect_uris:
            raise ValueError(f"{self.client_id}: redirect_uris are required")

    @property
    def auth_method(self) -> str:
        return AUTH_METHODS[self.client_type]

    @property
    def grant_types(self) -> frozenset[str]:
        if self.client_type == "backend":
            return frozenset({"client_credentials"})
        if self.client_type == "login":
            return frozenset({"authorization_code"})
        return frozenset({"authorization_code", "refresh_token"})

    @property
    def is_login(self) -> bool:
        """A sign-in client: OpenID Connect only, no SMART `aud`, launch or FHIR scopes."""
        return self.client_type == "login"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClientRegistration:
        allowed = {
            "client_id",
            "client_type",
            "redirect_uris",
            "client_secret",
            "jwks",
            "jwks_uri",
            "allowed_scopes",
            "name",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"client {data.get('client_id')!r}: unknown keys {sorted(unknown)}")
        scopes = data.get("allowed_scopes")
        return cls(
            client_id=str(data.get("client_id", "")),
            client_type=cast(ClientType, data.get("client_type", "public")),
            redirect_uris=tuple(data.get("redirect_uris", ())),
            client_secret=data.get("client_secret"),
            jwks=data.get("jwks"),
            jwks_uri=data.get("jwks_uri"),
            allowed_scopes=None if scopes is None else tuple(scopes),
            name=str(data.get("name", "")),
        )


def default_registrations(config: SandboxConfig) -> list[ClientRegistration]:
    jwks = config.client_jwks
    jwks_uri = config.client_jwks_uri
    if jwks is None and jwks_uri is None:
        app = urlsplit(config.app_launch_url)
        jwks_uri = f"{app.scheme}://{app.netloc}/.well-known/jwks.json"
    redirects = tuple(config.app_redirect_uris)
    app = urlsplit(config.app_launch_url)
    login_redirects = config.login_redirect_uris or (f"{app.scheme}://{app.netloc}/login/callback",)
    return [
        ClientRegistration("smartapp-demo", "public", redirects, name="Ofatumumab app (public)"),
        ClientRegistration(
            "smartapp-confidential",
            "confidential-symmetric",
            redirects,
            client_secret=config.confidential_client_secret,
            name="Ofatumumab app (client secret)",
        ),
        ClientRegistration(
            "smartapp-asymmetric",
            "confidential-asymmetric",
            redirects,
            jwks=jwks,
            jwks_uri=jwks_uri,
            name="Ofatumumab app (private_key_jwt)",
        ),
        ClientRegistration(
            "smartapp-backend",
            "backend",
            jwks=jwks,
            jwks_uri=jwks_uri,
            allowed_scopes=("system/*",),
            name="Ofatumumab worklist (backend services)",
        ),
        ClientRegistration(
            "smartapp-login",
            "login",
            tuple(login_redirects),
            client_secret=config.login_client_secret,
            allowed_scopes=LOGIN_SCOPES,
            name="Ofatumumab app (sign-in for the population worklist)",
        ),
    ]


def load_clients_file(path: str | Path) -> list[ClientRegistration]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    items = data.get("clients") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected {{'clients': [...]}}")
    return [ClientRegistration.from_dict(item) for item in items]


class SandboxClient(ClientMixin):  # type: ignore[misc]
    """authlib's view of a registration."""

    def __init__(self, registration: ClientRegistration) -> None:
        self.registration = registration
        self.client_id = registration.client_id

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # SMART: redirect_uri is always sent, and must match exactly

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client may have (levels and patterns), order kept."""
        backend = self.registration.client_type == "backend"
        patterns = self.registration.allowed_scopes
        kept = []
        for item in split_scope(scope):
            parsed = parse_resource_scope(item)
            if parsed is not None and (parsed.level == "system") != backend:
                continue
            if parsed is None and backend:
                continue  # no user, so no identity, launch context or refresh tokens
            if patterns is not None and not any(fnmatch.fnmatchcase(item, p) for p in patterns):
                continue
            kept.append(item)
        return join_scope(kept)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.registration.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        expected = self.registration.client_secret
        return expected is not None and secrets.compare_digest(
            expected.encode(), client_secret.encode()
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method == self.registration.auth_method
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.registration.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.registration.grant_types


class ClientRegistry:
    def __init__(
        self,
        registrations: Iterable[ClientRegistration],
        http: requests.Session,
        now: Callable[[], float],
        timeout_s: float = 5.0,
    ) -> None:
        self._clients = {reg.client_id: SandboxClient(reg) for reg in registrations}
        self._http = http
        self._now = now
        self._timeout_s = timeout_s
        self._jwks_cache: dict[str, tuple[float, KeySet]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls, config: SandboxConfig, http: requests.Session, now: Callable[[], float]
    ) -> ClientRegistry:
        regs: dict[str, ClientRegistration] = {}
        items: list[ClientRegistration] = []
        if config.include_default_clients:
            items += default_registrations(config)
        for item in config.clients:
            items.append(
                item if isinstance(item, ClientRegistration) else ClientRegistration.from_dict(item)
            )
        if config.clients_file:
            items += load_clients_file(config.clients_file)
        for reg in items:
            regs[reg.client_id] = reg
        return cls(regs.values(), http, now)

    def get(self, client_id: str | None) -> SandboxClient | None:
        return self._clients.get(client_id or "")

    def all(self) -> list[SandboxClient]:
        return list(self._clients.values())

    def redirect_origins(self) -> set[str]:
        origins = set()
        for client in self._clients.values():
            for uri in client.registration.redirect_uris:
                parts = urlsplit(uri)
                origins.add(f"{parts.scheme}://{parts.netloc}")
        return origins

    def public_keys(self, client: SandboxClient, refresh: bool = False) -> KeySet:
        """The client's registered JWKS (inline, or fetched from its URL and cached 5 min).

        Raises ValueError when there is none or it cannot be read.
        """
        reg = client.registration
        if reg.jwks is not None:
            return KeySet.import_key_set(dict(reg.jwks))  # type: ignore[arg-type]
        if not reg.jwks_uri:
            raise ValueError("the client has no registered JWKS")
        now = self._now()
        with self._lock:
            cached = self._jwks_cache.get(reg.jwks_uri)
        if cached and not refresh and now - cached[0] < JWKS_CACHE_SECONDS:
            return cached[1]
        try:
            response = self._http.get(reg.jwks_uri, timeout=self._timeout_s)
            response.raise_for_status()
            keys = KeySet.import_key_set(response.json())
        except (requests.RequestException, ValueError, KeyError, TypeError, JoseError) as err:
            raise ValueError(f"cannot read the client's JWKS: {type(err).__name__}") from err
        with self._lock:
            self._jwks_cache[reg.jwks_uri] = (now, keys)
        return keys
