"""The sandbox's RS256 signing key (id_tokens) and its public JWKS."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

ID_TOKEN_ALG = "RS256"  # noqa: S105 - an algorithm name, not a secret


class SigningKey:
    def __init__(self, key: RSAKey) -> None:
        key.ensure_kid()
        self.key = key

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    @classmethod
    def load_or_create(cls, path: str | None) -> SigningKey:
        """Load a PEM or JWK file; generate a 2048-bit key when there is none (saved to `path`)."""
        if path and Path(path).exists():
            raw = Path(path).read_bytes()
            if raw.lstrip().startswith(b"{"):
                key = RSAKey.import_key(json.loads(raw))
            else:
                key = RSAKey.import_key(raw)
            if not key.is_private:
                raise ValueError(f"{path}: not a private RSA key")
            return cls(key)
        key = RSAKey.generate_key(2048)
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as sink:
                sink.write(key.as_pem(private=True))
        return cls(key)

    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        public.update({"use": "sig", "alg": ID_TOKEN_ALG, "kid": self.kid})
        return {"keys": [public]}

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": ID_TOKEN_ALG, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=[ID_TOKEN_ALG])
