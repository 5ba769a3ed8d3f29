"""Encryption at rest for what the store keeps about a session (tokens above all).

Fernet (AES-128-CBC + HMAC-SHA256, from the `cryptography` package) with the keys of
SMARTAPP_TOKEN_KEY: a comma-separated list, newest first. The first key encrypts; every key
decrypts, so a key is rotated by putting the new one first, running
`smartapp db rotate-key` (re-encrypts every stored value with the first key), then removing
the old one (docs/store.md). Without SMARTAPP_TOKEN_KEY the key is derived from
SMARTAPP_SECRET_KEY (HKDF-SHA256): still useless to someone holding only the database.

A value that no key can decrypt (a key was removed too early, or a row was tampered with)
reads as absent: the session's user launches again.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_DERIVATION_INFO = b"smartapp token encryption key v1"


class CipherKeyError(ValueError):
    """A key is not a Fernet key (32 url-safe base64-encoded bytes)."""


def new_key() -> str:
    """A fresh random key for SMARTAPP_TOKEN_KEY."""
    return Fernet.generate_key().decode("ascii")


def derived_key(secret: str) -> str:
    """The key used when SMARTAPP_TOKEN_KEY is not set (from SMARTAPP_SECRET_KEY)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(
        secret.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw).decode("ascii")


def check_key(key: str) -> str:
    """`key` unchanged when it is a Fernet key; CipherKeyError otherwise (no key echoed)."""
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as err:
        raise CipherKeyError("not url-safe base64") from err
    if len(raw) != 32:
        raise CipherKeyError(f"{len(raw)} bytes instead of 32")
    return key


class TokenCipher:
    """Encrypts JSON values with the first key, decrypts with any (module doc)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise CipherKeyError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(check_key(key)) for key in keys])
        self.key_count = len(keys)

    def encrypt(self, value: dict[str, Any]) -> str:
        """The value as JSON, encrypted (raises TypeError when it is not JSON-serialisable)."""
        data = json.dumps(value, separators=(",", ":")).encode("utf-8")
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, token: str) -> dict[str, Any] | None:
        """The value, or None when no key can decrypt it (or it is not a JSON object)."""
        try:
            data = self._fernet.decrypt(token.encode("ascii"))
            value = json.loads(data)
        except (InvalidToken, ValueError, UnicodeEncodeError):
            return None
        return value if isinstance(value, dict) else None

    def rotate(self, token: str) -> str | None:
        """The same value encrypted with the first key; None when it cannot be decrypted."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            return None
