"""Reading a search to the end: collect entries, follow `next` links, stop safely.

A search that cannot be finished is a value (`problem` text), not an exception, so
the app can show what it has with a "data incomplete" banner. Only an expired token
(TokenExpired) escapes, because the web layer must refresh or relaunch.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from smartapp.fhir.errors import (
    FhirError,
    TokenExpired,
    outcome_has_errors,
    summarise_outcome,
)
from smartapp.fhir.paging import check_next_link, next_link
from smartapp.fhir.results import Resource
from smartapp.fhir.transport import READ_HEADERS, Transport

log = logging.getLogger("smartapp.fhir")

_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


def label_for(relative_url: str) -> str:
    """A PHI-free name for a request: `Observation`, `Patient $everything`, `FHIR`."""
    path = relative_url.split("?", 1)[0].strip("/")
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return "FHIR"
    if segments[0] == "metadata":
        return "CapabilityStatement"
    name = segments[0] if _TYPE.match(segments[0]) else "FHIR"
    operation = next((s for s in segments if s.startswith("$")), None)
    return f"{name} {operation}" if operation else name


class ResourceCollector:
    """Resources in arrival order, each (resourceType, id) kept once; from history bundles
    also the `Type/id` of deleted resources (an entry with a DELETE request, no resource)."""

    def __init__(self) -> None:
        self.resources: list[Resource] = []
        self.deleted: list[str] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, resource: Resource) -> None:
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if isinstance(rtype, str) and isinstance(rid, str):
            if (rtype, rid) in self._seen:
                return
            self._seen.add((rtype, rid))
        self.resources.append(resource)

    def add_bundle(self, bundle: Mapping[str, Any], label: str) -> str | None:
        """Collect matches and `_include`d entries; a problem if the server reported an error."""
        entries = bundle.get("entry")
        if not isinstance(entries, list):
            return None
        problem = None
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                self._note_deletion(entry)
                continue
            search = entry.get("search")
            mode = search.get("mode") if isinstance(search, Mapping) else None
            if resource.get("resourceType") == "OperationOutcome" and mode in (None, "outcome"):
                if outcome_has_errors(resource) and problem is None:
                    problem = (
                        f"{label} incomplete: the server reported {summarise_outcome(resource)}"
                    )
                continue
            self.add(resource)
        return problem

    def _note_deletion(self, entry: Mapping[str, Any]) -> None:
        request = entry.get("request")
        if not isinstance(request, Mapping) or request.get("method") != "DELETE":
            return
        url = request.get("url")
        match = _DELETED.match(url) if isinstance(url, str) else None
        if match is not None and match.group(1) not in self.deleted:
            self.deleted.append(match.group(1))


_DELETED = re.compile(r"^(?:.*/)?([A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def fetch_page(
    transport: Transport, url: str, label: str, page: int
) -> tuple[dict[str, Any] | None, str | None]:
    """(searchset Bundle, None) or (None, problem). Raises only TokenExpired."""
    try:
        reply = transport.send("GET", url, what=label, headers=READ_HEADERS, retry=True)
    except TokenExpired:
        raise
    except FhirError as err:
        return None, f"{err}"
    if reply.status == 410:
        return None, (
            f"{label} incomplete: page {page} of the results has expired on the server "
            "(HTTP 410 Gone); reload to search again"
        )
    if not reply.ok:
        failure = reply.error(label if page == 1 else f"{label} page {page}")
        if isinstance(failure, TokenExpired):
            raise failure
        return None, str(failure)
    body = reply.body
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        return body, None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return None, f"{label} failed: {summarise_outcome(body)}"
    return None, f"{label} failed: the server did not answer with a FHIR Bundle"


def follow_pages(
    transport: Transport,
    collector: ResourceCollector,
    label: str,
    *,
    max_pages: int,
    url: str | None = None,
    first: Mapping[str, Any] | None = None,
) -> tuple[int, str | None]:
    """Read a search from `url` (or from an already-fetched `first` page) to its end.

    Returns (pages read, problem or None). Stops, with a problem, at a refused or
    repeated next link, an unreadable page, or after `max_pages` pages.
    """
    seen: set[str] = set()
    if first is None:
        if url is None:
            raise ValueError("follow_pages needs a url or a first page")
        seen.add(url)
        fetched, problem = fetch_page(transport, url, label, 1)
        if fetched is None:
            return 0, problem
        first = fetched
    bundle: Mapping[str, Any] = first
    pages = 1
    while True:
        problem = collector.add_bundle(bundle, label)
        if problem:
            return pages, problem
        link = next_link(bundle)
        if link is None:
            return pages, None
        target, refusal = check_next_link(link, transport.base)
        if target is None:
            return pages, f"{label} incomplete: {refusal}"
        if target in seen:
            return pages, f"{label} incomplete: the server repeated a next-page link; stopped"
        if pages >= max_pages:
            return pages, f"{label} incomplete: stopped after {max_pages} pages"
        seen.add(target)
        fetched, problem = fetch_page(transport, target, label, pages + 1)
        if fetched is None:
            return pages, problem
        bundle = fetched
        pages += 1
