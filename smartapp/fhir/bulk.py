"""FHIR Bulk Data export (Bulk Data Access IG 2.0): kick-off, poll, manifest, NDJSON files.

Protocol: `GET …/$export` with `Prefer: respond-async` → 202 + `Content-Location`; poll that
URL (202 + `Retry-After`/`X-Progress` while running) until 200 with a JSON manifest;
download each `output[].url` as NDJSON; read `error[]` files as OperationOutcomes; then
`DELETE` the status URL so the server may remove the files (IG "Bulk Data Delete Request").

What real servers do, and what this client does about it (docs/connecting.md):
- Types: the server may lack some of the types asked for and refuse the whole kick-off
  (400 naming the type). The requested `_type`s are first narrowed to the types the
  server's CapabilityStatement lists; a kick-off refused with an OperationOutcome naming
  requested types is sent again without them. `unsupported_types` lists what was left out.
- Status: the polling URL may be anywhere on the FHIR server's origin, never elsewhere.
- Files: output URLs are accepted on the FHIR server's origin (any path: the SMART
  reference server serves them beside its base) or on origins the tenant allowlists
  (`FileAccess`). The token goes with a file request only when the manifest says
  `requiresAccessToken` and the origin may receive it; otherwise no file is read at all.
- Waiting: `Retry-After` (seconds or HTTP-date) is honoured on 202, 429 and 5xx answers;
  429, 502-504, connection failures and OperationOutcomes with a transient issue code are
  waited out until the overall wait budget (`max_wait_s`) is spent; a plain 500 is retried
  a few times only. The budget counts the waits asked for and failed attempts.
- Expiry: files that are gone (404/410; HAPI keeps them 2 hours) start ONE new export of
  the types not yet read completely; resources already handed out are not repeated.
- Errors: `error[]` files with `error`/`fatal` issues become `problems` (the data may be
  incomplete); `warning`/`information` ones become `notes`.
- Progress: each 202's `X-Progress` is logged and passed to `on_progress`.

HAPI serves each output as a `Binary`: asked for NDJSON it returns the raw file, but some
versions and proxies return the FHIR Binary JSON with base64 `data`; both are read.
Resources are yielded one at a time; raw NDJSON is never held in memory whole. A Binary
JSON body is, necessarily: it is one JSON document.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin

from smartapp.fhir import jsonio
from smartapp.fhir.errors import (
    FhirError,
    OffServerError,
    ServerUnavailable,
    outcome_of,
    summarise_outcome,
)
from smartapp.fhir.results import Resource
from smartapp.fhir.retry import retry_after_seconds
from smartapp.fhir.transport import (
    FHIR_JSON,
    FHIR_NDJSON,
    NETWORK_ERRORS,
    READ_HEADERS,
    Reply,
    Transport,
)
from smartapp.fhir.urls import FileAccess, origin_of

log = logging.getLogger("smartapp.fhir")

_KICK_OFF_HEADERS = {"Accept": FHIR_JSON, "Prefer": "respond-async"}
_STATUS_HEADERS = {"Accept": "application/json"}
_DOWNLOAD_HEADERS = {"Accept": FHIR_NDJSON}
_MAX_ERROR_TEXTS = 5
#: Always worth waiting for: rate limiting and gateways in front of a busy server.
_BUSY_STATUSES = frozenset({429, 502, 503, 504})
#: IssueType codes under `transient` that mean "ask again later" (R4 issue-type). Its
#: child `exception` is left out: servers use it for jobs that failed for good.
_TRANSIENT_CODES = frozenset(
    {"transient", "lock-error", "no-store", "timeout", "incomplete", "throttled"}
)
#: A file that is gone: expired (HAPI deletes export Binaries after 2 hours) or removed.
_GONE = frozenset({404, 410})
#: Kick-off answers that may name resource types the server does not have.
_TYPE_REFUSALS = frozenset({400, 404, 422})
#: A plain HTTP 500 (no transient code) is retried this many times, then it is final.
_MAX_PLAIN_500 = 3
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the kick-off path, the `_type`s, and any other parameters.

    `path` is `$export`, `Patient/$export` or `Group/<id>/$export`; `params` holds other
    kick-off parameters (for example `_since`), kept as given on every (re)start.
    """

    path: str
    types: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, kind_url: str) -> ExportRequest:
        """From `Group/1/$export?_type=Patient,Observation&_since=…`."""
        path, _, query = kind_url.partition("?")
        types: list[str] = []
        params: list[tuple[str, str]] = []
        for name, value in parse_qsl(query, keep_blank_values=False):
            if name == "_type":
                types += [t.strip() for t in value.split(",") if t.strip()]
            else:
                params.append((name, value))
        return cls(path, tuple(dict.fromkeys(types)), tuple(params))

    def url(self, types: Sequence[str]) -> str:
        """The base-relative kick-off URL for `types` (all of the server's when empty)."""
        query = [f"_type={','.join(types)}"] if types else []
        query += [f"{quote(k, safe='')}={quote(v, safe=':/,|')}" for k, v in self.params]
        return self.path + (f"?{'&'.join(query)}" if query else "")


