"""The FHIR base a client is bound to, and which URLs count as "on that server".

The bearer token must only travel to the tenant's own base (SMART App Launch:
"don't follow references to other servers while sending the token"), so every URL the
client requests goes through `ServerBase.resolve` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from smartapp.fhir.errors import OffServerError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$|\?)")


def _explicit_port(scheme: str, port: int | None) -> int | None:
    """The port when it is not the scheme's default, else None."""
    return None if port is None or port == _DEFAULT_PORTS.get(scheme) else port


@dataclass(frozen=True)
class ServerBase:
    """A normalised FHIR base: `https://host[:port]/path` with no trailing slash."""

    scheme: str
    host: str
    port: int | None  # None when it is the scheme's default
    path: str  # "" or "/fhir", never ending in "/"

    @classmethod
    def parse(cls, base: str) -> ServerBase:
        parts = urlsplit(base.strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"FHIR base must be an http(s) URL with a host, got {base!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("FHIR base must not carry a query, fragment or credentials")
        try:
            port = parts.port
        except ValueError as err:
            raise ValueError(f"FHIR base has an invalid port: {base!r}") from err
        return cls(
            scheme, parts.hostname.lower(), _explicit_port(scheme, port), parts.path.rstrip("/")
        )

    @property
    def url(self) -> str:
        netloc = self.host if self.port is None else f"{self.host}:{self.port}"
        if ":" in self.host:  # IPv6 literal
            netloc = f"[{self.host}]" if self.port is None else f"[{self.host}]:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}"

    def __str__(self) -> str:
        return self.url

    def normalise(self, url: str) -> str | None:
        """`url` rewritten onto this base when it is on this server, else None.

        Same host, same port and a path under the base path are required. A different
        scheme with otherwise matching host/port/path is rewritten to the base's scheme:
        HAPI behind a TLS proxy hands out `http://` links for an `https://` base.
        """
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        if parts.username or parts.password or parts.hostname.lower() != self.host:
            return None
        if _explicit_port(scheme, port) != self.port:
            return None
        path = parts.path
        if path.rstrip("/") != self.path and not path.startswith(self.path + "/"):
            return None
        if _DOT_SEGMENT.search(unquote(path)):
            return None
        rest = path[len(self.path) :]
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.url}{rest}{query}"

    def resolve(self, ref: str) -> str:
        """The absolute URL for a base-relative path (`Patient/1`) or an on-server URL.

        Raises OffServerError for anything else; such a URL is never requested.
        """
        ref = ref.strip()
        if "://" in ref.split("?", 1)[0] or ref.startswith("//"):
            candidate = ref
        else:
            relative = ref.lstrip("/")
            if relative and not relative.startswith("?"):
                relative = "/" + relative
            candidate = f"{self.url}{relative}"
        absolute = self.normalise(candidate)
        if absolute is None:
            host = urlsplit(candidate).hostname or "?"
            if host == self.host:
                raise OffServerError(f"refused a URL outside the FHIR base {self.url}")
            raise OffServerError(
                f"refused to request a URL on another server ({host}); "
                f"only {self.url} is used and no token was sent"
            )
        return absolute

    def relative(self, url: str) -> str:
        """`url` relative to this base (for logs and the data panel); unchanged if off-base."""
        if url.startswith(self.url):
            return url[len(self.url) :].lstrip("/")
        return url
