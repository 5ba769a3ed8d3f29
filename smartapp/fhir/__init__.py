"""The only code that speaks HTTP to a FHIR server (see `FhirClient`)."""

from smartapp.fhir.bulk import BulkExport
from smartapp.fhir.client import FhirClient
from smartapp.fhir.errors import (
    FhirError,
    OffServerError,
    PermissionDenied,
    ServerUnavailable,
    TokenExpired,
)
from smartapp.fhir.querylog import QueryLogEntry
from smartapp.fhir.results import BatchResult, Resource, SearchResult

__all__ = [
    "BatchResult",
    "BulkExport",
    "FhirClient",
    "FhirError",
    "OffServerError",
    "PermissionDenied",
    "QueryLogEntry",
    "Resource",
    "SearchResult",
    "ServerUnavailable",
    "TokenExpired",
]
