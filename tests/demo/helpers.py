"""Shared assertions for the demo tests: bundle shape, references, dates, R4B parsing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

FULL_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?$")
PARTIAL_DATE = re.compile(r"^\d{4}(-\d{2})?$")
DATE_KEYS = {
    "birthDate",
    "effectiveDateTime",
    "issued",
    "start",
    "end",
    "onsetDateTime",
    "abatementDateTime",
    "recordedDate",
    "authoredOn",
    "occurrenceDateTime",
    "onset",
}


def walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) for every key of every dict below `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from walk(item, f"{path}[{index}]")


def references(resource: dict[str, Any]) -> list[str]:
    return [v for _, k, v in walk(resource) if k == "reference" and isinstance(v, str)]


def dates(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, value) of every date-like element of a resource."""
    return [(f"{p}.{k}", v) for p, k, v in walk(resource) if k in DATE_KEYS and isinstance(v, str)]


def parse_r4b(resource: dict[str, Any]) -> Any:
    """Validate with the fhir.resources R4B model for its type (raises on invalid)."""
    model = get_fhir_model_class(resource["resourceType"])
    return model.model_validate(resource)


def contained_ids(resource: dict[str, Any]) -> set[str]:
    return {f"#{c['id']}" for c in resource.get("contained", [])}
