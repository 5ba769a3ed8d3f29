"""One immutable settings object built from the environment (SPEC §4 "Configuration").

A missing or invalid setting raises `ConfigError`, whose message names the variable, so
`smartapp serve` can stop with one clear line instead of a traceback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fhir_mappings.search.population import EXPORT_TYPES
from fhir_mappings.site import Mappings, default_mappings, load_mappings
from smartapp.fhir.dialect import SearchDialect
from smartapp.quirks import QuirksError, TenantQuirks
from smartapp.rules.settings import RuleSettings, with_overrides

DEFAULT_SCOPES = (
    "launch openid fhirUser online_access "
    "patient/Patient.r patient/Observation.rs patient/MedicationAdministration.rs "
    "patient/MedicationRequest.rs patient/MedicationDispense.rs patient/MedicationStatement.rs "
    "patient/Medication.rs patient/Immunization.rs "
    "patient/Condition.rs patient/AllergyIntolerance.rs patient/DiagnosticReport.rs "
    "patient/ImagingStudy.rs patient/Procedure.rs patient/CarePlan.rs patient/CarePlan.cu "
    "patient/Task.rs patient/Task.cu patient/Provenance.c"
)

#: Backend Services (system-level, no user) scopes for the coordinator worklist: read
#: access to exactly the types it reads (its `$export` types and the Group), no writes.
#: Narrowed at run time to the types the server has (smartapp.launch.backend).
DEFAULT_BACKEND_SCOPES = " ".join(f"system/{rtype}.rs" for rtype in (*EXPORT_TYPES, "Group"))

#: How the app authenticates at a token endpoint (SMARTAPP_CLIENT_AUTH, tenant `auth_method`).
#: `auto`: client_secret_basic when a client secret is set, else a public client (`none`).
CLIENT_AUTH_METHODS = (
    "auto",
    "none",
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
)


class ConfigError(ValueError):
    """A setting is missing or invalid; `str(err)` is one line naming the variable."""


#: What a per-issuer callback id may look like (it is a path segment of the redirect URI).
CALLBACK_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]{0,79}$")
_NOT_ID = re.compile(r"[^a-z0-9.]+")


def default_callback_id(iss: str) -> str:
    """The redirect URI segment of an issuer: its host, port and path, lower-case, with
    every run of other characters as one '-' (`https://ehr.example.org/fhir/r4` →
    `ehr.example.org-fhir-r4`). Long bases are cut and end in a short hash."""
    parts = urlsplit(normalise_base(iss))
    text = _NOT_ID.sub("-", f"{parts.netloc}{parts.path}".lower()).strip("-.") or "ehr"
    if len(text) > 60:
        digest = hashlib.sha256(normalise_base(iss).encode()).hexdigest()[:8]
        text = f"{text[:51].rstrip('-.')}-{digest}"
    return text


def normalise_base(url: str) -> str:
    """A FHIR base as compared in allowlists: scheme and host lower-cased, no trailing slash."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


#: The keys a tenant in the tenants file may have (docs/connecting.md describes each).
TENANT_KEYS = frozenset(
    {
        "iss",
        "client_id",
        "client_secret",
        "scopes",
        "open_server",
        "label",
        "auth_method",
        "frame_ancestors",
        "quirks",
        "bulk_file_origins",
        "bulk_token_origins",
        "callback_id",
        "auth_origins",
    }
)


