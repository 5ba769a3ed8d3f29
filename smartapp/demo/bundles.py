"""FHIR Bundles of the demo cohort: transactions for a server, collections for files.

Transaction Bundles (one per patient) load the demo onto any FHIR server without ever
duplicating it or touching anyone else's data, which matters on the shared public HAPI
sandbox: every entry is a conditional update `PUT {Type}?identifier={system}|{value}` with
our own identifier system (add a run id for a system of your own), a `urn:uuid:` fullUrl,
and references between entries by those urn:uuids (the server resolves them). Seeding twice
updates the same resources.

Collection Bundles hold the same resources with deterministic ids (`<slug>-obs-1`) and
relative references (`Patient/<slug>`), for `smartapp check --bundle` and the tests.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from smartapp.demo.fhir_builders import Resource
from smartapp.demo.situations import DEMO_SLUGS, build_situation

#: The identifier system of every demo resource (the value is the resource's demo id;
#: the patient's is the situation slug).
DEMO_SYSTEM = "https://ofatumumab-smartapp.example.org/demo"
#: The base of fullUrls in collection Bundles: relative references resolve against it.
DEMO_FHIR_BASE = "https://ofatumumab-smartapp.example.org/demo/fhir"

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_SYSTEM = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~-]+)*/?$")
_RELATIVE_REFERENCE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9.-]{1,64})$")


def demo_system(run_id: str | None = None, *, base: str = DEMO_SYSTEM) -> str:
    """The identifier system for a seeding run: `base`, or `base/<run_id>` for a system of
    your own on a shared server (so your demo never collides with anyone else's)."""
    if not run_id:
        return base
    if not _RUN_ID.match(run_id):
        raise ValueError(
            f"run id {run_id!r}: use 1-40 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return f"{base.rstrip('/')}/{run_id}"


def _check_system(system: str) -> None:
    # The system goes unescaped into conditional URLs, so it must be a plain http(s) URL.
    if not _SYSTEM.match(system):
        raise ValueError(f"identifier system {system!r} must be a plain http(s) URL")


def with_identifiers(resources: Iterable[Resource], identifier_system: str) -> list[Resource]:
    """Copies of `resources`, each carrying the identifier `{system}|{its id}` first."""
    _check_system(identifier_system)
    result = []
    for resource in resources:
        item = copy.deepcopy(resource)
        identifiers = [
            i for i in item.get("identifier", []) if i.get("system") != identifier_system
        ]
        item["identifier"] = [{"system": identifier_system, "value": item["id"]}, *identifiers]
        result.append(_ordered(item))
    return result


def _ordered(resource: Resource) -> Resource:
    """resourceType, id, meta and identifier first, as FHIR JSON is usually written."""
    head = ("resourceType", "id", "meta", "identifier")
    ordered = {key: resource[key] for key in head if key in resource}
    ordered.update((key, value) for key, value in resource.items() if key not in head)
    return ordered


def demo_patient_resources(
    anchor: date, slug: str, *, identifier_system: str = DEMO_SYSTEM
) -> list[Resource]:
    """One demo patient's resources, Patient first, ids assigned, dates relative to `anchor`."""
    return with_identifiers(build_situation(slug, anchor), identifier_system)


def collection_bundle(resources: Sequence[Resource], *, bundle_id: str | None = None) -> Resource:
    """A `collection` Bundle of plain resources (fullUrl = DEMO_FHIR_BASE/Type/id)."""
    bundle: Resource = {"resourceType": "Bundle"}
    if bundle_id:
        bundle["id"] = bundle_id
    bundle["type"] = "collection"
    bundle["entry"] = [
        {"fullUrl": f"{DEMO_FHIR_BASE}/{r['resourceType']}/{r['id']}", "resource": r}
        for r in resources
    ]
    return bundle


def demo_collection_bundle(
    anchor: date, slug: str, *, identifier_system: str = DEMO_SYSTEM
) -> Resource:
    """The demo patient `slug` as a collection Bundle, for `smartapp check --bundle`."""
    resources = demo_patient_resources(anchor, slug, identifier_system=identifier_system)
    return collection_bundle(resources, bundle_id=f"demo-{slug}")


def entry_uuid(identifier_system: str, resource_type: str, value: str) -> str:
    """The stable `urn:uuid:` fullUrl of a resource in a transaction Bundle."""
    name = f"{identifier_system}|{resource_type}/{value}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def transaction_bundle(resources: Sequence[Resource], identifier_system: str) -> Resource:
    """A transaction Bundle of conditional updates for resources with ids and relative refs.

    Each entry: fullUrl `urn:uuid:…`, resource without `id` but with the identifier
    `{system}|{id}`, request `PUT {Type}?identifier={system}|{id}`. References `Type/id` to
    another resource of the list become its urn:uuid; contained references (`#x`) stay. A
    reference to anything outside the list is an error: the demo must be self-contained.
    """
    _check_system(identifier_system)
    full_urls: dict[str, str] = {}
    for resource in resources:
        key = f"{resource['resourceType']}/{resource['id']}"
        if key in full_urls:
            raise ValueError(f"duplicate resource {key}")
        full_urls[key] = entry_uuid(identifier_system, resource["resourceType"], resource["id"])

    entries = []
    for resource in with_identifiers(resources, identifier_system):
        resource_type, value = resource["resourceType"], resource.pop("id")
        _rewrite_references(resource, full_urls, f"{resource_type}/{value}")
        entries.append(
            {
                "fullUrl": full_urls[f"{resource_type}/{value}"],
                "resource": resource,
                "request": {
                    "method": "PUT",
                    "url": f"{resource_type}?identifier={identifier_system}|{value}",
                },
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _rewrite_references(node: Any, full_urls: dict[str, str], where: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                if value.startswith("#"):
                    continue
                if value not in full_urls:
                    raise ValueError(f"{where}: reference {value!r} is not in the bundle")
                node[key] = full_urls[value]
            else:
                _rewrite_references(value, full_urls, where)
    elif isinstance(node, list):
        for item in node:
            _rewrite_references(item, full_urls, where)


def demo_transaction_bundle(
    anchor: date, slug: str, *, identifier_system: str = DEMO_SYSTEM
) -> Resource:
    """The demo patient `slug` as a transaction Bundle of conditional updates."""
    return transaction_bundle(build_situation(slug, anchor), identifier_system)


def demo_bundles(
    anchor: date,
    *,
    identifier_system: str = DEMO_SYSTEM,
    slugs: Sequence[str] | None = None,
) -> list[Resource]:
    """One transaction Bundle per demo patient (all situations, or `slugs`), for `seed`."""
    return [
        demo_transaction_bundle(anchor, slug, identifier_system=identifier_system)
        for slug in (slugs if slugs is not None else DEMO_SLUGS)
    ]


def patient_key(bundle: Resource) -> str | None:
    """The identifier value of the bundle's Patient (the demo slug), for reports."""
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") != "Patient":
            continue
        url = entry.get("request", {}).get("url", "")
        if "|" in url:
            return str(url.rsplit("|", 1)[1])
        if resource.get("id"):
            return str(resource["id"])
    return None


def relative_reference(reference: str) -> tuple[str, str] | None:
    """(`Type`, `id`) of a relative reference `Type/id`, else None."""
    match = _RELATIVE_REFERENCE.match(reference)
    return (match.group(1), match.group(2)) if match else None
