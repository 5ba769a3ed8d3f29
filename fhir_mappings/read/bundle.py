"""Any FHIR JSON the app is given -> a flat list of resources (SPEC §4 `smartapp check`).

Accepted: a Bundle of any type (collection, searchset, transaction with `request`s,
batch-response, `$everything` output), Bundles nested in entries (a batch-response whose
entries are searchset Bundles), one bare resource, or a list of resources or Bundles.
Contained resources stay inside their parents.

- An entry that is not an object is kept as it is, so the reader counts it as skipped.
- A resource without an `id` whose entry's `fullUrl` is `urn:uuid:X` gets id X (in a copy),
  so references by that urn resolve (transaction Bundles, Synthea output).
- A batch-response entry whose `response.status` is not 2xx becomes its OperationOutcome
  (or one made up from the status): the reader reports it and marks the record incomplete.

Input that is not FHIR at all raises `UnusableInput` with a one-line reason.
"""

from __future__ import annotations

from typing import Any

from fhir_mappings.errors import UnusableInput

_MAX_DEPTH = 8


def _failed_entry(entry: dict[str, Any]) -> dict[str, Any] | None:
    response = entry.get("response")
    if not isinstance(response, dict):
        return None
    status = response.get("status")
    if not isinstance(status, str) or status.strip()[:1] == "2":
        return None
    outcome = response.get("outcome")
    if isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome":
        return outcome
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "exception",
                "diagnostics": f"a request in the batch failed with HTTP {status.strip()}",
            }
        ],
    }


def _with_uuid_id(resource: dict[str, Any], full_url: object) -> dict[str, Any]:
    if "id" in resource or not isinstance(full_url, str) or not full_url.startswith("urn:uuid:"):
        return resource
    return {**resource, "id": full_url[len("urn:uuid:") :]}


def _flatten(item: object, out: list[Any], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise UnusableInput("Bundles are nested too deeply to be FHIR data")
    if not isinstance(item, dict) or item.get("resourceType") != "Bundle":
        out.append(item)
        return
    entries = item.get("entry", [])
    if entries is None:
        return
    if not isinstance(entries, list):
        raise UnusableInput("the Bundle's 'entry' is not a list")
    for entry in entries:
        if not isinstance(entry, dict):
            out.append(entry)
            continue
        failed = _failed_entry(entry)
        if failed is not None:
            out.append(failed)
        resource = entry.get("resource")
        if resource is None:
            continue
        if isinstance(resource, dict):
            resource = _with_uuid_id(resource, entry.get("fullUrl"))
        _flatten(resource, out, depth + 1)


def _looks_like_fhir(item: object) -> bool:
    return isinstance(item, dict) and isinstance(item.get("resourceType"), str)


def resources_from_json(obj: object) -> list[Any]:
    """The resources in `obj` (see module doc); `UnusableInput` when it is not FHIR JSON."""
    if isinstance(obj, dict):
        if not _looks_like_fhir(obj):
            raise UnusableInput("not FHIR JSON: the object has no resourceType")
        items: list[Any] = [obj]
    elif isinstance(obj, list):
        if not any(_looks_like_fhir(item) for item in obj):
            raise UnusableInput("not FHIR JSON: the list holds no FHIR resource")
        items = obj
    else:
        raise UnusableInput(
            f"not FHIR JSON: expected a Bundle or a resource, got {type(obj).__name__}"
        )
    out: list[Any] = []
    for item in items:
        _flatten(item, out, 0)
    return out
