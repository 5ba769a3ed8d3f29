"""A hostile "FHIR server" on 127.0.0.1 for tests of the app's bounded reads.

    with HostileFhir() as server:
        server.mode = "drip"         # what every request gets from now on
        base = server.base           # http://127.0.0.1:<port>/fhir

Modes (each answer is a real HTTP response over a real socket):
- `ok`: a small valid searchset Bundle (or batch-response Bundle for a POST);
- `drip`: headers at once, then the body one byte every `drip_interval_s` seconds (a
  per-read socket timeout never fires for it), for at most `drip_limit_s` seconds;
- `huge`: a valid-looking Bundle of `huge_bytes` bytes, without Content-Length (it ends
  when the connection closes);
- `huge_declared`: a `Content-Length` of `huge_bytes` (the body is never sent in full);
- `gzip_bomb`: a small gzip body that inflates to `huge_bytes` bytes;
- `deep`: a Bundle nested `depth` levels deep.
Every mode is bounded in time and size: the server never runs away from a test.
`send_hostile` answers one request so; `FaultProxy.hostile_pages` uses it for the next
pages of chosen searches in front of the real HAPI server.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackServer, QuietHandler


def _bundle(kind: str = "searchset") -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": kind, "entry": []}).encode()


#: Every way `send_hostile` can answer (see the module doc).
MODES = ("ok", "drip", "huge", "huge_declared", "gzip_bomb", "deep")


@dataclass
class Hostility:
    """How a hostile answer misbehaves, and how far (every mode is bounded)."""

    mode: str = "ok"
    drip_interval_s: float = 0.5
    drip_limit_s: float = 60.0
    huge_bytes: int = 300 * 1024 * 1024
    depth: int = 100_000


def send_hostile(handler: BaseHTTPRequestHandler, how: Hostility, ok_body: bytes) -> None:
    """Answer `handler`'s request as `how.mode` says; `ok_body` is the well-behaved answer
    (also what a dripping server sends, one byte at a time)."""

    def head(headers: dict[str, str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()

    out = handler.wfile
    try:
        if how.mode == "drip":
            padded = ok_body + b" " * 10_000
            head({"Content-Length": str(len(padded))})
            stop = time.monotonic() + how.drip_limit_s
            for byte in padded:
                if time.monotonic() > stop:
                    break
                out.write(bytes([byte]))
                out.flush()
                time.sleep(how.drip_interval_s)
            handler.close_connection = True
        elif how.mode == "huge":
            # No Content-Length: the body ends when the connection closes.
            head({"Connection": "close"})
            handler.close_connection = True
            piece = b'{"resourceType": "Observation", "id": "x", "status": "final"},' * 1000
            out.write(b'{"resourceType": "Bundle", "type": "searchset", "entry": [')
            sent = 0
            while sent < how.huge_bytes:
                out.write(piece)
                sent += len(piece)
            out.write(b"{}]}")
        elif how.mode == "huge_declared":
            head({"Content-Length": str(how.huge_bytes)})
            handler.close_connection = True
            out.write(b'{"resourceType": "Bundle", "entry": [')
        elif how.mode == "gzip_bomb":
            body = gzip.compress(b" " * how.huge_bytes, compresslevel=9)
            head({"Content-Encoding": "gzip", "Content-Length": str(len(body))})
            out.write(body)
        elif how.mode == "deep":
            body = b'{"resourceType": "Bundle", "entry": ' + b"[" * how.depth
            body += b"]" * how.depth + b"}"
            head({"Content-Length": str(len(body))})
            out.write(body)
        else:
            head({"Content-Length": str(len(ok_body))})
            out.write(ok_body)
    except OSError:
        pass  # the app hung up: what a bounded client does


class HostileFhir(Hostility, LoopbackServer):
    """A whole server that answers every request as `mode` says."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[str] = []
        self._listen(self._handler())
        self.base = f"{self.origin}/fhir"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                server.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                kind = "batch-response" if self.command == "POST" else "searchset"
                send_hostile(self, server, _bundle(kind))

            do_GET = _answer
            do_POST = _answer

        return Handler
