"""The only code that speaks HTTP to a FHIR server (see `FhirClient`).

Modules, one job each:
    client     FhirClient: read, search_all, batch_search, everything, writes, bulk_export
    transport  one request: base check, token, timeout, retries, redirects, query log
    urls       the FHIR base and which URLs are on it (the token goes nowhere else)
    paging     finding and checking `next` links
    search     reading a search to its end; dedup by (resourceType, id)
    batch      many searches in one batch POST
    bulk       Bulk Data $export: kick-off, poll, streamed NDJSON
    retry      when to retry and how long to wait (Retry-After, backoff)
    errors     FhirError and subclasses, messages from OperationOutcome
    limits     bounds on a view's reads: deadline, body size, JSON nesting
    querylog   QueryLogEntry: what was requested (data panel, benchmarks)
    results    SearchResult, BatchResult
"""

from smartapp.fhir.bulk import BulkExport
from smartapp.fhir.client import FhirClient
from smartapp.fhir.errors import (
    FhirError,
    OffServerError,
    PermissionDenied,
    ServerUnavailable,
    TokenExpired,
)
from smartapp.fhir.limits import DeadlineExceeded, ReadLimits, ResponseTooLarge
from smartapp.fhir.querylog import QueryLogEntry
from smartapp.fhir.results import BatchResult, Resource, SearchResult

__all__ = [
    "BatchResult",
    "BulkExport",
    "DeadlineExceeded",
    "FhirClient",
    "FhirError",
    "OffServerError",
    "PermissionDenied",
    "QueryLogEntry",
    "ReadLimits",
    "Resource",
    "ResponseTooLarge",
    "SearchResult",
    "ServerUnavailable",
    "TokenExpired",
]
