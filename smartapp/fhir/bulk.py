"""FHIR Bulk Data export: kick-off, poll, manifest, streamed NDJSON download.

Protocol (Bulk Data Access IG 2.0): `GET …/$export` with `Prefer: respond-async` →
202 + `Content-Location`; poll that URL (202 + `Retry-After`/`X-Progress` while
running) until 200 with a JSON manifest; download each `output[].url` as NDJSON.

HAPI serves each output as a `Binary`: asked for NDJSON it returns the raw file, but
some versions and proxies return the FHIR Binary JSON with base64 `data`; both are read.
Output URLs must be on the same server as the base (the token is only sent there).
Resources are yielded one at a time; raw NDJSON is never held in memory whole. A Binary
JSON body is, necessarily: it is one JSON document.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

from smartapp.fhir.errors import FhirError, OffServerError, ServerUnavailable, summarise_outcome
from smartapp.fhir.results import Resource
from smartapp.fhir.retry import retry_after_seconds
from smartapp.fhir.transport import FHIR_JSON, FHIR_NDJSON, NETWORK_ERRORS, Transport

log = logging.getLogger("smartapp.fhir")

_KICK_OFF_HEADERS = {"Accept": FHIR_JSON, "Prefer": "respond-async"}
_STATUS_HEADERS = {"Accept": "application/json"}
_DOWNLOAD_HEADERS = {"Accept": FHIR_NDJSON}
_CHUNK = 64 * 1024
_MAX_ERROR_TEXTS = 5


class BulkExport(Iterator[Resource]):
    """An iterator of exported resources. Work starts on the first `next()`.

    After (or during) iteration: `manifest` holds the completion manifest, `progress`
    the last `X-Progress` text, and `problems` one sentence per thing that went wrong
    without stopping the export (unreadable lines, error files listed by the server).
    """

    def __init__(
        self,
        transport: Transport,
        kind_url: str,
        *,
        poll_interval_s: float,
        max_wait_s: float,
    ) -> None:
        self._transport = transport
        self._url = transport.resolve(kind_url)
        self._poll_interval_s = poll_interval_s
        self._max_wait_s = max_wait_s
        self.manifest: dict[str, Any] | None = None
        self.progress: str | None = None
        self.problems: list[str] = []
        self._resources = self._run()

    def __iter__(self) -> BulkExport:
        return self

    def __next__(self) -> Resource:
        return next(self._resources)

    def close(self) -> None:
        """Stop early; closes any open download."""
        self._resources.close()

    # -- protocol steps ---------------------------------------------------------------

    def _run(self) -> Generator[Resource, None, None]:
        status_url = self._kick_off()
        manifest = self._wait(status_url)
        self.manifest = manifest
        outputs = self._files(manifest, "output", status_url)
        errors = self._files(manifest, "error", status_url)
        log.info(
            "FHIR bulk export ready: %d output file(s), %d error file(s)", len(outputs), len(errors)
        )
        for rtype, url in outputs:
            yield from self._download(url, rtype)
        for rtype, url in errors:
            self._read_error_file(url, rtype)

    def _kick_off(self) -> str:
        t = self._transport
        reply = t.send(
            "GET", self._url, what="Bulk export kick-off", headers=_KICK_OFF_HEADERS, retry=True
        )
        if not reply.ok:
            raise reply.error("Bulk export kick-off")
        if reply.status != 202:
            raise FhirError(
                f"Bulk export kick-off failed: expected HTTP 202 Accepted, got {reply.status}",
                status=reply.status,
            )
        location = reply.response.headers.get("Content-Location")
        if not location:
            raise FhirError("Bulk export kick-off failed: no Content-Location to poll", status=202)
        status_url = t.base.normalise(urljoin(self._url, location))
        if status_url is None:
            raise OffServerError("Bulk export refused: the status URL is on another server")
        return status_url

    def _wait(self, status_url: str) -> dict[str, Any]:
        t = self._transport
        waited = 0.0
        polls = 0
        while True:
            reply = t.send(
                "GET", status_url, what="Bulk export status", headers=_STATUS_HEADERS, retry=True
            )
            polls += 1
            if reply.status == 202:
                self.progress = reply.response.headers.get("X-Progress") or self.progress
                log.debug("FHIR bulk export in progress: %s", self.progress)
                remaining = self._max_wait_s - waited
                if remaining <= 0:
                    raise FhirError(
                        f"Bulk export not finished after {waited:.0f} s ({polls} status checks)"
                        + (f"; last progress: {self.progress}" if self.progress else ""),
                        status=202,
                    )
                asked = retry_after_seconds(reply.response.headers)
                delay = min(self._poll_interval_s if asked is None else asked, remaining)
                t.sleep(delay)
                waited += delay
                continue
            if not reply.ok:
                raise reply.error("Bulk export")
            if not isinstance(reply.body, dict):
                raise FhirError(
                    "Bulk export failed: the completion manifest is not JSON", status=reply.status
                )
            log.info("FHIR bulk export complete after %d status checks", polls)
            return reply.body

    def _files(
        self, manifest: Mapping[str, Any], key: str, status_url: str
    ) -> list[tuple[str, str]]:
        """(resource type, URL) for each file, all checked to be on the server first."""
        items = manifest.get(key)
        files: list[tuple[str, str]] = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping) or not isinstance(item.get("url"), str):
                continue
            url = self._transport.base.normalise(urljoin(status_url, item["url"]))
            if url is None:
                raise OffServerError(
                    "Bulk export refused: the manifest lists a file on another server; "
                    "nothing was downloaded from it and no token was sent"
                )
            files.append((str(item.get("type") or "resource"), url))
        return files

    # -- downloads ------------------------------------------------------------------

    def _download(self, url: str, rtype: str) -> Iterator[Resource]:
        t = self._transport
        reply = t.send(
            "GET",
            url,
            what="Bulk export download",
            headers=_DOWNLOAD_HEADERS,
            retry=True,
            stream=True,
        )
        response = reply.response
        count = 0
        try:
            if not reply.ok:
                raise reply.error(f"Bulk export download of {rtype}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            lines = response.iter_lines(chunk_size=_CHUNK)
            for resource in self._parse(lines, content_type, rtype):
                count += 1
                yield resource
        except NETWORK_ERRORS as err:
            raise ServerUnavailable(
                f"Bulk export download of {rtype} interrupted after {count} resources"
            ) from err
        finally:
            t.log.set_entries(reply.log_index, count)
            response.close()

    def _parse(self, lines: Iterator[bytes], content_type: str, rtype: str) -> Iterator[Resource]:
        """Resources from NDJSON lines, or from a FHIR Binary holding base64 NDJSON."""
        first = next((line for line in lines if line.strip()), None)
        if first is None:
            return
        try:
            head: Any = json.loads(first)
        except ValueError:
            # Not one JSON document per line: a pretty-printed (Binary) JSON body.
            rest = b"\n".join(lines)
            try:
                head = json.loads(first + b"\n" + rest)
            except ValueError:
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
                resource = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
                yield resource
            else:
                bad += 1
        if bad:
            self.problems.append(f"{bad} line(s) of the {rtype} export could not be read")

    def _read_error_file(self, url: str, rtype: str) -> None:
        """The server's OperationOutcomes for failed parts of the export, as problems."""
        texts = [
            summarise_outcome(outcome)
            for outcome in self._download(url, rtype)
            if outcome.get("resourceType") == "OperationOutcome"
        ]
        if texts:
            shown = "; ".join(texts[:_MAX_ERROR_TEXTS])
            more = (
                f" (and {len(texts) - _MAX_ERROR_TEXTS} more)"
                if len(texts) > _MAX_ERROR_TEXTS
                else ""
            )
            self.problems.append(f"The server reported {len(texts)} export error(s): {shown}{more}")


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
