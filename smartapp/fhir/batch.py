"""Several searches in one round trip: a `batch` Bundle of GET entries.

The patient view reads every area (labs, doses, vaccines, …) with one POST (SPEC §5
"at most 2 sequential round trips"); only paging of a long area adds GETs. A batch of
GETs is a read, so it is retried like one. An area whose entry failed is reported in
`failed_areas`; the others are still used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from smartapp.fhir.errors import FhirError, TokenExpired, summarise_outcome
from smartapp.fhir.results import BatchResult
from smartapp.fhir.search import ResourceCollector, follow_pages
from smartapp.fhir.transport import FHIR_JSON, READ_HEADERS, Transport

log = logging.getLogger("smartapp.fhir")

_BATCH_HEADERS = {**READ_HEADERS, "Content-Type": FHIR_JSON}
_STATUS = re.compile(r"^\s*(\d{3})\b\s*(.*)$")
#: The server has no batch endpoint: read the areas one search at a time instead.
_NO_BATCH = frozenset({404, 405, 501})
MAX_PAGES_PER_AREA = 50


def build_batch(queries: Sequence[str]) -> dict[str, Any]:
    """A batch Bundle with one GET entry per base-relative search URL."""
    return {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": query}} for query in queries],
    }


def entry_failure(entry: Any) -> str | None:
    """Why a batch-response entry holds no usable searchset, or None when it does."""
    if not isinstance(entry, Mapping):
        return "no answer for this search in the batch response"
    response = entry.get("response")
    status_text = response.get("status") if isinstance(response, Mapping) else None
    match = _STATUS.match(status_text) if isinstance(status_text, str) else None
    resource = entry.get("resource")
    outcome = response.get("outcome") if isinstance(response, Mapping) else None
    if not isinstance(outcome, Mapping) and isinstance(resource, Mapping):
        if resource.get("resourceType") == "OperationOutcome":
            outcome = resource
    if match is None:
        return "the batch response entry has no HTTP status"
    code = int(match.group(1))
    if not 200 <= code < 300:
        text = f"HTTP {code}"
        if match.group(2):
            text += f" {match.group(2)}"
        if code == 403:
            text = f"not permitted by the granted scopes ({text})"
        if isinstance(outcome, Mapping):
            text += f": {summarise_outcome(outcome)}"
        return text
    if not isinstance(resource, Mapping) or not isinstance(resource.get("resourceType"), str):
        if isinstance(outcome, Mapping):
            return summarise_outcome(outcome)
        return "the server returned no search result"
    if resource.get("resourceType") == "OperationOutcome":
        return summarise_outcome(resource)
    # A 2xx entry holds a searchset Bundle, or the resource itself for a read (`Patient/1`).
    return None


def _relative(transport: Transport, url: str) -> str:
    return transport.base.relative(transport.resolve(url))


def _all_failed(areas: Sequence[str], queries: list[str], why: str) -> BatchResult:
    names = ", ".join(areas)
    return BatchResult(
        resources=[],
        failed_areas=frozenset(areas),
        problems=(f"{why}; no data read for: {names}",),
        queries=queries,
    )


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def batch_search(
    transport: Transport,
    urls: Sequence[tuple[str, str]],
    *,
    max_pages: int = MAX_PAGES_PER_AREA,
) -> BatchResult:
    """POST one batch of searches; see `FhirClient.batch_search`."""
    if not urls:
        return BatchResult([], frozenset(), (), [])
    pairs = [(area, _relative(transport, url)) for area, url in urls]
    queries = [query for _, query in pairs]
    areas = _unique([area for area, _ in pairs])
    started = len(transport.log)
    try:
        reply = transport.send(
            "POST",
            transport.base.url,
            what="Batch read",
            headers=_BATCH_HEADERS,
            retry=True,
            body=build_batch(queries),
        )
    except TokenExpired:
        raise
    except FhirError as err:
        return _logged(transport, _all_failed(areas, queries, str(err)), started)
    if reply.status in _NO_BATCH:
        log.info(
            "FHIR batch not supported (HTTP %d); reading %d searches one by one",
            reply.status,
            len(pairs),
        )
        return _logged(transport, _one_by_one(transport, pairs, max_pages), started)
    if not reply.ok:
        failure = reply.error("Batch read")
        if isinstance(failure, TokenExpired):
            raise failure
        return _logged(transport, _all_failed(areas, queries, str(failure)), started)
    body = reply.body
    entries = body.get("entry") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        why = "Batch read failed: the server did not answer with a batch-response Bundle"
        return _logged(transport, _all_failed(areas, queries, why), started)
    if not isinstance(entries, list):
        entries = []

    collector = ResourceCollector()
    failed: list[str] = []
    problems: list[str] = []
    for index, (area, _query) in enumerate(pairs):
        entry = entries[index] if index < len(entries) else None
        label = f"{area} search"
        entry_problem = entry_failure(entry)
        if entry_problem is not None or not isinstance(entry, Mapping):
            failed.append(area)
            problems.append(f"{label} failed: {entry_problem}")
            continue
        first = entry["resource"]
        if first.get("resourceType") != "Bundle":
            collector.add(dict(first))
            continue
        _, problem = follow_pages(transport, collector, label, max_pages=max_pages, first=first)
        if problem is not None:
            failed.append(area)
            problems.append(problem)
    result = BatchResult(
        resources=collector.resources,
        failed_areas=frozenset(failed),
        problems=tuple(problems),
        queries=queries,
        deleted=tuple(collector.deleted),
    )
    return _logged(transport, result, started)


def _one_by_one(
    transport: Transport, pairs: Sequence[tuple[str, str]], max_pages: int
) -> BatchResult:
    collector = ResourceCollector()
    failed: list[str] = []
    problems: list[str] = []
    for area, query in pairs:
        _, problem = follow_pages(
            transport,
            collector,
            f"{area} search",
            max_pages=max_pages,
            url=transport.resolve(query),
        )
        if problem is not None:
            failed.append(area)
            problems.append(problem)
    return BatchResult(
        collector.resources,
        frozenset(failed),
        tuple(problems),
        [q for _, q in pairs],
        tuple(collector.deleted),
    )


def _logged(transport: Transport, result: BatchResult, started: int) -> BatchResult:
    log.info(
        "FHIR batch read: %d searches, %d request(s), %d resources, %d failed area(s)",
        len(result.queries),
        len(transport.log) - started,
        len(result.resources),
        len(result.failed_areas),
    )
    return result
