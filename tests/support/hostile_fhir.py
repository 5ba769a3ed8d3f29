"""A hostile "FHIR server" on 127.0.0.1 for tests of the app's bounded reads.

    with HostileFhir() as server:
        server.mode = "drip"         # what every request gets from now on
        base = server.base           # http://127.0.0.1:<port>/fhir

Modes (each answer is a real HTTP response over a real socket):
- `ok`: a small valid searchset Bundle (or batch-response Bundle for a POST);
- `drip`: headers at once, then the body one byte every `drip_interval_s` seconds (a
  per-read socket timeout never fires for it), for at most `drip_limit_s` seconds;
- `huge`: a valid-looking Bundle of `huge_bytes` bytes, chunked (no Content-Length);
- `huge_declared`: a `Content-Length` of `huge_bytes` (the body is never sent in full);
- `gzip_bomb`: a small gzip body that inflates to `huge_bytes` bytes;
- `deep`: a Bundle nested `depth` levels deep.
Every mode is bounded in time and size: the server never runs away from a test.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _bundle(kind: str = "searchset") -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": kind, "entry": []}).encode()


class HostileFhir:
    def __init__(self) -> None:
        self.mode = "ok"
        self.drip_interval_s = 0.5
        self.drip_limit_s = 60.0
        self.huge_bytes = 300 * 1024 * 1024
        self.depth = 100_000
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileFhir:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _head(self, headers: dict[str, str]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()

            def _answer(self) -> None:
                server.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                kind = "batch-response" if self.command == "POST" else "searchset"
                mode = server.mode
                try:
                    if mode == "drip":
                        self._drip(_bundle(kind))
                    elif mode == "huge":
                        self._huge()
                    elif mode == "huge_declared":
                        self._head({"Content-Length": str(server.huge_bytes)})
                        self.wfile.write(b'{"resourceType": "Bundle", "entry": [')
                    elif mode == "gzip_bomb":
                        body = gzip.compress(b" " * server.huge_bytes, compresslevel=9)
                        self._head({"Content-Encoding": "gzip", "Content-Length": str(len(body))})
                        self.wfile.write(body)
                    elif mode == "deep":
                        body = b'{"resourceType": "Bundle", "entry": ' + b"[" * server.depth
                        body += b"]" * server.depth + b"}"
                        self._head({"Content-Length": str(len(body))})
                        self.wfile.write(body)
                    else:
                        body = _bundle(kind)
                        self._head({"Content-Length": str(len(body))})
                        self.wfile.write(body)
                except OSError:
                    pass  # the app hung up: what a bounded client does

            def _drip(self, body: bytes) -> None:
                padded = body + b" " * 10_000
                self._head({"Content-Length": str(len(padded))})
                stop = time.monotonic() + server.drip_limit_s
                for byte in padded:
                    if time.monotonic() > stop:
                        break
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(server.drip_interval_s)
                self.close_connection = True

            def _huge(self) -> None:
                self._head({"Transfer-Encoding": "chunked"})
                piece = b'{"resourceType": "Observation", "id": "x", "status": "final"},' * 1000
                sent = 0
                self._chunk(b'{"resourceType": "Bundle", "type": "searchset", "entry": [')
                while sent < server.huge_bytes:
                    self._chunk(piece)
                    sent += len(piece)
                self._chunk(b"{}]}")
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

            do_GET = _answer
            do_POST = _answer

        return Handler
