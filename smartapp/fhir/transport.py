"""One HTTP exchange with the FHIR server: headers, token, timeout, retries, query log.

Every request of the package goes through `Transport.send`, which is where the rules
live that must never be skipped: the URL is on the tenant's base (else nothing is sent),
the bearer token is attached only there, every call has a timeout, redirects are
followed by hand and only on the same server, and only reads are retried. Bulk Data
output files are the one exception, and only through an explicit `FileAccess`: they may
live on the server's origin or an allowlisted one, and the token goes with them only
where that policy and the caller (the manifest's `requiresAccessToken`) both allow.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from smartapp.fhir.errors import FhirError, OffServerError, ServerUnavailable, error_from_response
from smartapp.fhir.querylog import QueryLog, QueryLogEntry
from smartapp.fhir.retry import RetryPolicy
from smartapp.fhir.urls import FileAccess, ServerBase

log = logging.getLogger("smartapp.fhir")

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
USER_AGENT = "ofatumumab-smartapp (python-requests)"

#: HAPI caches identical searches for 60 s; without this a just-written Task is missed.
READ_HEADERS: Mapping[str, str] = {"Accept": FHIR_JSON, "Cache-Control": "no-cache"}
WRITE_HEADERS: Mapping[str, str] = {"Accept": FHIR_JSON, "Content-Type": FHIR_JSON}

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_MAX_CONNECT_TIMEOUT_S = 10.0
# Raised by requests/urllib3 when the server or network fails, as opposed to a bad call.
NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass
class Reply:
    """A response, its JSON body (parsed once; None if absent or not JSON), and how many tries."""

    response: requests.Response
    body: Any
    attempts: int
    log_index: int

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def ok(self) -> bool:
        return 200 <= self.response.status_code < 300

    def error(self, what: str) -> FhirError:
        err = error_from_response(self.response, what)
        if self.attempts > 1:
            err = type(err)(
                f"{err} (after {self.attempts} attempts)", status=err.status, outcome=err.outcome
            )
        return err


def _entry_count(body: Any) -> int | None:
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        entries = body.get("entry")
        return len(entries) if isinstance(entries, list) else 0
    return None


def _parse_json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


class Transport:
    """Sends requests to one FHIR base through a `requests.Session` (or a subclass)."""

    def __init__(
        self,
        base: ServerBase,
        session: requests.Session,
        *,
        token: str | None,
        timeout: float,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        query_log: QueryLog,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.base = base
        self.session = session
        self.token = token
        self.timeout = (min(timeout, _MAX_CONNECT_TIMEOUT_S), timeout)
        self.policy = policy
        self.sleep = sleep
        self.log = query_log

    def resolve(self, ref: str) -> str:
        return self.base.resolve(ref)

    def _headers(
        self, url: str, headers: Mapping[str, str], files: FileAccess | None, token: bool
    ) -> dict[str, str]:
        merged = {"User-Agent": USER_AGENT, **headers}
        # resolve()/normalise() already guarantee this; checked again because a token
        # leaking to another server is the one mistake that must not happen.
        on_base = self.base.normalise(url) == url
        allowed = on_base or (files is not None and files.may_send_token(url))
        if self.token and token and allowed:
            merged["Authorization"] = f"Bearer {self.token}"
        return merged

    def _allowed(self, url: str, files: FileAccess | None) -> str | None:
        """`url` normalised when it may be requested, else None."""
        if files is not None:
            return files.normalise(url)
        return self.base.normalise(url)

    def send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str],
        retry: bool,
        body: Any = None,
        stream: bool = False,
        files: FileAccess | None = None,
        token: bool = True,
    ) -> Reply:
        """Send until a final answer: retries (when `retry`) and same-server redirects.

        Returns the last response whatever its status. Raises ServerUnavailable when no
        response came back, OffServerError for a URL or redirect off the base (or, with
        `files`, off the origins it allows). `token=False` never sends the token.
        """
        if self._allowed(url, files) != url:
            raise OffServerError(
                f"{what} refused: {urlsplit(url).hostname or 'that URL'} is not the FHIR server"
            )
        data = json.dumps(body).encode("utf-8") if body is not None else None
        attempt = 0
        redirects = 0
        while True:
            started = time.perf_counter()
            relative = self.base.relative(url)
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=self._headers(url, headers, files, token),
                    data=data,
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=stream,
                )
            except NETWORK_ERRORS as err:
                kind = "timeout" if isinstance(err, requests.Timeout) else "connection error"
                elapsed = (time.perf_counter() - started) * 1000
                self.log.record(
                    QueryLogEntry(method, relative, None, elapsed, error=kind, attempt=attempt + 1)
                )
                delay = self.policy.delay_for_error(attempt) if retry else None
                if delay is None:
                    tries = f", {attempt + 1} attempts" if attempt else ""
                    raise ServerUnavailable(
                        f"{what} failed: no answer from the FHIR server ({kind}{tries})"
                    ) from err
                log.warning(
                    "FHIR %s: %s; retry %d of %d in %.1f s",
                    method,
                    kind,
                    attempt + 1,
                    self.policy.max_retries,
                    delay,
                )
                self.sleep(delay)
                attempt += 1
                continue

            parsed = None if stream else _parse_json(response)
            elapsed = (time.perf_counter() - started) * 1000
            index = self.log.record(
                QueryLogEntry(
                    method,
                    relative,
                    response.status_code,
                    elapsed,
                    entries=_entry_count(parsed),
                    attempt=attempt + 1,
                )
            )
            status = response.status_code

            if status in _REDIRECTS and method == "GET" and "Location" in response.headers:
                response.close()
                target = self._allowed(urljoin(url, response.headers["Location"]), files)
                if target is None:
                    raise OffServerError(
                        f"{what} refused: the FHIR server redirected to another server; "
                        "not followed and no token sent",
                        status=status,
                    )
                redirects += 1
                if redirects > _MAX_REDIRECTS:
                    raise FhirError(f"{what} failed: too many redirects", status=status)
                url = target
                continue

            delay = (
                self.policy.delay_for_status(attempt, status, response.headers) if retry else None
            )
            if delay is not None:
                response.close()
                log.warning(
                    "FHIR %s answered %d; retry %d of %d in %.1f s",
                    method,
                    status,
                    attempt + 1,
                    self.policy.max_retries,
                    delay,
                )
                self.sleep(delay)
                attempt += 1
                continue
            return Reply(response, parsed, attempt + 1, index)
