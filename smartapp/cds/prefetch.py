"""Prefetch templates, and reading what a CDS client prefetched.

The templates ARE the dashboard's batch read (`fhir_mappings.search.queries.patient_searches`)
with `{{context.patientId}}` in place of the patient id, so whatever the dashboard reads
(a new resource type, a new value set) is asked for in prefetch too, with no edit here.
Each template's key is `<area>-<ResourceType>` (`labs-Observation`), or the area alone when
that is the type (`patient`).

What the client sends is checked per key (CDS Hooks 2.0 "Prefetch Template"):
- key absent → not prefetched: the service reads it itself (or says it could not);
- `null` → prefetched, and there is no data;
- a searchset Bundle → its entries; a Bundle with a `next` link is only a first page (the
  spec forbids it), so the search is read again in full;
- a resource (the Patient read) → that resource;
- an OperationOutcome or anything that is not FHIR JSON → not prefetched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fhir_mappings.search.queries import patient_searches
from fhir_mappings.search.table import SearchSpec
from fhir_mappings.site import Mappings

PATIENT_TOKEN = "{{context.patientId}}"  # noqa: S105 - a template token, not a secret
#: A valid FHIR id that percent-encoding leaves alone and no real search contains.
_PLACEHOLDER = "CDSHOOKSPATIENTIDTOKEN"


@dataclass(frozen=True)
class PrefetchTemplate:
    key: str
    area: str
    #: The search with `_PLACEHOLDER` for the patient id.
    url: str

    @property
    def template(self) -> str:
        return self.url.replace(_PLACEHOLDER, PATIENT_TOKEN)

    def search_for(self, patient_id: str) -> SearchSpec:
        return SearchSpec(self.area, self.url.replace(_PLACEHOLDER, quote(patient_id, safe="")))


def prefetch_templates(mappings: Mappings) -> tuple[PrefetchTemplate, ...]:
    """One template per search of the dashboard's read, in the same order."""
    found: list[PrefetchTemplate] = []
    seen: set[str] = set()
    for spec in patient_searches(_PLACEHOLDER, mappings):
        resource_type = spec.url.split("?", 1)[0].split("/", 1)[0]
        key = spec.area if spec.area == resource_type.lower() else f"{spec.area}-{resource_type}"
        unique, n = key, 2
        while unique in seen:
            unique, n = f"{key}-{n}", n + 1
        seen.add(unique)
        found.append(PrefetchTemplate(unique, spec.area, spec.url))
    return tuple(found)


def discovery_prefetch(templates: Sequence[PrefetchTemplate]) -> dict[str, str]:
    return {template.key: template.template for template in templates}


@dataclass(frozen=True)
class Prefetched:
    resources: list[Any]
    #: Keys whose data arrived (including `null`: no data).
    satisfied: tuple[str, ...]
    #: Templates the service must read itself.
    missing: tuple[PrefetchTemplate, ...]
    #: Why a key that was sent could not be used.
    problems: tuple[str, ...]


def read_prefetch(prefetch: object, templates: Sequence[PrefetchTemplate]) -> Prefetched:
    """Sort the request's `prefetch` into usable data and templates still to read."""
    given: Mapping[str, Any] = prefetch if isinstance(prefetch, Mapping) else {}
    resources: list[Any] = []
    satisfied: list[str] = []
    missing: list[PrefetchTemplate] = []
    problems: list[str] = []
    for template in templates:
        if template.key not in given:
            missing.append(template)
            continue
        value = given[template.key]
        if value is None:
            satisfied.append(template.key)
            continue
        found, problem = _value_resources(value)
        if problem is not None:
            problems.append(f"prefetch '{template.key}' {problem}")
            missing.append(template)
            continue
        resources.extend(found)
        satisfied.append(template.key)
    return Prefetched(resources, tuple(satisfied), tuple(missing), tuple(problems))


def _value_resources(value: object) -> tuple[list[Any], str | None]:
    if not isinstance(value, Mapping) or not isinstance(value.get("resourceType"), str):
        return [], "is not a FHIR resource"
    kind = value["resourceType"]
    if kind == "OperationOutcome":
        return [], "is an OperationOutcome (the EHR could not read it)"
    if kind != "Bundle":
        return [value], None
    links = value.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            return [], "holds only the first page of the search"
    entries = value.get("entry")
    if entries is None:
        return [], None
    if not isinstance(entries, list):
        return [], "has an entry that is not a list"
    found = [entry.get("resource") if isinstance(entry, Mapping) else entry for entry in entries]
    return found, None