@dataclass(frozen=True)
class Tenant:
    """Per-issuer client settings (from the tenants file, else the global ones)."""

    iss: str
    client_id: str | None
    client_secret: str | None = None
    scopes: str | None = None
    #: No authorization server: the app reads the FHIR server directly (HAPI sandbox, local HAPI).
    open_server: bool = False
    label: str | None = None
    #: One of CLIENT_AUTH_METHODS; None means `auto`.
    auth_method: str | None = None
    #: Extra origins allowed to frame the app (the EHR's UI when it differs from `iss`).
    frame_ancestors: tuple[str, ...] = ()
    #: What this server needs beyond the standards (smartapp.quirks).
    quirks: TenantQuirks = field(default_factory=TenantQuirks)
    #: Origins besides the FHIR server's that may serve Bulk Data files (signed URLs, no
    #: token), and origins trusted with the access token for them.
    bulk_file_origins: tuple[str, ...] = ()
    bulk_token_origins: tuple[str, ...] = ()
    #: The last path segment of this EHR's redirect URI (`{public URL}/callback/{id}`): one
    #: redirect URI per issuer, so an answer from one EHR cannot complete another's launch.
    callback_id: str = ""
    #: Origins besides the FHIR server's own where this EHR's token endpoint may live
    #: (e.g. a separate authorization host); anything else is refused (OAuth mix-up).
    auth_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.callback_id:
            object.__setattr__(self, "callback_id", default_callback_id(self.iss))

    @property
    def display_name(self) -> str:
        """A name for logs and pages: the label, else the host (never a patient detail)."""
        return self.label or urlsplit(self.iss).netloc or self.iss


@dataclass(frozen=True)
class LoginSettings:
    """The app's own OpenID Connect login (population mode, SMARTAPP_LOGIN_*)."""

    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid profile email"
    #: Values of `user_claim` allowed in (any user of the identity provider is NOT enough).
    allowed_users: frozenset[str] = frozenset()
    #: Groups (values of `groups_claim`) whose members are allowed in.
    allowed_groups: frozenset[str] = frozenset()
    user_claim: str = "sub"
    groups_claim: str = "groups"


