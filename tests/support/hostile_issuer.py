"""A hostile SMART issuer on 127.0.0.1 for the OAuth mix-up attack (RFC 9700 §4.4).

The app allowlists it, as a site might allowlist a compromised or malicious EHR. Its
discovery document is the honest EHR's with its own authorize and token endpoints. Its
authorize endpoint relays the app's request to the honest EHR, rewritten to the honest
EHR's audience and redirect URI, so the honest EHR's code comes back to the app carrying
the state of the launch that began at this issuer. If the app then redeemed that code at
this issuer's token endpoint, the attacker would hold the code and the PKCE verifier:
`token_requests` counts that.

    with HostileIssuer(honest_fhir, honest_redirect_uri) as issuer:
        issuer.fhir_base  # http://127.0.0.1:<port>/fhir, to put on SMARTAPP_ISSUERS
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from tests.support.loopback import LoopbackServer, QuietHandler


class HostileIssuer(LoopbackServer):
    def __init__(self, honest_fhir: str, honest_redirect_uri: str) -> None:
        self.honest_fhir = honest_fhir.rstrip("/")
        self.honest_redirect_uri = honest_redirect_uri
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[bytes] = []
        self._listen(self._handler())
        self.fhir_base = f"{self.origin}/fhir"

    def _discovery(self) -> dict[str, Any]:
        url = f"{self.honest_fhir}/.well-known/smart-configuration"
        honest: dict[str, Any] = requests.get(url, timeout=10).json()
        honest.pop("issuer", None)
        return {
            **honest,
            "authorization_endpoint": f"{self.origin}/authorize",
            "token_endpoint": f"{self.origin}/token",
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/fhir/.well-known/smart-configuration":
                    body = json.dumps(issuer._discovery()).encode()
                    self._send(200, body, {"Content-Type": "application/json"})
                elif path == "/authorize":
                    asked = dict(parse_qsl(urlsplit(self.path).query))
                    issuer.authorize_requests.append(asked)
                    relayed = {
                        **asked,
                        "aud": issuer.honest_fhir,
                        "redirect_uri": issuer.honest_redirect_uri,
                    }
                    honest = issuer.honest_fhir.rsplit("/fhir", 1)[0]
                    location = f"{honest}/auth/authorize?{urlencode(relayed)}"
                    self._send(302, b"", {"Location": location})
                else:
                    self._send(404, b"{}", {"Content-Type": "application/json"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                issuer.token_requests.append(self.rfile.read(length) if length else b"")
                body = json.dumps({"error": "invalid_grant"}).encode()
                self._send(400, body, {"Content-Type": "application/json"})

        return Handler
