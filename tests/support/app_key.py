"""The app's private key for SMART Backend Services, written for a test's servers: the app
reads the PEM (`SMARTAPP_PRIVATE_KEY`), the sandbox EHR trusts the public JWKS
(`--client-jwks`)."""

from __future__ import annotations

import json
from pathlib import Path

from joserfc.jwk import RSAKey

from smartapp.launch.keys import load_app_key, public_jwks


def write_app_key(folder: Path) -> tuple[Path, Path]:
    """A new 2048-bit RSA key in `folder`: (`app.pem`, its public `jwks.json`)."""
    key_path = folder / "app.pem"
    key_path.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    jwks_path = folder / "jwks.json"
    jwks_path.write_text(json.dumps(public_jwks(load_app_key(str(key_path)))))
    return key_path, jwks_path