@dataclass(frozen=True)
class AppConfig:
    fhir_base: str | None = None
    issuers: tuple[str, ...] = ()
    tenants: Mapping[str, Tenant] = field(default_factory=dict)
    client_id: str | None = None
    client_secret: str | None = None
    private_key_path: str | None = None
    scopes: str = DEFAULT_SCOPES
    secret_key: str | None = None
    #: The value sets in force (shipped + the site file), parsed once by `load_config`; the
    #: site file's settings are already in `rules`.
    mappings: Mappings = field(default_factory=default_mappings)
    log_level: str = "INFO"
    public_url: str | None = None
    fhir_timeout_s: float = 20.0
    rules: RuleSettings = field(default_factory=RuleSettings)
    #: Allowlisted issuers that are open FHIR servers (no OAuth); subset of `issuers`.
    open_servers: tuple[str, ...] = ()
    #: Plain-http local development: cookie without `__Host-`/Secure, SameSite=Lax.
    insecure_cookies: bool = False
    #: `kid` of SMARTAPP_PRIVATE_KEY (default: the key's own kid, else its RFC 7638 thumbprint).
    key_id: str | None = None
    #: client_id registered for Backend Services (client_credentials); default `client_id`.
    backend_client_id: str | None = None
    backend_scopes: str = DEFAULT_BACKEND_SCOPES
    #: Token-endpoint authentication for issuers from SMARTAPP_ISSUERS (CLIENT_AUTH_METHODS).
    client_auth_method: str = "auto"
    #: Extra origins (EHR UIs) allowed in CSP frame-ancestors besides the issuers' origins.
    frame_ancestors: tuple[str, ...] = ()
    #: Worklist with the app's own Backend Services token for this allowlisted FHIR base
    #: (SMARTAPP_BACKEND_ISS; needs SMARTAPP_PRIVATE_KEY). See docs/worklist.md.
    backend_iss: str | None = None
    #: `Group` id whose members are always on the worklist (SMARTAPP_WORKLIST_GROUP).
    worklist_group: str | None = None
    #: Only the Group's members are on the worklist (SMARTAPP_WORKLIST_GROUP_ONLY=1).
    worklist_group_only: bool = False
    #: Origin of the local sandbox EHR that launch.html's sandbox form points at
    #: (SMARTAPP_SANDBOX_EHR; scripts/demo sets it). None: the page's own default.
    sandbox_ehr: str | None = None
    #: The app's own database (SMARTAPP_DATABASE_URL; default a SQLite file in
    #: SMARTAPP_DATA_DIR). None: a private in-memory database (unit tests only).
    database_url: str | None = None
    #: Fernet keys encrypting session values at rest, newest first (SMARTAPP_TOKEN_KEY).
    #: Empty: one key derived from SMARTAPP_SECRET_KEY (docs/store.md).
    token_keys: tuple[str, ...] = field(default=(), repr=False)
    #: The app's own login for population mode (SMARTAPP_LOGIN_ISSUER …); None: no login,
    #: so Backend Services mode serves the worklist to no one.
    login: LoginSettings | None = None
    #: Seconds one view or command may spend on FHIR reads, retries and paging included.
    fhir_deadline_s: float = 30.0
    #: Largest FHIR response body read (bytes); a larger one is not read.
    fhir_max_bytes: int = 50 * 1024 * 1024
    #: Seconds the web worklist may spend reading the population.
    worklist_deadline_s: float = 300.0
    #: Seconds `smartapp worklist --export` waits for the server to finish an export.
    export_max_wait_s: float = 1800.0
    #: `smartapp serve`: gunicorn worker processes and threads per worker.
    workers: int = 1
    threads: int = 8
    #: JSON file of the CDS Hooks clients allowed to call /cds-services (SMARTAPP_CDS_CLIENTS;
    #: read by smartapp.cds.clients). None: every service call is refused.
    cds_clients_path: str | None = None

    def tenant(self, iss: str) -> Tenant | None:
        """The allowlisted tenant for `iss`, or None: nothing is fetched for unknown issuers."""
        key = normalise_base(iss)
        if key in self.tenants:
            return self.tenants[key]
        if key in self.issuers:
            return Tenant(
                iss=key,
                client_id=self.client_id,
                client_secret=self.client_secret,
                open_server=key in self.open_servers,
                auth_method=None if self.client_auth_method == "auto" else self.client_auth_method,
            )
        return None

    def dialect_for(self, base: str) -> SearchDialect:
        """How the allowlisted server at `base` wants searches asked (its tenant's quirks)."""
        tenant = self.tenant(base)
        return tenant.quirks.dialect() if tenant is not None else SearchDialect()

    def all_tenants(self) -> tuple[Tenant, ...]:
        """Every allowlisted tenant (tenants file first, then SMARTAPP_ISSUERS)."""
        keys = list(self.tenants) + [iss for iss in self.issuers if iss not in self.tenants]
        found = (self.tenant(key) for key in keys)
        return tuple(tenant for tenant in found if tenant is not None)


def _require_url(name: str, value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}: '{value}' is not an http(s) URL")
    return normalise_base(value)


