"""FhirClient: the app's only door to a FHIR server (reads, searches, batch, writes, bulk).

    client = FhirClient("https://ehr.example.org/fhir", session, token=access_token)
    result = client.batch_search([("Observation", "Observation?patient=123&_count=200"), …])
    if result.failed_areas: ...  # show "data incomplete"; those checks say unknown

Reads are retried (bounded, exponential backoff, `Retry-After` honoured); writes never
are. Search problems come back as values (`SearchResult.problem`,
`BatchResult.problems`); an expired token always raises `TokenExpired`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import requests

from fhir_mappings.ids import is_fhir_id
from smartapp.fhir.batch import batch_search
from smartapp.fhir.bulk import BulkExport, ExportRequest
from smartapp.fhir.dialect import SearchDialect
from smartapp.fhir.errors import FhirError, ServerUnavailable
from smartapp.fhir.limits import ReadLimits
from smartapp.fhir.querylog import QueryLog, QueryLogEntry
from smartapp.fhir.results import BatchResult, Resource, SearchResult
from smartapp.fhir.retry import RetryPolicy
from smartapp.fhir.search import ResourceCollector, follow_pages, label_for
from smartapp.fhir.transport import READ_HEADERS, WRITE_HEADERS, Reply, Transport
from smartapp.fhir.urls import FileAccess, ServerBase, origin_of

log = logging.getLogger("smartapp.fhir")

_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_RETURN_REPRESENTATION = {"Prefer": "return=representation"}


class FhirClient:
    """HTTP client for one FHIR base. Not thread-safe: use one per request or worker."""

    def __init__(
        self,
        base: str,
        session: requests.Session | None = None,
        *,
        token: str | None = None,
        timeout: float = 20.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        dialect: SearchDialect | None = None,
        limits: ReadLimits | None = None,
        reauthorize: Callable[[], str | None] | None = None,
    ) -> None:
        """`reauthorize` gives a fresh token when the server answers 401 to ours (built
        where the session is known); each request is then sent once more with it."""
        self._server = ServerBase.parse(base)
        self._dialect = dialect or SearchDialect()
        self._owns_session = session is None
        self._log = QueryLog()
        self._transport = Transport(
            self._server,
            session if session is not None else requests.Session(),
            token=token,
            timeout=timeout,
            policy=RetryPolicy(max_retries=max(0, max_retries), backoff_s=backoff_s),
            sleep=sleep,
            query_log=self._log,
            limits=limits,
            reauthorize=reauthorize,
        )

    # -- identity, token and bookkeeping ------------------------------------------------

    @property
    def base(self) -> str:
        """The FHIR base, normalised: lower-case scheme/host, no trailing slash."""
        return self._server.url

    @property
    def dialect(self) -> SearchDialect:
        """How this server wants searches asked (tenant quirks; applied to every search)."""
        return self._dialect

    @property
    def limits(self) -> ReadLimits:
        """The read bounds (deadline, size, nesting); share them with helper clients."""
        return self._transport.limits

    @property
    def token(self) -> str | None:
        return self._transport.token

    @token.setter
    def token(self, value: str | None) -> None:
        """Swap in a refreshed access token."""
        self._transport.token = value

    @property
    def requests_made(self) -> list[QueryLogEntry]:
        """Every HTTP request sent so far (retries and pages included), oldest first."""
        return self._log.entries

    @property
    def round_trips(self) -> int:
        return len(self._log)

    def __repr__(self) -> str:
        return f"FhirClient({self.base!r}, round_trips={self.round_trips})"

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session:
            self._transport.session.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reads ------------------------------------------------------------------------

    def read(self, path: str) -> Resource:
        """GET a base-relative path (`Patient/1`, `metadata`) and return the resource.

        Raises FhirError (TokenExpired on 401, PermissionDenied on 403, OffServerError
        for a URL on another server, ServerUnavailable when nothing answered).
        """
        url = self._transport.resolve(path)
        what = f"{label_for(path)} read"
        reply = self._transport.send("GET", url, what=what, headers=READ_HEADERS, retry=True)
        return _resource_or_raise(reply, what)

    def server_time(self) -> datetime | None:
        """The server's clock now (the HTTP `Date` of a small read), or None when it cannot
        be had. For questions like `_lastUpdated=ge…` that must use the server's clock."""
        try:
            reply = self._transport.send(
                "GET",
                self._transport.resolve("metadata?_summary=true"),
                what="CapabilityStatement read",
                headers=READ_HEADERS,
                retry=True,
            )
        except FhirError:
            return None
        stamp = reply.response.headers.get("Date")
        try:
            moment = parsedate_to_datetime(stamp) if stamp else None
        except (TypeError, ValueError):
            return None
        return moment if moment is not None and moment.tzinfo is not None else None

    def search_all(self, relative_url: str, *, max_pages: int = 50) -> SearchResult:
        """Run a search and follow its `next` links (at most `max_pages` pages).

        Never raises for server trouble: an unreadable page, an expired page (410), a
        refused next link or too many pages give `complete=False` with a `problem`;
        the resources read so far are kept. Raises TokenExpired on 401, and
        OffServerError if `relative_url` itself is off the base.
        """
        label = f"{label_for(relative_url)} search"
        collector = ResourceCollector()
        pages, problem = 0, None
        for search in self._dialect.expand(relative_url):
            url = self._transport.resolve(search)
            read, trouble = follow_pages(
                self._transport, collector, label, max_pages=max(1, max_pages), url=url
            )
            pages += read
            problem = problem or trouble
        log.info(
            "FHIR %s: %d page(s), %d resources, %s",
            label,
            pages,
            len(collector.resources),
            "complete" if problem is None else "INCOMPLETE",
        )
        return SearchResult(collector.resources, problem is None, problem)

    def batch_search(self, urls: Sequence[tuple[str, str]], *, max_pages: int = 50) -> BatchResult:
        """Run several searches in ONE batch POST; `urls` is [(area, relative search URL)].

        Each area's searchset is collected with its `_include`d entries, then its `next`
        links are followed with GETs (only paging adds requests). The server's dialect
        (`dialect`) may split a search into several entries of the same area. A failed entry fails
        its area; a failed POST (down, 5xx after retries, timeout) fails every area — a
        result is returned rather than raised. Servers without batch (404/405/501) are
        read one search at a time. `max_pages` bounds each area's paging. Raises
        TokenExpired on 401, OffServerError if a query is not on the base.
        """
        searches = self._dialect.expand_all(urls)
        return batch_search(self._transport, searches, max_pages=max(1, max_pages))

    def everything(
        self, patient_id: str, *, count: int | None = None, max_pages: int = 50
    ) -> SearchResult:
        """`Patient/{id}/$everything`, all pages."""
        if not is_fhir_id(patient_id):
            raise ValueError("patient_id is not a valid FHIR id")
        query = f"?_count={int(count)}" if count else ""
        return self.search_all(f"Patient/{patient_id}/$everything{query}", max_pages=max_pages)

    def bulk_export(
        self,
        kind_url: str | ExportRequest,
        *,
        poll_interval_s: float = 5.0,
        max_wait_s: float = 600.0,
        file_origins: Sequence[str] = (),
        token_origins: Sequence[str] = (),
        check_types: bool = True,
        on_progress: Callable[[str], None] | None = None,
    ) -> BulkExport:
        """Bulk Data `$export` (e.g. `Group/1/$export?_type=Patient,Observation`).

        Returns an iterator of resources, streamed from the NDJSON outputs; it starts
        work on the first `next()` (smartapp.fhir.bulk says what it copes with). Files
        are read from the server's origin, or from `file_origins` / `token_origins`
        (`https://host[:port]`; the token may go only to the latter). Raises FhirError if
        the export cannot be started, fails, or waiting (polls, retries) took more than
        `max_wait_s` seconds.
        """
        files = FileAccess(
            self._server,
            origins=frozenset(_origins(file_origins)),
            token_origins=frozenset(_origins(token_origins)),
        )
        return BulkExport(
            self._transport,
            kind_url,
            poll_interval_s=poll_interval_s,
            max_wait_s=max_wait_s,
            files=files,
            check_types=check_types,
            on_progress=on_progress,
        )

    # -- writes (never retried automatically) ------------------------------------------

    def transaction(self, bundle: Resource) -> Resource:
        """POST a transaction Bundle; returns the transaction-response Bundle.

        Not retried: after a timeout the server may or may not have applied it. Our
        write-back is conditional (create/update by identifier), so a user's retry is
        safe. Raises FhirError with the OperationOutcome text on 4xx/5xx.
        """
        if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
            raise ValueError("transaction() needs a Bundle of type 'transaction'")
        reply = self._write("POST", self._server.url, "Transaction", bundle, {})
        return _resource_or_raise(reply, "Transaction")

    def create(self, resource: Resource, if_none_exist: str | None = None) -> Resource:
        """POST a new resource; with `if_none_exist` (`identifier=sys|val`) a conditional
        create that returns the existing resource instead of making a duplicate."""
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str) or not _RESOURCE_TYPE.match(rtype):
            raise ValueError("create() needs a resource with a resourceType")
        headers = dict(_RETURN_REPRESENTATION)
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist
        url = self._transport.resolve(rtype)
        reply = self._write("POST", url, f"{rtype} create", resource, headers)
        return _written(reply, f"{rtype} create", rtype)

    def update(self, path: str, resource: Resource, *, if_match: str | None = None) -> Resource:
        """PUT a resource at `path` (`CarePlan/1`, or conditional `CarePlan?identifier=…`).
        `if_match` (an ETag such as `W/"3"`) guards against lost updates."""
        headers = dict(_RETURN_REPRESENTATION)
        if if_match:
            headers["If-Match"] = if_match
        url = self._transport.resolve(path)
        what = f"{label_for(path)} update"
        reply = self._write("PUT", url, what, resource, headers)
        return _written(reply, what, str(resource.get("resourceType") or ""))

    def _write(
        self, method: str, url: str, what: str, body: Resource, extra: dict[str, str]
    ) -> Reply:
        try:
            return self._transport.send(
                method, url, what=what, headers={**WRITE_HEADERS, **extra}, retry=False, body=body
            )
        except ServerUnavailable as err:
            raise ServerUnavailable(
                f"{err}; the write may or may not have been applied — retrying is safe",
                status=err.status,
            ) from err


def _origins(values: Sequence[str]) -> list[str]:
    found = []
    for value in values:
        origin = origin_of(value)
        if origin is None:
            raise ValueError(f"not an http(s) origin: {value!r}")
        found.append(origin)
    return found


def _resource_or_raise(reply: Reply, what: str) -> Resource:
    if not reply.ok:
        raise reply.error(what)
    body = reply.body
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        raise FhirError(
            f"{what} failed: the server did not answer with a FHIR resource", status=reply.status
        )
    return body


def _written(reply: Reply, what: str, rtype: str) -> Resource:
    """The stored resource: the body when returned, else type and id from `Location`."""
    if not reply.ok:
        raise reply.error(what)
    body: Any = reply.body
    if isinstance(body, dict) and body.get("resourceType") not in (None, "OperationOutcome"):
        return body
    location = reply.response.headers.get("Location") or reply.response.headers.get(
        "Content-Location"
    )
    result: Resource = {"resourceType": rtype}
    if location:
        parts = location.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2:
            result = {"resourceType": parts[-2], "id": parts[-1]}
    return result
