"""A CDS Hooks service call, checked (CDS Hooks 2.0 "Calling a CDS Service").

Anything the service cannot use is a `BadHookRequest` whose message says what (HTTP 400);
nothing is read from a FHIR server for a request that fails here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fhir_mappings.ids import is_fhir_id
from smartapp.cds.services import Service

_MAX_TEXT = 2048


class BadHookRequest(ValueError):
    """The body is not a usable call of this service; `str(err)` says why."""


@dataclass(frozen=True)
class HookRequest:
    hook: str
    hook_instance: str
    patient_id: str
    user_id: str | None = None
    encounter_id: str | None = None
    fhir_server: str | None = None
    access_token: str | None = field(default=None, repr=False)
    prefetch: Mapping[str, Any] | None = None
    draft_orders: object = None
    selections: tuple[str, ...] = ()


def _text(value: object, name: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise BadHookRequest(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadHookRequest(f"{name} must be a non-empty string")
    if len(value) > _MAX_TEXT:
        raise BadHookRequest(f"{name} is too long")
    return value.strip()


def _fhir_server(value: object) -> str | None:
    url = _text(value, "fhirServer")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadHookRequest("fhirServer must be an absolute http(s) URL")
    return url


def _access_token(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise BadHookRequest("fhirAuthorization must be an object")
    token = _text(value.get("access_token"), "fhirAuthorization.access_token", required=True)
    token_type = value.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise BadHookRequest("fhirAuthorization.token_type must be Bearer")
    return token


def parse_hook_request(body: object, service: Service) -> HookRequest:
    if not isinstance(body, Mapping):
        raise BadHookRequest("the body must be a JSON object")
    hook = _text(body.get("hook"), "hook", required=True)
    if hook != service.hook:
        raise BadHookRequest(f"this service answers the {service.hook} hook, not {hook}")
    hook_instance = _text(body.get("hookInstance"), "hookInstance", required=True)
    context = body.get("context")
    if not isinstance(context, Mapping):
        raise BadHookRequest("context must be an object")
    patient_id = _text(context.get("patientId"), "context.patientId", required=True)
    if patient_id is None or not is_fhir_id(patient_id):
        raise BadHookRequest("context.patientId must be a FHIR id")
    fhir_server = _fhir_server(body.get("fhirServer"))
    access_token = _access_token(body.get("fhirAuthorization"))
    if access_token is not None and fhir_server is None:
        raise BadHookRequest("fhirAuthorization needs fhirServer")
    prefetch = body.get("prefetch")
    if prefetch is not None and not isinstance(prefetch, Mapping):
        raise BadHookRequest("prefetch must be an object")
    draft_orders = context.get("draftOrders")
    selections: tuple[str, ...] = ()
    if service.orders:
        if not isinstance(draft_orders, Mapping) or draft_orders.get("resourceType") != "Bundle":
            raise BadHookRequest("context.draftOrders must be a Bundle")
        raw = context.get("selections")
        if service.hook == "order-select":
            if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
                raise BadHookRequest("context.selections must be a list of references")
            selections = tuple(raw)
    return HookRequest(
        hook=hook,
        hook_instance=hook_instance or "",
        patient_id=patient_id,
        user_id=_text(context.get("userId"), "context.userId"),
        encounter_id=_text(context.get("encounterId"), "context.encounterId"),
        fhir_server=fhir_server,
        access_token=access_token,
        prefetch=prefetch,
        draft_orders=draft_orders if service.orders else None,
        selections=selections,
    )