def _require_origin(name: str, value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(f"{name}: '{value}' is not an origin like https://ehr.example.org")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _check_auth_method(name: str, value: str) -> str:
    if value not in CLIENT_AUTH_METHODS:
        raise ConfigError(f"{name}: '{value}' is not one of {', '.join(CLIENT_AUTH_METHODS)}")
    return value


def _load_tenants(path: str) -> dict[str, Tenant]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"SMARTAPP_TENANTS: cannot read {path}: {err}") from err
    if not isinstance(raw, list):
        raise ConfigError("SMARTAPP_TENANTS: the file must hold a JSON list of tenants")
    tenants: dict[str, Tenant] = {}
    for item in raw:
        if not isinstance(item, dict) or "iss" not in item:
            raise ConfigError("SMARTAPP_TENANTS: every tenant needs an 'iss'")
        unknown = set(item) - TENANT_KEYS
        if unknown:
            raise ConfigError(f"SMARTAPP_TENANTS: unknown key(s) {sorted(unknown)}")
        iss = _require_url("SMARTAPP_TENANTS iss", str(item["iss"]))
        auth_method = item.get("auth_method")
        if auth_method is not None:
            auth_method = _check_auth_method("SMARTAPP_TENANTS auth_method", str(auth_method))
        ancestors = item.get("frame_ancestors") or []
        if not isinstance(ancestors, list):
            raise ConfigError("SMARTAPP_TENANTS: 'frame_ancestors' must be a list of origins")
        try:
            quirks = TenantQuirks.parse(item.get("quirks"))
        except QuirksError as err:
            raise ConfigError(f"SMARTAPP_TENANTS {iss}: {err}") from err
        callback_id = str(item.get("callback_id") or "")
        if callback_id and not CALLBACK_ID.match(callback_id):
            raise ConfigError(
                f"SMARTAPP_TENANTS callback_id: '{callback_id}' must be lower-case letters, "
                "digits, '.' and '-'"
            )
        tenants[iss] = Tenant(
            iss=iss,
            client_id=item.get("client_id"),
            client_secret=item.get("client_secret"),
            scopes=item.get("scopes"),
            open_server=bool(item.get("open_server", False)),
            label=item.get("label"),
            auth_method=None if auth_method in (None, "auto") else auth_method,
            frame_ancestors=tuple(
                _require_origin("SMARTAPP_TENANTS frame_ancestors", str(origin))
                for origin in ancestors
            ),
            quirks=quirks,
            bulk_file_origins=_origins(item, "bulk_file_origins"),
            bulk_token_origins=_origins(item, "bulk_token_origins"),
            callback_id=callback_id,
            auth_origins=_origins(item, "auth_origins"),
        )
    return tenants


