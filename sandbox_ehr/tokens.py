"""What the sandbox remembers: launches, authorization codes, tokens and used assertion ids.

Everything lives in memory behind one lock; a restart forgets it all, as a sandbox should.
Tokens are opaque random strings; their meaning (scopes, patient, user, expiry) stays here.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, TokenMixin

from sandbox_ehr.scopes import split_scope


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


@dataclass(frozen=True)
class LaunchContext:
    """What the EHR knows when it opens the app (the `launch` parameter points here)."""

    launch_id: str
    patient: str | None
    user_id: str
    need_patient_banner: bool
    expires_at: float


@dataclass(frozen=True)
class GrantContext:
    """One approved authorization; its code and all tokens derived from it share `grant_id`."""

    grant_id: str
    client_id: str
    scope: str  # as granted, which may differ from what was asked
    user_id: str | None
    patient: str | None
    need_patient_banner: bool

    @property
    def scopes(self) -> list[str]:
        return split_scope(self.scope)


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    context: GrantContext
    expires_at: float
    used: bool = False

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.context.scope


@dataclass
class TokenRecord(TokenMixin):  # type: ignore[misc]
    access_token: str
    scope: str  # may be narrower than context.scope after a refresh asking for less
    context: GrantContext
    issued_at: float
    expires_at: float
    refresh_token: str | None = None
    refresh_expires_at: float | None = None
    revoked: bool = False
    refresh_used: bool = False

    @property
    def scopes(self) -> list[str]:
        return split_scope(self.scope)

    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.context.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - self.issued_at)

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class Store:
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _launches: dict[str, LaunchContext] = field(default_factory=dict)
    _codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    _access: dict[str, TokenRecord] = field(default_factory=dict)
    _refresh: dict[str, TokenRecord] = field(default_factory=dict)
    _jtis: dict[tuple[str, str], float] = field(default_factory=dict)

    # -- launches ---------------------------------------------------------------------------
    def create_launch(
        self, patient: str | None, user_id: str, need_patient_banner: bool, expires_at: float
    ) -> LaunchContext:
        launch = LaunchContext(new_secret(16), patient, user_id, need_patient_banner, expires_at)
        with self._lock:
            self._launches[launch.launch_id] = launch
        return launch

    def get_launch(self, launch_id: str, now: float) -> LaunchContext | None:
        with self._lock:
            launch = self._launches.get(launch_id)
        if launch is None or launch.expires_at <= now:
            return None
        return launch

    # -- codes --------------------------------------------------------------------------------
    def save_code(self, code: AuthorizationCode) -> None:
        with self._lock:
            self._codes[code.code] = code

    def take_code(self, code: str, client_id: str, now: float) -> AuthorizationCode | None:
        """The code, consumed by this call; None when unknown, expired, foreign or reused.

        A second use also revokes every token issued from the first (RFC 6749 §4.1.2).
        """
        with self._lock:
            record = self._codes.get(code)
            if record is None or record.context.client_id != client_id:
                return None
            if record.used:
                self._revoke_grant_locked(record.context.grant_id)
                return None
            record.used = True
            if record.expires_at <= now:
                return None
            return record

    # -- tokens -------------------------------------------------------------------------------
    def save_token(self, record: TokenRecord) -> None:
        with self._lock:
            self._access[record.access_token] = record
            if record.refresh_token:
                self._refresh[record.refresh_token] = record

    def access_token(self, token: str) -> TokenRecord | None:
        with self._lock:
            return self._access.get(token)

    def refresh_token(self, token: str, now: float) -> TokenRecord | None:
        """The live record for a refresh token. Presenting a rotated one revokes its family."""
        with self._lock:
            record = self._refresh.get(token)
            if record is None or record.revoked:
                return None
            if record.refresh_used:
                self._revoke_grant_locked(record.context.grant_id)
                return None
            if record.refresh_expires_at is not None and record.refresh_expires_at <= now:
                return None
            return record

    def claim_refresh(self, record: TokenRecord) -> bool:
        """Mark a refresh token used; False when another request got there first."""
        with self._lock:
            if record.refresh_used or record.revoked:
                return False
            record.refresh_used = True
            return True

    def _revoke_grant_locked(self, grant_id: str) -> None:
        for record in self._access.values():
            if record.context.grant_id == grant_id:
                record.revoked = True

    # -- client assertions --------------------------------------------------------------------
    def remember_jti(self, client_id: str, jti: str, keep_until: float, now: float) -> bool:
        """Record an assertion id; False when this client used it before (a replay)."""
        with self._lock:
            for key in [k for k, until in self._jtis.items() if until < now]:
                del self._jtis[key]
            if (client_id, jti) in self._jtis:
                return False
            self._jtis[(client_id, jti)] = keep_until
            return True
