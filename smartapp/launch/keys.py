"""The app's signing key (SMARTAPP_PRIVATE_KEY) and the public JWKS built from it.

Accepted: a PEM private key, or a JWK JSON file (one key, or a key set whose first private
key is used). RSA keys sign with RS384, EC P-384 keys with ES384 — the two algorithms SMART
requires clients to support. The `kid` is the JWK's own, else SMARTAPP_KEY_ID, else the
key's RFC 7638 thumbprint (stable across restarts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey, import_key

from smartapp.config import ConfigError


@dataclass(frozen=True)
class AppKey:
    key: RSAKey | ECKey
    kid: str
    alg: str

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = dict(self.key.as_dict(private=False))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk


def _alg_for(key: object) -> str:
    if isinstance(key, RSAKey):
        return "RS384"
    if isinstance(key, ECKey) and key.curve_name == "P-384":
        return "ES384"
    raise ConfigError("SMARTAPP_PRIVATE_KEY: use an RSA key (RS384) or an EC P-384 key (ES384)")


def _import_pem(text: str) -> RSAKey | ECKey:
    private = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    if isinstance(private, rsa.RSAPrivateKey):
        return RSAKey.import_key(text)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(text)
    raise ConfigError("SMARTAPP_PRIVATE_KEY: the file holds no RSA or EC private key")


def load_app_key(path: str, *, kid: str | None = None) -> AppKey:
    """Read and check the key file; every problem is one ConfigError line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"SMARTAPP_PRIVATE_KEY: cannot read {path}: {err}") from err
    file_kid: str | None = None
    try:
        if text.lstrip().startswith("{"):
            data = json.loads(text)
            if isinstance(data, dict) and isinstance(data.get("keys"), list):
                candidates = [
                    item for item in data["keys"] if isinstance(item, dict) and "d" in item
                ]
                if not candidates:
                    raise ConfigError("SMARTAPP_PRIVATE_KEY: the key set holds no private key")
                data = candidates[0]
            if not isinstance(data, dict) or "d" not in data:
                raise ConfigError("SMARTAPP_PRIVATE_KEY: the JWK is not a private key")
            file_kid = data.get("kid") if isinstance(data.get("kid"), str) else None
            key = import_key(data)
        else:
            key = _import_pem(text)
    except (JoseError, ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise ConfigError(f"SMARTAPP_PRIVATE_KEY: {path} is not a usable private key") from err
    if not isinstance(key, RSAKey | ECKey) or not key.is_private:
        raise ConfigError("SMARTAPP_PRIVATE_KEY: the file holds no RSA or EC private key")
    alg = _alg_for(key)
    return AppKey(key=key, kid=file_kid or kid or key.thumbprint(), alg=alg)


def public_jwks(app_key: AppKey | None) -> dict[str, Any]:
    """The JWKS to publish: public parts only; an empty set when no key is configured."""
    if app_key is None:
        return {"keys": []}
    return {"keys": [app_key.public_jwk()]}


def signing_keys(document: object) -> KeySet:
    """The RSA and EC signing keys of a JWK Set document (as fetched from a `jwks_uri` or
    `jku`). ValueError ("is not a key set", "holds no usable key") otherwise."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise ValueError("is not a key set")
    usable = [
        key
        for key in keys
        if isinstance(key, dict)
        and key.get("kty") in ("RSA", "EC")
        and key.get("use", "sig") == "sig"
    ]
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError, KeyError) as err:
        raise ValueError("holds no usable key") from err
