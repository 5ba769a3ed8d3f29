"""One HTTP exchange with the FHIR server: headers, token, timeout, retries, query log.

Every request of the package goes through `Transport.send`, which is where the rules
live that must never be skipped: the URL is on the tenant's base (else nothing is sent),
the bearer token is attached only there, every call has a timeout, redirects are
followed by hand and only on the same server, and only reads are retried. Bulk Data
output files are the one exception, and only through an explicit `FileAccess`: they may
live on the server's origin or an allowlisted one, and the token goes with them only
where that policy and the caller (the manifest's `requiresAccessToken`) both allow.

Reads are bounded (`smartapp.fhir.limits`): one deadline for the whole view, retries and
backoff included; bodies read as a stream with the socket timeout cut to the time left;
a size cap; a JSON nesting cap. A write gets its own clock of connect + read timeout.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3.exceptions

from smartapp.fhir.errors import FhirError, OffServerError, ServerUnavailable, error_from_response
from smartapp.fhir.limits import Deadline, ReadLimits, parse_json
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
    # Raised by urllib3 itself while a streamed body is read chunk by chunk.
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.DecodeError,
)
_CHUNK = 64 * 1024
#: The shortest socket timeout set while reading (a zero would mean "non-blocking").
_MIN_SOCKET_TIMEOUT_S = 0.05


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


def _cut_socket_timeout(response: requests.Response, seconds: float) -> None:
    """Make the next read of the body wait at most `seconds` (urllib3 keeps the socket of
    a streamed response on `_connection`; without it, the per-read timeout still holds)."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(_MIN_SOCKET_TIMEOUT_S, seconds))


def read_limited(
    response: requests.Response,
    budget: Deadline,
    *,
    max_bytes: int,
    read_timeout: float,
    what: str,
    too_large: Callable[[str, int | None], Exception],
) -> bytes:
    """A streamed response's whole body, read a chunk at a time: each wait for the server
    is cut to the time `budget` has left, and reading stops past `max_bytes` (decoded).
    The connection goes back to the pool when the body was read whole, else it is closed."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        response.close()
        raise too_large(what, int(length))
    chunks: list[bytes] = []
    total = 0
    try:
        while True:
            if budget.expired:
                raise budget.exceeded(what)
            _cut_socket_timeout(response, min(read_timeout, budget.remaining()))
            chunk = response.raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise too_large(what, None)
            chunks.append(chunk)
    except BaseException:
        response.close()
        raise
    response.raw.release_conn()
    return b"".join(chunks)


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
        limits: ReadLimits | None = None,
        reauthorize: Callable[[], str | None] | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.base = base
        self.session = session
        self.token = token
        #: Gives a fresh token after the server refused ours (401): called at most once per
        #: request, which is then sent again. It may raise (e.g. RelaunchRequired).
        self.reauthorize = reauthorize
        self.timeout = (min(timeout, _MAX_CONNECT_TIMEOUT_S), timeout)
        self.policy = policy
        self.sleep = sleep
        self.log = query_log
        self.limits = limits or ReadLimits()

    # -- bounded reading ------------------------------------------------------------------

    def _budget(self, retry: bool) -> Deadline:
        """The view's deadline for reads; a write's own short clock (it must not be cut
        off by a slow read before it, nor hang on a server that drips its answer)."""
        return self.limits.deadline if retry else Deadline(sum(self.timeout))

    def _timeouts(self, budget: Deadline) -> tuple[float, float]:
        left = max(_MIN_SOCKET_TIMEOUT_S, budget.remaining())
        return (min(self.timeout[0], left), min(self.timeout[1], left))

    def read_body(self, response: requests.Response, budget: Deadline, what: str) -> bytes:
        """The whole body, read a chunk at a time within `budget` and the size cap."""
        return read_limited(
            response,
            budget,
            max_bytes=self.limits.max_bytes,
            read_timeout=self.timeout[1],
            what=what,
            too_large=self.limits.too_large,
        )

    def iter_lines(self, response: requests.Response, what: str) -> Iterator[bytes]:
        """A streamed body's lines (NDJSON), each within the size cap, the whole read
        within the view's deadline. The caller closes the response."""
        limits, budget = self.limits, self.limits.deadline
        pending = b""
        while True:
            if budget.expired:
                raise budget.exceeded(what)
            _cut_socket_timeout(response, min(self.timeout[1], budget.remaining()))
            chunk = response.raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            if len(pending) > limits.max_bytes:
                raise limits.too_large(f"{what} (one line)")
            yield from lines
        if pending:
            yield pending

    def resolve(self, ref: str) -> str:
        return self.base.resolve(ref)

    def _wait_to_retry(self, what: str, attempt: int, delay: float) -> None:
        """Log why the request is tried again (`what`: "FHIR GET answered 503") and wait."""
        log.warning(
            "%s; retry %d of %d in %.1f s", what, attempt + 1, self.policy.max_retries, delay
        )
        self.sleep(delay)

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
        budget = self._budget(retry)
        attempt = 0
        redirects = 0
        reauthorized = False
        while True:
            if budget.expired:
                raise budget.exceeded(what)
            started = time.perf_counter()
            relative = self.base.relative(url)
            try:
                sent = self._headers(url, headers, files, token)
                response = self.session.request(
                    method,
                    url,
                    headers=sent,
                    data=data,
                    timeout=self._timeouts(budget),
                    allow_redirects=False,
                    stream=True,
                )
                content = None if stream else self.read_body(response, budget, what)
            except NETWORK_ERRORS as err:
                kind = "timeout" if isinstance(err, requests.Timeout) else "connection error"
                elapsed = (time.perf_counter() - started) * 1000
                self.log.record(
                    QueryLogEntry(method, relative, None, elapsed, error=kind, attempt=attempt + 1)
                )
                delay = self.policy.delay_for_error(attempt) if retry else None
                if budget.expired or (delay is not None and delay >= budget.remaining()):
                    raise budget.exceeded(what) from err
                if delay is None:
                    tries = f", {attempt + 1} attempts" if attempt else ""
                    raise ServerUnavailable(
                        f"{what} failed: no answer from the FHIR server ({kind}{tries})"
                    ) from err
                self._wait_to_retry(f"FHIR {method}: {kind}", attempt, delay)
                attempt += 1
                continue

            except FhirError:
                # Past the deadline or the size cap while reading the body: logged, not retried.
                elapsed = (time.perf_counter() - started) * 1000
                self.log.record(
                    QueryLogEntry(
                        method, relative, None, elapsed, error="not read", attempt=attempt + 1
                    )
                )
                raise
            if content is not None:
                response._content = content  # what `.content` and `.json()` return
            elapsed = (time.perf_counter() - started) * 1000
            try:
                parsed = None if content is None else parse_json(content, what)
            except FhirError:
                self.log.record(
                    QueryLogEntry(
                        method, relative, response.status_code, elapsed, attempt=attempt + 1
                    )
                )
                raise
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

            if (
                status == 401
                and "Authorization" in sent
                and self.reauthorize is not None
                and not reauthorized
            ):
                # The one place a refused token is renewed: no caller handles 401 itself.
                response.close()
                reauthorized = True
                log.info("FHIR %s answered 401; renewing the token once", method)
                self.token = self.reauthorize()
                continue

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
            if delay is not None and delay >= budget.remaining():
                response.close()
                raise budget.exceeded(what)
            if delay is not None:
                response.close()
                self._wait_to_retry(f"FHIR {method} answered {status}", attempt, delay)
                attempt += 1
                continue
            return Reply(response, parsed, attempt + 1, index)