class _Expired(Exception):
    """An output file was gone (404/410) before it could be read."""

    def __init__(self, rtype: str, status: int) -> None:
        super().__init__(rtype)
        self.rtype = rtype
        self.status = status


class _Budget:
    """The overall wait budget: the waits asked for plus the time of failed attempts."""

    def __init__(self, limit_s: float, sleep: Callable[[float], None]) -> None:
        self.limit_s = limit_s
        self.spent = 0.0
        self._sleep = sleep

    @property
    def remaining(self) -> float:
        return self.limit_s - self.spent

    def wait(self, seconds: float) -> None:
        delay = max(0.0, min(seconds, self.remaining))
        self._sleep(delay)
        self.spent += delay

    def charge(self, seconds: float) -> None:
        self.spent += max(0.0, seconds)


def server_types(capability: Any) -> frozenset[str]:
    """The resource types a CapabilityStatement's server `rest` lists (empty: unknown)."""
    if not isinstance(capability, Mapping) or capability.get("resourceType") != (
        "CapabilityStatement"
    ):
        return frozenset()
    found: set[str] = set()
    rests = capability.get("rest")
    for rest in rests if isinstance(rests, list) else []:
        if not isinstance(rest, Mapping) or rest.get("mode", "server") != "server":
            continue
        resources = rest.get("resource")
        for item in resources if isinstance(resources, list) else []:
            rtype = item.get("type") if isinstance(item, Mapping) else None
            if isinstance(rtype, str) and _TYPE_NAME.match(rtype):
                found.add(rtype)
    return frozenset(found)


def _outcome_text(outcome: Mapping[str, Any] | None) -> str:
    if outcome is None:
        return ""
    parts: list[str] = []
    issues = outcome.get("issue")
    for issue in issues if isinstance(issues, list) else []:
        if not isinstance(issue, Mapping):
            continue
        parts.append(str(issue.get("diagnostics") or ""))
        details = issue.get("details")
        if isinstance(details, Mapping):
            parts.append(str(details.get("text") or ""))
        expression = issue.get("expression")
        if isinstance(expression, list):
            parts += [str(e) for e in expression]
    return " ".join(parts)


def types_named(outcome: Mapping[str, Any] | None, types: Iterable[str]) -> list[str]:
    """The requested types an OperationOutcome names (a refused kick-off's reason)."""
    text = _outcome_text(outcome)
    return [t for t in types if re.search(rf"(?<![A-Za-z]){re.escape(t)}(?![A-Za-z])", text)]


def _is_transient_outcome(outcome: Mapping[str, Any] | None) -> bool:
    issues = outcome.get("issue") if outcome is not None else None
    return isinstance(issues, list) and any(
        isinstance(issue, Mapping) and issue.get("code") in _TRANSIENT_CODES for issue in issues
    )


def _worst_severity(outcome: Mapping[str, Any]) -> str:
    issues = outcome.get("issue")
    severities = {
        issue.get("severity")
        for issue in (issues if isinstance(issues, list) else [])
        if isinstance(issue, Mapping)
    }
    for level in ("fatal", "error", "warning", "information"):
        if level in severities:
            return level
    return "error"


