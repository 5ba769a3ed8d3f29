"""Finding, checking and normalising a searchset's `next` link.

HAPI's next links point at the server base (`{base}?_getpages=…&_getpagesoffset=…`),
may come back as `http://` behind a TLS proxy, and may name a host the app never asked
for (a misconfigured server address). A link is followed only when it is on the same
server as the base; then its scheme is rewritten to the base's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from smartapp.fhir.urls import ServerBase


def next_link(bundle: Mapping[str, Any]) -> str | None:
    """The bundle's `link` with relation `next`, or None."""
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, Mapping) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url.strip():
                return url.strip()
    return None


def check_next_link(link: str, base: ServerBase) -> tuple[str | None, str | None]:
    """(URL to follow, None) for a safe link, else (None, why it was refused).

    The reason names the foreign host (not PHI) but never the full link, which can carry
    search parameters such as the patient id.
    """
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None, "the next-page link is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return None, "the next-page link is not an absolute http(s) URL"
    if not parts.hostname:
        return None, "the next-page link has no host"
    url = base.normalise(link)
    if url is None:
        if parts.hostname.lower() != base.host:
            where = f"another server ({parts.hostname})"
        else:
            where = "a different port or path on the server"
        return None, f"the next-page link points to {where}; it was not followed"
    return url, None