def _origins(item: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = item.get(key) or []
    if not isinstance(values, list):
        raise ConfigError(f"SMARTAPP_TENANTS: '{key}' must be a list of origins")
    return tuple(_require_origin(f"SMARTAPP_TENANTS {key}", str(value)) for value in values)


def _check_callback_ids(config: AppConfig) -> None:
    seen: dict[str, str] = {}
    for tenant in config.all_tenants():
        other = seen.get(tenant.callback_id)
        if other is not None:
            raise ConfigError(
                f"SMARTAPP_TENANTS: {other} and {tenant.iss} would share the redirect URI "
                f"/callback/{tenant.callback_id}; give one of them a 'callback_id'"
            )
        seen[tenant.callback_id] = tenant.iss


def _number(env_value: str | None, name: str, default: float, *, minimum: float) -> float:
    text = env_value or str(default)
    try:
        value = float(text)
    except ValueError as err:
        raise ConfigError(f"{name}: '{text}' is not a number") from err
    if not value >= minimum:  # also catches NaN
        raise ConfigError(f"{name}: must be at least {minimum:g}")
    return value


def _names(text: str | None) -> frozenset[str]:
    return frozenset(item.strip() for item in (text or "").split(",") if item.strip())


def _login_settings(get: Any) -> LoginSettings | None:
    issuer = get("SMARTAPP_LOGIN_ISSUER")
    if not issuer:
        strays = [
            name
            for name in (
                "SMARTAPP_LOGIN_CLIENT_ID",
                "SMARTAPP_LOGIN_ALLOWED_USERS",
                "SMARTAPP_LOGIN_ALLOWED_GROUPS",
            )
            if get(name)
        ]
        if strays:
            raise ConfigError(f"{strays[0]}: set SMARTAPP_LOGIN_ISSUER too (the login's issuer)")
        return None
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ConfigError(f"SMARTAPP_LOGIN_ISSUER: '{issuer}' is not an http(s) URL")
    from smartapp.launch.discovery import is_loopback

    if parts.scheme != "https" and not is_loopback(issuer):
        raise ConfigError("SMARTAPP_LOGIN_ISSUER: must use https (http only on loopback)")
    client_id = get("SMARTAPP_LOGIN_CLIENT_ID")
    if not client_id:
        raise ConfigError("SMARTAPP_LOGIN_CLIENT_ID: required with SMARTAPP_LOGIN_ISSUER")
    secret = get("SMARTAPP_LOGIN_CLIENT_SECRET")
    if not secret:
        raise ConfigError("SMARTAPP_LOGIN_CLIENT_SECRET: required with SMARTAPP_LOGIN_ISSUER")
    users = _names(get("SMARTAPP_LOGIN_ALLOWED_USERS"))
    groups = _names(get("SMARTAPP_LOGIN_ALLOWED_GROUPS"))
    if not users and not groups:
        raise ConfigError(
            "SMARTAPP_LOGIN_ALLOWED_USERS: name the users (or SMARTAPP_LOGIN_ALLOWED_GROUPS "
            "the groups) who may open the population worklist"
        )
    scopes = get("SMARTAPP_LOGIN_SCOPES") or "openid profile email"
    if "openid" not in scopes.split():
        raise ConfigError("SMARTAPP_LOGIN_SCOPES: must include 'openid'")
    return LoginSettings(
        issuer=issuer.rstrip("/"),
        client_id=client_id,
        client_secret=secret,
        scopes=scopes,
        allowed_users=users,
        allowed_groups=groups,
        user_claim=get("SMARTAPP_LOGIN_USER_CLAIM") or "sub",
        groups_claim=get("SMARTAPP_LOGIN_GROUPS_CLAIM") or "groups",
    )


def load_config(
    environ: Mapping[str, str] | None = None,
    *,
    require_secret: bool = False,
    require_public_url: bool = False,
) -> AppConfig:
    """Build the settings from environment variables (see README "Configuration").

    `smartapp serve` asks for both the secret and the public URL: without the latter the
    request's `Host` header would choose the redirect URI and the CSRF origin."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(name)
        return value.strip() if value and value.strip() else None

    fhir_base = get("SMARTAPP_FHIR_BASE")
    if fhir_base:
        fhir_base = _require_url("SMARTAPP_FHIR_BASE", fhir_base)
    issuers = tuple(
        _require_url("SMARTAPP_ISSUERS", item)
        for item in (get("SMARTAPP_ISSUERS") or "").split(",")
        if item.strip()
    )
    tenants_path = get("SMARTAPP_TENANTS")
    tenants = _load_tenants(tenants_path) if tenants_path else {}
    secret_key = get("SMARTAPP_SECRET_KEY")
    if require_secret and not secret_key:
        raise ConfigError("SMARTAPP_SECRET_KEY: required to sign sessions (any long random string)")
    if secret_key and len(secret_key) < 16:
        raise ConfigError("SMARTAPP_SECRET_KEY: must be at least 16 characters")
    private_key = get("SMARTAPP_PRIVATE_KEY")
    if private_key and not Path(private_key).is_file():
        raise ConfigError(f"SMARTAPP_PRIVATE_KEY: no such file {private_key}")
    log_level = (get("SMARTAPP_LOG_LEVEL") or "INFO").upper()
    if log_level not in logging.getLevelNamesMapping():
        raise ConfigError(f"SMARTAPP_LOG_LEVEL: unknown level '{log_level}'")
    timeout = _number(get("SMARTAPP_FHIR_TIMEOUT"), "SMARTAPP_FHIR_TIMEOUT", 20, minimum=0.1)
    deadline = _number(get("SMARTAPP_FHIR_DEADLINE"), "SMARTAPP_FHIR_DEADLINE", 30, minimum=1)
    max_bytes = _number(
        get("SMARTAPP_FHIR_MAX_BYTES"), "SMARTAPP_FHIR_MAX_BYTES", 50 * 1024 * 1024, minimum=1024
    )
    worklist_deadline = _number(
        get("SMARTAPP_WORKLIST_DEADLINE"), "SMARTAPP_WORKLIST_DEADLINE", 300, minimum=1
    )
    export_max_wait = _number(
        get("SMARTAPP_EXPORT_MAX_WAIT"), "SMARTAPP_EXPORT_MAX_WAIT", 1800, minimum=60
    )
    workers = _number(get("SMARTAPP_WORKERS"), "SMARTAPP_WORKERS", 1, minimum=1)
    threads = _number(get("SMARTAPP_THREADS"), "SMARTAPP_THREADS", 8, minimum=2)
    if workers != int(workers) or threads != int(threads):
        raise ConfigError("SMARTAPP_WORKERS / SMARTAPP_THREADS: whole numbers only")
    public_url = get("SMARTAPP_PUBLIC_URL")
    if public_url:
        public_url = _require_url("SMARTAPP_PUBLIC_URL", public_url)
    elif require_public_url:
        raise ConfigError(
            "SMARTAPP_PUBLIC_URL: required to serve (the app's URL as browsers see it, "
            "e.g. https://ofa.example.org)"
        )

    open_servers = tuple(
        _require_url("SMARTAPP_OPEN_SERVERS", item)
        for item in (get("SMARTAPP_OPEN_SERVERS") or "").split(",")
        if item.strip()
    )
    strays = [iss for iss in open_servers if iss not in issuers and iss not in tenants]
    if strays:
        raise ConfigError(
            f"SMARTAPP_OPEN_SERVERS: {', '.join(strays)} not in SMARTAPP_ISSUERS (the allowlist)"
        )
    insecure_text = (get("SMARTAPP_INSECURE_COOKIES") or "0").lower()
    if insecure_text not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"SMARTAPP_INSECURE_COOKIES: '{insecure_text}' is not 0 or 1")
    client_auth = _check_auth_method(
        "SMARTAPP_CLIENT_AUTH", (get("SMARTAPP_CLIENT_AUTH") or "auto").lower()
    )
    client_secret = get("SMARTAPP_CLIENT_SECRET")
    if client_auth.startswith("client_secret") and not client_secret:
        raise ConfigError(f"SMARTAPP_CLIENT_AUTH: '{client_auth}' needs SMARTAPP_CLIENT_SECRET")
    if client_auth == "private_key_jwt" and not private_key:
        raise ConfigError("SMARTAPP_CLIENT_AUTH: 'private_key_jwt' needs SMARTAPP_PRIVATE_KEY")
    frame_ancestors = tuple(
        _require_origin("SMARTAPP_FRAME_ANCESTORS", item)
        for item in (get("SMARTAPP_FRAME_ANCESTORS") or "").split(",")
        if item.strip()
    )

    backend_iss = get("SMARTAPP_BACKEND_ISS")
    if backend_iss:
        backend_iss = _require_url("SMARTAPP_BACKEND_ISS", backend_iss)
        if backend_iss not in issuers and backend_iss not in tenants:
            raise ConfigError(
                f"SMARTAPP_BACKEND_ISS: {backend_iss} not in SMARTAPP_ISSUERS (the allowlist)"
            )
        if not private_key:
            raise ConfigError("SMARTAPP_BACKEND_ISS: Backend Services need SMARTAPP_PRIVATE_KEY")
    worklist_group = get("SMARTAPP_WORKLIST_GROUP")
    if worklist_group:
        from fhir_mappings.search.population import group_id

        try:
            worklist_group = group_id(worklist_group)
        except ValueError as err:
            raise ConfigError(f"SMARTAPP_WORKLIST_GROUP: {err}") from err
    group_only_text = (get("SMARTAPP_WORKLIST_GROUP_ONLY") or "0").lower()
    if group_only_text not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"SMARTAPP_WORKLIST_GROUP_ONLY: '{group_only_text}' is not 0 or 1")
    worklist_group_only = group_only_text in ("1", "true", "yes")
    if worklist_group_only and not worklist_group:
        raise ConfigError("SMARTAPP_WORKLIST_GROUP_ONLY: needs SMARTAPP_WORKLIST_GROUP")

    sandbox_text = get("SMARTAPP_SANDBOX_EHR")
    sandbox_ehr = _require_origin("SMARTAPP_SANDBOX_EHR", sandbox_text) if sandbox_text else None

    database_url = _database_url(get("SMARTAPP_DATABASE_URL"), get("SMARTAPP_DATA_DIR"), env)
    token_keys = _token_keys(get("SMARTAPP_TOKEN_KEY"))
    cds_clients_path = get("SMARTAPP_CDS_CLIENTS")
    if cds_clients_path and not Path(cds_clients_path).is_file():
        raise ConfigError(f"SMARTAPP_CDS_CLIENTS: no such file {cds_clients_path}")

    mappings, rules = _site_mappings(get("SMARTAPP_MAPPINGS"))

    config = AppConfig(
        fhir_base=fhir_base,
        issuers=issuers,
        tenants=tenants,
        client_id=get("SMARTAPP_CLIENT_ID"),
        client_secret=client_secret,
        private_key_path=private_key,
        scopes=get("SMARTAPP_SCOPES") or DEFAULT_SCOPES,
        secret_key=secret_key,
        mappings=mappings,
        log_level=log_level,
        public_url=public_url,
        fhir_timeout_s=timeout,
        rules=rules,
        open_servers=open_servers,
        insecure_cookies=insecure_text in ("1", "true", "yes"),
        key_id=get("SMARTAPP_KEY_ID"),
        backend_client_id=get("SMARTAPP_BACKEND_CLIENT_ID"),
        backend_scopes=get("SMARTAPP_BACKEND_SCOPES") or DEFAULT_BACKEND_SCOPES,
        client_auth_method=client_auth,
        frame_ancestors=frame_ancestors,
        backend_iss=backend_iss,
        worklist_group=worklist_group,
        worklist_group_only=worklist_group_only,
        sandbox_ehr=sandbox_ehr,
        database_url=database_url,
        token_keys=token_keys,
        login=_login_settings(get),
        fhir_deadline_s=deadline,
        fhir_max_bytes=int(max_bytes),
        worklist_deadline_s=worklist_deadline,
        export_max_wait_s=export_max_wait,
        workers=int(workers),
        threads=int(threads),
        cds_clients_path=cds_clients_path,
    )
    _check_callback_ids(config)
    return config


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the default SQLite database lives: $XDG_DATA_HOME/smartapp, else
    ~/.local/share/smartapp."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "smartapp"


def _database_url(url: str | None, data_dir: str | None, env: Mapping[str, str]) -> str:
    from smartapp.store.database import normalise_url

    if url is None:
        folder = Path(data_dir).expanduser() if data_dir else default_data_dir(env)
        return f"sqlite:///{folder.resolve() / 'smartapp.db'}"
    try:
        return normalise_url(url)
    except ValueError as err:
        raise ConfigError(f"SMARTAPP_DATABASE_URL: {err}") from err


def _token_keys(text: str | None) -> tuple[str, ...]:
    from smartapp.store.cipher import CipherKeyError, check_key

    keys = tuple(item.strip() for item in (text or "").split(",") if item.strip())
    for number, key in enumerate(keys, start=1):
        try:
            check_key(key)
        except CipherKeyError as err:
            raise ConfigError(
                f"SMARTAPP_TOKEN_KEY: key {number} is not a Fernet key ({err}); make one with "
                "`smartapp db new-key`"
            ) from err
    return keys


def _site_mappings(path: str | None) -> tuple[Mappings, RuleSettings]:
    """The mappings in force and the rule settings with the site file's overrides: the one
    place the file is read (fhir_mappings owns its format; the rules own the settings)."""
    try:
        mappings = load_mappings(path)
        return mappings, with_overrides(RuleSettings(), dict(mappings.settings))
    except ValueError as err:  # SiteMappingsError is a ValueError
        raise ConfigError(f"SMARTAPP_MAPPINGS: {err}") from err
