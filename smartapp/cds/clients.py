"""The CDS clients allowed to call (`SMARTAPP_CDS_CLIENTS`: a JSON file).

    {"clients": [
      {"iss": "https://ehr.example.org",
       "jku": "https://ehr.example.org/cds/jwks.json",        (or "jwks": {"keys": [...]})
       "services": ["ofatumumab-patient-view", "ofatumumab-order-sign"],   (or ["*"])
       "label": "Main hospital EHR"}
    ]}

`iss` is the issuer the client writes in its JWTs. Its public keys come from the `jku`
URL named here (a JWT's own `jku` header must be this URL: the app never fetches a key set
from a URL a token chose) or from the inline `jwks`. `services` are the service ids the
client may call. A bad file stops start-up with one line naming the setting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from smartapp.config import ConfigError
from smartapp.launch.discovery import is_loopback

SETTING = "SMARTAPP_CDS_CLIENTS"
ALL_SERVICES = "*"
_KEYS = {"iss", "jku", "jwks", "services", "label"}


@dataclass(frozen=True)
class CdsClient:
    iss: str
    services: frozenset[str]
    jku: str | None = None
    jwks: Mapping[str, Any] | None = None
    label: str | None = None

    def may_call(self, service_id: str) -> bool:
        return ALL_SERVICES in self.services or service_id in self.services

    @property
    def name(self) -> str:
        """For logs: the label, else the issuer (never patient data)."""
        return self.label or self.iss


def _fail(message: str) -> ConfigError:
    return ConfigError(f"{SETTING}: {message}")


def _client(item: object, known_services: Iterable[str]) -> CdsClient:
    if not isinstance(item, dict):
        raise _fail("every client must be a JSON object")
    unknown = set(item) - _KEYS
    if unknown:
        raise _fail(f"unknown key(s) {sorted(unknown)}")
    iss = item.get("iss")
    if not isinstance(iss, str) or not iss.strip():
        raise _fail("every client needs an 'iss' (the issuer of its JWTs)")
    jku, jwks = item.get("jku"), item.get("jwks")
    if (jku is None) == (jwks is None):
        raise _fail(f"client {iss}: give exactly one of 'jku' (a URL) or 'jwks' (a key set)")
    if jku is not None:
        if not isinstance(jku, str) or not (
            jku.startswith("https://") or (jku.startswith("http://") and is_loopback(jku))
        ):
            raise _fail(f"client {iss}: 'jku' must be an https URL (http only on loopback)")
    if jwks is not None:
        try:
            KeySet.import_key_set(jwks)
        except (JoseError, ValueError, TypeError, KeyError) as err:
            raise _fail(f"client {iss}: 'jwks' is not a usable JWK set ({err})") from err
    services = item.get("services")
    if (
        not isinstance(services, list)
        or not services
        or not all(isinstance(name, str) for name in services)
    ):
        raise _fail(f"client {iss}: 'services' must list the service ids it may call (or '*')")
    known = set(known_services)
    strays = [name for name in services if name != ALL_SERVICES and name not in known]
    if strays:
        raise _fail(f"client {iss}: unknown service(s) {strays}; known: {sorted(known)}")
    label = item.get("label")
    return CdsClient(
        iss=iss.strip(),
        services=frozenset(services),
        jku=jku,
        jwks=jwks,
        label=label if isinstance(label, str) else None,
    )


def parse_cds_clients(raw: object, known_services: Iterable[str]) -> dict[str, CdsClient]:
    items = raw.get("clients") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise _fail('the file must hold {"clients": [...]} or a JSON list of clients')
    clients: dict[str, CdsClient] = {}
    services = tuple(known_services)
    for item in items:
        client = _client(item, services)
        if client.iss in clients:
            raise _fail(f"client {client.iss} is listed twice")
        clients[client.iss] = client
    return clients


def load_cds_clients(path: str | None, known_services: Iterable[str]) -> dict[str, CdsClient]:
    """The clients of the file at `path` (none when the setting is not set)."""
    if not path:
        return {}
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise _fail(f"cannot read {path}: {err}") from err
    return parse_cds_clients(raw, known_services)
