"""A CDS client for tests: its key, signed JWTs, hook bodies, prefetch built from resources.

Imported by tests/cds/conftest.py (fixtures) and the integration tests.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from smartapp.cds.prefetch import PrefetchTemplate
from smartapp.cds.services import SERVICES
from smartapp.config import AppConfig

APP = "https://app.example.org"
CDS_ISS = "https://ehr.example.org/cds-client"
KID = "cds-key-1"
USER = "Practitioner/dr-1"


@cache
def cds_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": KID})


@cache
def ec_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": "cds-ec-1"})


@cache
def stranger_key() -> RSAKey:
    """Same kid, another key: a forged signature."""
    return RSAKey.generate_key(2048, parameters={"kid": KID})


def public_jwks(*keys: RSAKey | ECKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def clients_document(**overrides: Any) -> dict[str, Any]:
    client: dict[str, Any] = {
        "iss": CDS_ISS,
        "jwks": public_jwks(cds_key(), ec_key()),
        "services": ["*"],
        "label": "Test EHR",
    }
    client.update(overrides)
    return {"clients": [client]}


def write_clients(directory: Path, document: Mapping[str, Any] | None = None) -> str:
    path = directory / "cds-clients.json"
    path.write_text(json.dumps(document or clients_document()), encoding="utf-8")
    return str(path)


def cds_config(base: AppConfig, clients_path: str) -> AppConfig:
    return replace(base, public_url=APP, cds_clients_path=clients_path)


def service_url(service_id: str) -> str:
    return f"{APP}/cds-services/{service_id}"


def sign(
    aud: str | list[str],
    *,
    key: RSAKey | ECKey | None = None,
    alg: str = "RS384",
    iss: str = CDS_ISS,
    lifetime: int = 120,
    now: float | None = None,
    jti: str | None = None,
    header: Mapping[str, Any] | None = None,
    drop: Sequence[str] = (),
    **claims: Any,
) -> str:
    issued = time.time() if now is None else now
    payload: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "exp": int(issued + lifetime),
        "iat": int(issued),
        "jti": jti or uuid.uuid4().hex,
    }
    payload.update(claims)
    for name in drop:
        payload.pop(name, None)
    signing_key = key or cds_key()
    protected = {"alg": alg, "typ": "JWT", "kid": signing_key.kid}
    protected.update(header or {})
    return jwt.encode(protected, payload, signing_key, algorithms=[alg])


def bearer(service_id: str, suffix: str = "", **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {sign(service_url(service_id) + suffix, **kwargs)}"}


def hook_body(
    service_id: str,
    patient_id: str,
    *,
    prefetch: Mapping[str, Any] | None = None,
    draft_orders: Sequence[Mapping[str, Any]] | None = None,
    selections: Sequence[str] | None = None,
    fhir_server: str | None = None,
    token: str | None = None,
    user: str | None = USER,
) -> dict[str, Any]:
    service = next(item for item in SERVICES if item.id == service_id)
    context: dict[str, Any] = {"patientId": patient_id}
    if user:
        context["userId"] = user
    if service.orders:
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": resource} for resource in draft_orders or ()],
        }
    if selections is not None:
        context["selections"] = list(selections)
    body: dict[str, Any] = {
        "hook": service.hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
    }
    if fhir_server:
        body["fhirServer"] = fhir_server
    if token:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.rs",
            "subject": "ofatumumab-cds",
        }
    if prefetch is not None:
        body["prefetch"] = dict(prefetch)
    return body


def _resource_type(template: PrefetchTemplate) -> str:
    return template.url.split("?", 1)[0].split("/", 1)[0]


def prefetch_from(
    resources: Iterable[Mapping[str, Any]], templates: Sequence[PrefetchTemplate]
) -> dict[str, Any]:
    """What a CDS client would prefetch from a server holding `resources` (one patient):
    each search template gets every resource of its type (the code filters only narrow what
    the reader would skip anyway), `_include` templates their Medications too; the Patient
    read gets the Patient. `null` where nothing matches (CDS Hooks: no data)."""
    items = list(resources)
    prefetch: dict[str, Any] = {}
    for template in templates:
        kind = _resource_type(template)
        if "?" not in template.url:
            found = [item for item in items if item.get("resourceType") == kind]
            prefetch[template.key] = found[0] if found else None
            continue
        wanted = {kind, "Medication"} if "_include" in template.url else {kind}
        matches = [item for item in items if item.get("resourceType") in wanted]
        if not matches:
            prefetch[template.key] = None
            continue
        prefetch[template.key] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "entry": [{"resource": item} for item in matches],
        }
    return prefetch


def card_checks(cards: Sequence[Mapping[str, Any]]) -> list[str]:
    """The check of each card (its source topic)."""
    return [str(card["source"]["topic"]["code"]) for card in cards]
