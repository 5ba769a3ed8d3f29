"""The patient's data for one hook call: the prefetch, plus at most one batch read.

Whatever the client prefetched is used as sent; the templates it did not satisfy are read
from `fhirServer` in ONE batch (the dashboard's read, restricted to the missing searches),
with the client's `fhirAuthorization` token, or with no token when the server is an open
server on the allowlist. When a search can be neither prefetched nor read, its area is
marked incomplete with the reason, so the checks that need it say `unknown`, never `ok`.

`fhirServer` is checked against the allowlist by the caller (`allowed_server`) before
anything here runs: the app never sends a request to a server it does not know.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from fhir_mappings.search.table import SearchSpec
from smartapp.cds.prefetch import PrefetchTemplate, read_prefetch
from smartapp.cds.request import HookRequest
from smartapp.config import AppConfig, Tenant
from smartapp.fhir import FhirClient, FhirError, ReadLimits, TokenExpired
from smartapp.patient_service import FetchedPatient

log = logging.getLogger(__name__)

#: A hook must answer quickly (CDS Hooks: ~500 ms): one retry at most.
MAX_RETRIES = 1


@dataclass(frozen=True)
class HookData:
    fetched: FetchedPatient
    #: HTTP requests made to the FHIR server (0 with a complete prefetch).
    fhir_requests: int
    prefetched_keys: int
    fetched_searches: int


def allowed_server(request: HookRequest, config: AppConfig) -> Tenant | None:
    """The allowlisted tenant of `fhirServer` (None: not on the allowlist, or none sent)."""
    if request.fhir_server is None:
        return None
    return config.tenant(request.fhir_server)


def read_hook_data(
    request: HookRequest,
    templates: Sequence[PrefetchTemplate],
    *,
    tenant: Tenant | None,
    timeout_s: float,
    extra: Sequence[SearchSpec] = (),
    limits: ReadLimits | None = None,
) -> HookData:
    """The resources for `request.patient_id` (never raises for server trouble); the read is
    bounded by `limits` (deadline, size, nesting) like a dashboard view's."""
    prefetched = read_prefetch(request.prefetch, templates)
    searches = [template.search_for(request.patient_id) for template in prefetched.missing]
    searches.extend(extra)
    resources = list(prefetched.resources)
    incomplete: set[str] = set()
    problems = list(prefetched.problems)
    queries: list[str] = []
    requests_made = 0
    if searches:
        why_not = _why_no_read(request, tenant)
        if why_not is not None:
            incomplete.update(spec.area for spec in searches)
            names = ", ".join(sorted({spec.area for spec in searches}))
            problems.append(f"No data for {names}: {why_not}")
        else:
            assert request.fhir_server is not None  # noqa: S101 - _why_no_read checked it
            with FhirClient(
                request.fhir_server,
                token=request.access_token,
                timeout=timeout_s,
                max_retries=MAX_RETRIES,
                dialect=tenant.quirks.dialect() if tenant is not None else None,
                limits=limits,
            ) as client:
                try:
                    result = client.batch_search([(spec.area, spec.url) for spec in searches])
                except TokenExpired:
                    incomplete.update(spec.area for spec in searches)
                    problems.append(
                        "The FHIR server refused the access token the EHR sent "
                        "(fhirAuthorization); nothing could be read from it"
                    )
                except FhirError as err:
                    log.info("CDS FHIR read failed (status %s)", err.status)
                    incomplete.update(spec.area for spec in searches)
                    problems.append(f"FHIR read failed: {err}")
                else:
                    resources.extend(result.resources)
                    incomplete.update(result.failed_areas)
                    problems.extend(result.problems)
                    queries.extend(result.queries)
                requests_made = len(client.requests_made)
    fetched = FetchedPatient(
        resources=resources,
        incomplete=frozenset(incomplete),
        problems=tuple(problems),
        queries=tuple(queries),
    )
    return HookData(
        fetched=fetched,
        fhir_requests=requests_made,
        prefetched_keys=len(prefetched.satisfied),
        fetched_searches=len(searches) if requests_made else 0,
    )


def _why_no_read(request: HookRequest, tenant: Tenant | None) -> str | None:
    if request.fhir_server is None:
        return "the EHR sent neither these data (prefetch) nor a FHIR server to read them from"
    if tenant is None:
        return "the EHR's FHIR server is not on the app's allowlist"
    if request.access_token is None and not tenant.open_server:
        return "the EHR sent no access token (fhirAuthorization) to read them with"
    return None
