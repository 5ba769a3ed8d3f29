"""A small HTTP proxy in front of the real HAPI server that injects faults on request.

Used by integration tests to prove that a server error or a partial read shows up as
"data incomplete" and `unknown`, never `ok`. Faults:
- `fail_next(n, status, retry_after)`: the next n requests get `status` (e.g. 503);
- `fail_batch_entries(prefix)`: in batch responses, entries whose search URL starts with
  `prefix` are replaced by a 500 OperationOutcome (a partial read);
- `fail_paging()`: every `_getpages` request gets a 500 (the server "stops" mid-read);
- `delay_s`: every request waits this long first (a slow server);
- `hostile_pages(prefix, how)`: in batch responses, the Bundles of searches whose URL starts
  with `prefix` get a next link (on the proxy); that page is answered as `how` says
  (tests.support.hostile_fhir: dripping, huge, a gzip bomb, deeply nested). The first
  page is real, so only that area is cut short.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler

import requests

from tests.support.hostile_fhir import Hostility, send_hostile
from tests.support.loopback import LoopbackServer, QuietHandler

#: The `_getpages` value of the next links `hostile_pages` adds.
HOSTILE_PAGE = "hostile"


class FaultProxy(LoopbackServer):
    def __init__(self, upstream_base: str) -> None:
        self.upstream = upstream_base.rstrip("/")
        self._lock = threading.Lock()
        self._fail_next = 0
        self._fail_status = 503
        self._retry_after: str | None = None
        self.batch_prefixes: list[str] = []
        self.paging_fails = False
        self.delay_s = 0.0
        self.hostile_prefixes: list[str] = []
        self.hostility = Hostility()
        self.requests_seen: list[str] = []
        self._listen(self._handler())
        self.base = f"{self.origin}/fhir"

    def fail_next(self, n: int, status: int = 503, retry_after: str | None = None) -> None:
        with self._lock:
            self._fail_next, self._fail_status, self._retry_after = n, status, retry_after

    def fail_batch_entries(self, prefix: str) -> None:
        self.batch_prefixes.append(prefix)

    def fail_paging(self) -> None:
        self.paging_fails = True

    def hostile_pages(self, prefix: str, how: Hostility) -> None:
        self.hostile_prefixes.append(prefix)
        self.hostility = how

    def hostile_page_requests(self) -> int:
        return sum(f"_getpages={HOSTILE_PAGE}" in seen for seen in self.requests_seen)

    def _take_failure(self) -> tuple[int, str | None] | None:
        with self._lock:
            if self._fail_next > 0:
                self._fail_next -= 1
                return self._fail_status, self._retry_after
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(QuietHandler):
            def _outcome(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
                body = json.dumps(
                    {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "exception", "diagnostics": text}],
                    }
                ).encode()
                self._send(status, body, {"Content-Type": "application/fhir+json", **(extra or {})})

            def _forward(self, method: str) -> None:
                proxy.requests_seen.append(f"{method} {self.path}")
                if proxy.delay_s:
                    time.sleep(proxy.delay_s)
                failure = proxy._take_failure()
                if failure:
                    status, retry_after = failure
                    self._outcome(
                        status,
                        "injected fault",
                        {"Retry-After": retry_after} if retry_after else None,
                    )
                    return
                if f"_getpages={HOSTILE_PAGE}" in self.path:
                    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
                    send_hostile(self, proxy.hostility, json.dumps(empty).encode())
                    return
                if proxy.paging_fails and "_getpages" in self.path:
                    self._outcome(500, "injected fault: server stopped mid-read")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = self.path[len("/fhir") :] if self.path.startswith("/fhir") else self.path
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower()
                    in (
                        "accept",
                        "content-type",
                        "prefer",
                        "if-none-exist",
                        "if-match",
                        "cache-control",
                        "authorization",
                    )
                }
                reply = requests.request(
                    method, proxy.upstream + path, data=body, headers=headers, timeout=60
                )
                content = reply.content
                if method == "POST" and (proxy.batch_prefixes or proxy.hostile_prefixes) and body:
                    content = proxy._rewrite_batch(body, content)
                # Keep paging on the proxy: rewrite upstream absolute URLs.
                content = content.replace(proxy.upstream.encode(), proxy.base.encode())
                out = {"Content-Type": reply.headers.get("Content-Type", "application/fhir+json")}
                self._send(reply.status_code, content, out)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

            def do_PUT(self) -> None:
                self._forward("PUT")

        return Handler

    def _rewrite_batch(self, request_body: bytes, content: bytes) -> bytes:
        try:
            sent = json.loads(request_body)
            got = json.loads(content)
        except ValueError:
            return content
        if sent.get("type") != "batch":
            return content
        for sent_entry, got_entry in zip(sent.get("entry", []), got.get("entry", []), strict=False):
            url = sent_entry.get("request", {}).get("url", "")
            found = got_entry.get("resource")
            if any(url.startswith(prefix) for prefix in self.hostile_prefixes) and found:
                link = f"{self.upstream}?_getpages={HOSTILE_PAGE}&_getpagesoffset=1"
                links = [item for item in found.get("link", []) if item.get("relation") != "next"]
                found["link"] = [*links, {"relation": "next", "url": link}]
            if any(url.startswith(prefix) for prefix in self.batch_prefixes):
                got_entry.clear()
                got_entry["response"] = {
                    "status": "500 Internal Server Error",
                    "outcome": {
                        "resourceType": "OperationOutcome",
                        "issue": [
                            {"severity": "error", "code": "exception", "diagnostics": "injected"}
                        ],
                    },
                }
        return json.dumps(got).encode()