class BulkExport(Iterator[Resource]):
    """An iterator of exported resources. Work starts on the first `next()`.

    After (or during) iteration: `manifest` holds the last completion manifest,
    `transaction_time` the `transactionTime` of the export the first files came from,
    `progress` the last `X-Progress` text, `unsupported_types` the requested types the
    server does not have, `problems` one sentence per thing that may have left data out
    (unreadable lines, error files), `notes` what is worth knowing but lost nothing,
    and `exports` how many exports were started (2 after an expiry).
    """

    def __init__(
        self,
        transport: Transport,
        kind_url: str | ExportRequest,
        *,
        poll_interval_s: float,
        max_wait_s: float,
        files: FileAccess | None = None,
        check_types: bool = True,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self._transport = transport
        self._request = (
            kind_url if isinstance(kind_url, ExportRequest) else ExportRequest.parse(kind_url)
        )
        transport.resolve(self._request.path)  # refuse an off-server kick-off up front
        self._poll_interval_s = poll_interval_s
        self._budget = _Budget(max_wait_s, transport.sleep)
        self._files_access = files if files is not None else FileAccess(transport.base)
        self._own_origin = FileAccess(transport.base)
        self._check_types = check_types
        self._on_progress = on_progress
        self.manifest: dict[str, Any] | None = None
        self.transaction_time: str | None = None
        self.progress: str | None = None
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.unsupported_types: list[str] = []
        self.exports = 0
        self._resources = self._run()

    def __iter__(self) -> BulkExport:
        return self

    def __next__(self) -> Resource:
        return next(self._resources)

    def close(self) -> None:
        """Stop early; closes any open download."""
        self._resources.close()

    @property
    def waited_s(self) -> float:
        """Seconds of the wait budget spent so far."""
        return self._budget.spent

    # -- protocol steps ---------------------------------------------------------------

    def _run(self) -> Generator[Resource, None, None]:
        types = self._supported(self._request.types)
        done: set[str] = set()  # types read completely
        skip: set[tuple[str, str]] = set()  # resources already handed out (after expiry)
        while True:
            status_url, types = self._kick_off(types)
            manifest = self._wait(status_url)
            self.manifest = manifest
            if self.transaction_time is None and isinstance(manifest.get("transactionTime"), str):
                self.transaction_time = manifest["transactionTime"]
            send_token = manifest.get("requiresAccessToken") is not False
            outputs = self._files(manifest, "output", status_url, send_token)
            errors = self._files(manifest, "error", status_url, send_token)
            log.info(
                "FHIR bulk export ready: %d output file(s), %d error file(s)",
                len(outputs),
                len(errors),
            )
            current: set[tuple[str, str]] = set()
            try:
                for rtype, urls in _by_type(outputs):
                    if rtype in done:
                        continue
                    current = set()
                    for url in urls:
                        for resource in self._download(url, rtype, send_token):
                            key = (str(resource["resourceType"]), str(resource.get("id")))
                            if key in skip or key[0] in done:
                                continue
                            current.add(key)
                            yield resource
                    done.add(rtype)
                    skip -= {key for key in skip if key[0] == rtype}
            except _Expired as gone:
                self._delete(status_url)
                if self.exports > 1:
                    raise FhirError(
                        f"Bulk export failed: the {gone.rtype} file was gone (HTTP "
                        f"{gone.status}) again after a new export; the server removes its "
                        "files faster than they can be read",
                        status=gone.status,
                    ) from None
                skip |= current
                types = [t for t in types if t not in done] if types else []
                self.notes.append(
                    f"The export's {gone.rtype} file had expired (HTTP {gone.status}); "
                    "a new export was started for the rest."
                )
                log.info("FHIR bulk export: a file expired; starting one new export")
                continue
            for rtype, url in errors:
                self._read_error_file(url, rtype, send_token)
            self._delete(status_url)
            return

    def _supported(self, types: tuple[str, ...]) -> list[str]:
        """The requested types the server's CapabilityStatement lists (all if unknown)."""
        if not types or not self._check_types:
            return list(types)
        t = self._transport
        try:
            reply = t.send(
                "GET",
                t.resolve("metadata"),
                what="CapabilityStatement",
                headers=READ_HEADERS,
                retry=False,
            )
        except ServerUnavailable:
            return list(types)
        offered = server_types(reply.body) if reply.ok else frozenset()
        if not offered:
            log.info("FHIR bulk export: no usable CapabilityStatement; asking for every type")
            return list(types)
        missing = [rtype for rtype in types if rtype not in offered]
        self._not_offered(missing, "its CapabilityStatement does not list them")
        return [rtype for rtype in types if rtype in offered]

    def _not_offered(self, missing: Sequence[str], why: str) -> None:
        if not missing:
            return
        self.unsupported_types += [t for t in missing if t not in self.unsupported_types]
        log.info("FHIR bulk export: server lacks %s (%s)", ", ".join(missing), why)

    def _kick_off(self, types: list[str]) -> tuple[str, list[str]]:
        t = self._transport
        while True:
            url = t.resolve(self._request.url(types))
            reply = self._send("GET", url, "Bulk export kick-off", _KICK_OFF_HEADERS)
            if reply.status == 202:
                break
            if reply.ok:
                raise FhirError(
                    f"Bulk export kick-off failed: expected HTTP 202 Accepted, got {reply.status}",
                    status=reply.status,
                )
            named = types_named(reply.body, types) if reply.status in _TYPE_REFUSALS else []
            if not named or len(named) == len(types):
                raise reply.error("Bulk export kick-off")
            self._not_offered(named, f"the kick-off was refused with HTTP {reply.status}")
            types = [rtype for rtype in types if rtype not in named]
        self.exports += 1
        location = reply.response.headers.get("Content-Location")
        if not location:
            raise FhirError("Bulk export kick-off failed: no Content-Location to poll", status=202)
        # On the server's own origin, whatever the path (Medplum polls outside its base).
        status_url = self._own_origin.normalise(urljoin(url, location))
        if status_url is None:
            raise OffServerError("Bulk export refused: the status URL is on another server")
        return status_url, types

    def _send(
        self,
        method: str,
        url: str,
        what: str,
        headers: Mapping[str, str],
        *,
        stream: bool = False,
        files: FileAccess | None = None,
        token: bool = True,
    ) -> Reply:
        """One request, sent again (after `Retry-After`, else backoff) while the answer is
        "busy" or transient, until the wait budget is spent (module doc)."""
        t = self._transport
        attempt = 0
        plain_500 = 0
        final: FhirError
        while True:
            started = time.monotonic()
            try:
                reply = t.send(
                    method,
                    url,
                    what=what,
                    headers=headers,
                    retry=False,
                    stream=stream,
                    files=files,
                    token=token,
                )
            except ServerUnavailable as err:
                self._budget.charge(time.monotonic() - started)
                reason, delay, final = "no answer", None, err
            else:
                status = reply.status
                outcome = _error_outcome(reply)
                transient = status in _BUSY_STATUSES or _is_transient_outcome(outcome)
                if status == 500 and not transient and plain_500 < _MAX_PLAIN_500:
                    plain_500 += 1
                    transient = True
                if not transient:
                    return reply
                reason = f"HTTP {status}" + (
                    f" ({summarise_outcome(outcome)})" if outcome is not None else ""
                )
                delay = retry_after_seconds(reply.response.headers)
                final = reply.error(what)
                reply.response.close()
            if self._budget.remaining <= 0:
                raise ServerUnavailable(
                    f"{final}; still failing after waiting {self._budget.spent:.0f} s",
                    status=final.status,
                ) from final
            wait = delay if delay is not None else t.policy.backoff(attempt)
            log.warning("FHIR %s: %s; trying again in %.1f s", what, reason, wait)
            self._budget.wait(wait)
            attempt += 1

    def _wait(self, status_url: str) -> dict[str, Any]:
        polls = 0
        while True:
            reply = self._send(
                "GET", status_url, "Bulk export status", _STATUS_HEADERS, files=self._own_origin
            )
            polls += 1
            if reply.status == 202:
                self.progress = reply.response.headers.get("X-Progress") or self.progress
                self._report_progress(polls)
                if self._budget.remaining <= 0:
                    raise FhirError(
                        f"Bulk export not finished after {self._budget.spent:.0f} s "
                        f"({polls} status checks)"
                        + (f"; last progress: {self.progress}" if self.progress else ""),
                        status=202,
                    )
                asked = retry_after_seconds(reply.response.headers)
                self._budget.wait(self._poll_interval_s if asked is None else asked)
                continue
            if not reply.ok:
                raise reply.error("Bulk export")
            if not isinstance(reply.body, dict):
                raise FhirError(
                    "Bulk export failed: the completion manifest is not JSON", status=reply.status
                )
            log.info("FHIR bulk export complete after %d status checks", polls)
            return reply.body

    def _report_progress(self, polls: int) -> None:
        text = (self.progress or "in progress")[:100]
        log.info("FHIR bulk export: %s (status check %d)", text, polls)
        if self._on_progress is not None:
            self._on_progress(f"export {text}; waited {self._budget.spent:.0f} s so far")

    def _files(
        self, manifest: Mapping[str, Any], key: str, status_url: str, send_token: bool
    ) -> list[tuple[str, str]]:
        """(resource type, URL) for each file, every one checked before any is read."""
        items = manifest.get(key)
        files: list[tuple[str, str]] = []
        access = self._files_access
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
                continue
            absolute = urljoin(status_url, item["url"])
            url = access.normalise(absolute)
            if url is None:
                where = origin_of(absolute) or "an unusable URL"
                raise OffServerError(
                    f"Bulk export refused: the manifest lists a file on {where}, which is "
                    "neither the FHIR server nor an origin allowed for this server "
                    "(tenant setting bulk_file_origins); nothing was downloaded and no token "
                    "was sent"
                )
            if send_token and not access.may_send_token(url):
                raise OffServerError(
                    f"Bulk export refused: the files on {origin_of(url)} need the access "
                    "token, and this server's settings do not allow sending it there "
                    "(tenant setting bulk_token_origins); nothing was downloaded"
                )
            files.append((str(item.get("type") or "resource"), url))
        return files

    def _delete(self, status_url: str) -> None:
        """Tell the server the files may go (best effort: a refusal changes nothing)."""
        try:
            self._transport.send(
                "DELETE",
                status_url,
                what="Bulk export clean-up",
                headers=_STATUS_HEADERS,
                retry=False,
                files=self._own_origin,
            ).response.close()
        except FhirError as err:
            log.debug("FHIR bulk export clean-up not done: %s", type(err).__name__)

    # -- downloads ------------------------------------------------------------------

    def _download(self, url: str, rtype: str, send_token: bool) -> Iterator[Resource]:
        reply = self._send(
            "GET",
            url,
            f"Bulk export download of {rtype}",
            _DOWNLOAD_HEADERS,
            stream=True,
            files=self._files_access,
            token=send_token,
        )
        response = reply.response
        count = 0
        try:
            if reply.status in _GONE:
                raise _Expired(rtype, reply.status)
            if not reply.ok:
                raise reply.error(f"Bulk export download of {rtype}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            lines = self._transport.iter_lines(response, f"Bulk export download of {rtype}")
            for resource in self._parse(lines, content_type, rtype):
                count += 1
                yield resource
        except NETWORK_ERRORS as err:
            raise ServerUnavailable(
                f"Bulk export download of {rtype} interrupted after {count} resources"
            ) from err
        finally:
            self._transport.log.set_entries(reply.log_index, count)
            response.close()

    def _parse(self, lines: Iterator[bytes], content_type: str, rtype: str) -> Iterator[Resource]:
        """Resources from NDJSON lines, or from a FHIR Binary holding base64 NDJSON."""
        first = next((line for line in lines if line.strip()), None)
        if first is None:
            return
        try:
            head: Any = jsonio.loads(first)
        except (ValueError, RecursionError):
            # Not one JSON document per line: a pretty-printed (Binary) JSON body, read
            # whole (within the size cap: it is one document).
            rest = _joined(lines, self._transport.limits.max_bytes)
            try:
                head = None if rest is None else jsonio.loads(first + b"\n" + rest)
            except (ValueError, RecursionError):
                head = None
            if head is None:
                self.problems.append(f"The {rtype} export file is neither NDJSON nor FHIR JSON")
                return
            if _is_ndjson_binary(head, content_type, single_document=True):
                yield from self._ndjson(_binary_lines(head, rtype), rtype)
            elif isinstance(head, dict) and isinstance(head.get("resourceType"), str):
                yield head
            return
        if _is_ndjson_binary(head, content_type, single_document=False):
            yield from self._ndjson(_binary_lines(head, rtype), rtype)
            return
        yield from self._ndjson(_chain([first], lines), rtype)

    def _ndjson(self, lines: Iterable[bytes], rtype: str) -> Iterator[Resource]:
        bad = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                resource = jsonio.loads(line)
            except (ValueError, RecursionError):
                bad += 1
                continue
            if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
                yield resource
            else:
                bad += 1
        if bad:
            self.problems.append(f"{bad} line(s) of the {rtype} export could not be read")

    def _read_error_file(self, url: str, rtype: str, send_token: bool) -> None:
        """The server's OperationOutcomes about the export: errors as problems (data may be
        missing), warnings and information as notes. An unreadable error file is a problem:
        what it would have said is unknown."""
        errors: list[str] = []
        others: list[str] = []
        try:
            for outcome in self._download(url, rtype, send_token):
                if outcome.get("resourceType") != "OperationOutcome":
                    continue
                severity = _worst_severity(outcome)
                target = errors if severity in ("fatal", "error") else others
                target.append(summarise_outcome(outcome))
        except _Expired as gone:
            self.problems.append(
                f"The server's export error file could not be read (HTTP {gone.status}); "
                "some data may be missing"
            )
            return
        if errors:
            self.problems.append(
                f"The server reported {len(errors)} export error(s): {_shown(errors)}"
            )
        if others:
            self.notes.append(f"The server noted about the export: {_shown(others)}")


def _shown(texts: list[str]) -> str:
    shown = "; ".join(texts[:_MAX_ERROR_TEXTS])
    more = len(texts) - _MAX_ERROR_TEXTS
    return shown + (f" (and {more} more)" if more > 0 else "")


def _error_outcome(reply: Reply) -> Mapping[str, Any] | None:
    """The OperationOutcome of an error answer (read here for streamed responses)."""
    if reply.status < 400:
        return None
    body = reply.body if reply.body is not None else outcome_of(reply.response)
    if isinstance(body, Mapping) and body.get("resourceType") == "OperationOutcome":
        return body
    return None


def _by_type(files: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """Files grouped by type, types in first-seen order (a type is read to its end)."""
    grouped: dict[str, list[str]] = {}
    for rtype, url in files:
        grouped.setdefault(rtype, []).append(url)
    return list(grouped.items())


def _joined(lines: Iterator[bytes], max_bytes: int) -> bytes | None:
    """The remaining lines joined, or None past `max_bytes`."""
    parts: list[bytes] = []
    total = 0
    for line in lines:
        total += len(line) + 1
        if total > max_bytes:
            return None
        parts.append(line)
    return b"\n".join(parts)


def _chain(head: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from head
    yield from rest


def _is_ndjson_binary(body: Any, content_type: str, *, single_document: bool) -> bool:
    """A FHIR Binary wrapping the export file (HAPI), not an exported Binary resource."""
    if not isinstance(body, dict) or body.get("resourceType") != "Binary":
        return False
    if not isinstance(body.get("data"), str):
        return False
    wrapped = str(body.get("contentType") or "").lower()
    json_response = "json" in content_type and "ndjson" not in content_type
    return single_document or json_response or "ndjson" in wrapped


def _binary_lines(binary: dict[str, Any], rtype: str) -> Iterator[bytes]:
    try:
        data = base64.b64decode(binary.pop("data"), validate=False)
    except (binascii.Error, ValueError) as err:
        raise FhirError(
            f"Bulk export download of {rtype} failed: Binary data is not base64"
        ) from err
    return iter(io.BytesIO(data))
