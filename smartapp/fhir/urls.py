"""The FHIR base a client is bound to, and which URLs count as "on that server".

The bearer token must only travel to the tenant's own base (SMART App Launch:
"don't follow references to other servers while sending the token"), so every URL the
client requests goes through `ServerBase.resolve` first. The one exception is Bulk Data
output files (`FileAccess`): servers put them outside the FHIR base path (the SMART
reference server), on their own origin, or on a storage origin (signed URLs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit

from smartapp.fhir.errors import OffServerError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$|\?)")


def _explicit_port(scheme: str, port: int | None) -> int | None:
    """The port when it is not the scheme's default, else None."""
    return None if port is None or port == _DEFAULT_PORTS.get(scheme) else port


class _HttpUrl(NamedTuple):
    parts: SplitResult
    scheme: str  # lower case
    host: str  # lower case
    port: int | None  # None when it is the scheme's default


def _split_http(url: str) -> _HttpUrl | None:
    """An absolute http(s) URL with a host and no credentials, split; else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    return _HttpUrl(parts, scheme, parts.hostname.lower(), _explicit_port(scheme, port))


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
        split = _split_http(url)
        if split is None or split.host != self.host or split.port != self.port:
            return None
        parts = split.parts
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
        """`url` relative to this base (for logs and the data panel). Off the base, the
        query is dropped: a signed file URL carries its credential there."""
        if url.startswith(self.url):
            return url[len(self.url) :].lstrip("/")
        return url.split("?", 1)[0]

    @property
    def origin(self) -> str:
        """`scheme://host[:port]` of the base."""
        return self.url[: len(self.url) - len(self.path)] if self.path else self.url


def origin_of(url: str) -> str | None:
    """The normalised origin of an absolute http(s) URL (default port left out), or None."""
    split = _split_http(url)
    if split is None:
        return None
    netloc = f"[{split.host}]" if ":" in split.host else split.host
    return f"{split.scheme}://{netloc}" + (f":{split.port}" if split.port is not None else "")


@dataclass(frozen=True)
class FileAccess:
    """Where Bulk Data output files may be read from, and where the token may go with them.

    A file URL is accepted on the FHIR server's own origin (any path: the SMART reference
    server serves files beside its base) or on an origin the tenant allowlists. The token
    goes only to the server's origin and to allowlisted origins the tenant trusts with it
    (`token_origins`); the export manifest's `requiresAccessToken` decides whether it is
    sent at all (`smartapp.fhir.bulk`).
    """

    server: ServerBase
    origins: frozenset[str] = frozenset()
    token_origins: frozenset[str] = frozenset()

    def normalise(self, url: str) -> str | None:
        """`url` when a file may be read from it (scheme rewritten to the base's on the
        server's own host, as for next links), else None."""
        origin = origin_of(url)
        if origin is None or _DOT_SEGMENT.search(unquote(urlsplit(url.strip()).path)):
            return None
        on_base = self.server.normalise(url)
        if on_base is not None:
            return on_base
        same_host = ServerBase.parse(origin).host == self.server.host
        if same_host and _explicit_port(*_scheme_port(url)) == self.server.port:
            parts = urlsplit(url.strip())
            query = f"?{parts.query}" if parts.query else ""
            return f"{self.server.origin}{parts.path}{query}"
        if origin in self.origins or origin in self.token_origins:
            return url.strip().split("#", 1)[0]
        return None

    def may_send_token(self, url: str) -> bool:
        """Whether the bearer token may accompany a request to `url` (already normalised)."""
        origin = origin_of(url)
        return origin is not None and (origin == self.server.origin or origin in self.token_origins)


def _scheme_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), parts.port
