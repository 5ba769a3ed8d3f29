"""Both ends of HTTP on 127.0.0.1 in tests.

- `LoopbackServer`: a server of a test's own on a free port, served from a daemon thread
  while it is used as a context manager (the base of the fake and hostile servers here);
  `QuietHandler`: the base of their request handlers.
- `LoopbackSession`: a requests.Session that sends the app's `Secure` cookie back over
  plain http to 127.0.0.1, as browsers do for loopback ("potentially trustworthy");
  requests itself never sends Secure cookies over http.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import requests

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "localhost.local"})


class LoopbackServer:
    def _listen(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing (quiet test output) and sends whole bodies."""

    def log_message(self, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LoopbackCookieJar(requests.cookies.RequestsCookieJar):
    """Keeps the app's `Secure` cookies usable over plain http on loopback hosts."""

    def set_cookie(self, cookie: Any, *args: Any, **kwargs: Any) -> None:
        if cookie.domain in LOOPBACK_HOSTS:
            cookie.secure = False
        super().set_cookie(cookie, *args, **kwargs)


class LoopbackSession(requests.Session):
    """Sends `Secure` cookies over http to loopback hosts only, like Chromium does
    (requests itself never sends a Secure cookie over http)."""

    def __init__(self) -> None:
        super().__init__()
        self.cookies = LoopbackCookieJar()
