"""Settings of the sandbox EHR.

`SandboxConfig` is fixed when the app is built. `RuntimeSettings` holds the few knobs a
test may turn on a running sandbox (scope down-grading, lifetimes, auto-login, a clock
offset) through `POST /_admin/config`, which exists only in `test_mode`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sandbox_ehr.scopes import (
    ScopeFilter,
    ScopeFilterLike,
    ScopeRefusal,
    make_scope_filter,
    make_scope_refusal,
)

DEFAULT_PUBLIC_URL = "http://127.0.0.1:9090"
DEFAULT_FHIR_UPSTREAM = "http://127.0.0.1:8080/fhir"
DEFAULT_APP_LAUNCH_URL = "http://127.0.0.1:5000/launch"
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:5000/callback",
    "http://localhost:5000/callback",
    "http://localhost/callback",
)


@dataclass(frozen=True)
class SandboxUser:
    """A practitioner who can "log in" to the sandbox; `id` is also the FHIR resource id."""

    id: str
    name: str
    resource_type: str = "Practitioner"
    #: Groups named in the `groups` claim of a sign-in client's id_token (the app's login).
    groups: tuple[str, ...] = ()

    @property
    def email(self) -> str:
        return f"{self.id}@sandbox.example"

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"


DEFAULT_USERS = (
    SandboxUser("sandbox-neurologist", "Nora Neuro, MD (neurologist)", groups=("neurology",)),
    SandboxUser(
        "sandbox-coordinator", "Casey Coord, RN (care coordinator)", groups=("ms-coordinators",)
    ),
)


@dataclass(frozen=True)
class SandboxConfig:
    #: The sandbox's URL as the browser and app reach it; FHIR base: `{public_url}/fhir`.
    public_url: str = DEFAULT_PUBLIC_URL
    #: The real FHIR server behind the proxy (HAPI).
    fhir_upstream: str = DEFAULT_FHIR_UPSTREAM
    #: Redirect URIs registered for the default user-facing clients (exact match).
    app_redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS
    #: The app's launch URL: default target of the launcher and index page links.
    app_launch_url: str = DEFAULT_APP_LAUNCH_URL
    #: Redirect URIs of the sign-in client `smartapp-login` (the app's own OpenID Connect
    #: login); empty: `{origin of app_launch_url}/login/callback`.
    login_redirect_uris: tuple[str, ...] = ()
    #: Secret of the sign-in client `smartapp-login`.
    login_client_secret: str = "sandbox-login-secret"  # noqa: S105 - a published test secret
    #: Extra origins the launcher may redirect to (besides the registered redirect URIs' origins).
    launch_origins: tuple[str, ...] = ()
    #: Register the four default clients (see clients.default_registrations).
    include_default_clients: bool = True
    #: More clients (ClientRegistration or dicts in the clients-file format); same id overrides.
    clients: tuple[Any, ...] = ()
    #: A JSON file `{"clients": [...]}` loaded after `clients`.
    clients_file: str | None = None
    #: Secret of the default confidential-symmetric client `smartapp-confidential`.
    confidential_client_secret: str = "sandbox-secret"  # noqa: S105 - a published test secret
    #: Public JWKS of the default asymmetric and backend clients (inline) ...
    client_jwks: Mapping[str, Any] | None = None
    #: ... or its URL; when both are None: `{origin of app_launch_url}/.well-known/jwks.json`.
    client_jwks_uri: str | None = None
    users: tuple[SandboxUser, ...] = DEFAULT_USERS
    #: Skip the login page, acting as this user id.
    auto_login_user: str | None = None
    #: Skip the consent page.
    auto_approve: bool = False
    #: Scopes the sandbox refuses to grant: a ScopeFilter, "read-only", a dict
    #: `{"strip": "cud", "drop": ["offline_access", "patient/Task.*"]}` or a callable.
    grant_scopes_filter: ScopeFilterLike = None
    #: Scopes refused with `invalid_scope` instead of narrowed: a ScopeRefusal, a preset
    #: ("writes": a read-only registration, "v2": a v1-only one, "v1") or its dict form.
    refuse_scopes: ScopeRefusal | str | Mapping[str, Any] | None = None
    access_token_lifetime: int = 3600
    #: Backend services tokens (SMART: SHOULD be <= 300 s).
    backend_token_lifetime: int = 300
    code_lifetime: int = 60
    launch_lifetime: int = 3600
    online_refresh_lifetime: int = 8 * 3600
    offline_refresh_lifetime: int = 30 * 24 * 3600
    id_token_lifetime: int = 3600
    #: RS256 key for id_tokens (PEM or JWK JSON); generated (and saved there) when missing.
    signing_key_file: str | None = None
    #: Signs the hidden form state of the authorize pages; random per process when None.
    secret_key: str | None = None
    #: Enables `/_admin/*`.
    test_mode: bool = False
    #: The CDS Hooks discovery URL `/cds` calls; default `{app_launch_url origin}/cds-services`.
    cds_services_url: str | None = None
    #: The clock (seconds since the epoch); tests inject a fake one.
    now: Callable[[], float] = time.time
    fhir_timeout_s: float = 30.0

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def fhir_base(self) -> str:
        return f"{self.base_url}/fhir"

    @property
    def upstream_base(self) -> str:
        return self.fhir_upstream.rstrip("/")

    def user(self, user_id: str | None) -> SandboxUser | None:
        return next((u for u in self.users if u.id == user_id), None)


#: Settings a test may change at run time, with their types.
_RUNTIME_FIELDS: dict[str, type] = {
    "access_token_lifetime": int,
    "backend_token_lifetime": int,
    "code_lifetime": int,
    "online_refresh_lifetime": int,
    "offline_refresh_lifetime": int,
    "auto_login_user": str,
    "auto_approve": bool,
    "clock_offset": float,
}


@dataclass
class RuntimeSettings:
    grant_scopes_filter: ScopeFilter | Callable[[list[str]], list[str]] | None
    refuse_scopes: ScopeRefusal | None
    access_token_lifetime: int
    backend_token_lifetime: int
    code_lifetime: int
    online_refresh_lifetime: int
    offline_refresh_lifetime: int
    auto_login_user: str | None
    auto_approve: bool
    #: Seconds added to the configured clock: lets a test expire tokens of a running sandbox.
    clock_offset: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_config(cls, config: SandboxConfig) -> RuntimeSettings:
        return cls(
            grant_scopes_filter=make_scope_filter(config.grant_scopes_filter),
            refuse_scopes=make_scope_refusal(config.refuse_scopes),
            access_token_lifetime=config.access_token_lifetime,
            backend_token_lifetime=config.backend_token_lifetime,
            code_lifetime=config.code_lifetime,
            online_refresh_lifetime=config.online_refresh_lifetime,
            offline_refresh_lifetime=config.offline_refresh_lifetime,
            auto_login_user=config.auto_login_user,
            auto_approve=config.auto_approve,
        )

    def reset(self, config: SandboxConfig) -> None:
        fresh = RuntimeSettings.from_config(config)
        with self._lock:
            for f in fields(self):
                if not f.name.startswith("_"):
                    setattr(self, f.name, getattr(fresh, f.name))

    def snapshot(self) -> RuntimeSettings:
        with self._lock:
            return replace(self, _lock=threading.Lock())

    def update(self, changes: Mapping[str, Any], users: tuple[SandboxUser, ...]) -> None:
        """Apply a JSON object of changes; ValueError names the first bad key."""
        parsed: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "grant_scopes_filter":
                parsed[key] = make_scope_filter(value)
                continue
            if key == "refuse_scopes":
                parsed[key] = make_scope_refusal(value)
                continue
            kind = _RUNTIME_FIELDS.get(key)
            if kind is None:
                raise ValueError(f"unknown setting {key!r}")
            if value is None and key == "auto_login_user":
                parsed[key] = None
                continue
            ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
            if kind is float:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok:
                raise ValueError(f"{key} must be {kind.__name__}")
            if kind is int and value <= 0:
                raise ValueError(f"{key} must be > 0")
            if key == "auto_login_user" and not any(u.id == value for u in users):
                raise ValueError(f"auto_login_user: unknown user {value!r}")
            parsed[key] = float(value) if kind is float else value
        with self._lock:
            for key, value in parsed.items():
                setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        snap = self.snapshot()
        out: dict[str, Any] = {
            f.name: getattr(snap, f.name) for f in fields(snap) if not f.name.startswith("_")
        }
        out["refuse_scopes"] = snap.refuse_scopes.to_spec() if snap.refuse_scopes else None
        flt = snap.grant_scopes_filter
        out["grant_scopes_filter"] = (
            flt.to_spec() if isinstance(flt, ScopeFilter) else (None if flt is None else "callable")
        )
        return out
