"""What a hospital's server needs that the standards do not promise: per-tenant quirks.

Set in the tenants file (`SMARTAPP_TENANTS`), under a tenant's `"quirks"` object. Each one
answers a behaviour seen in the wild; docs/connecting.md names the public source that
motivated it and which servers need it.

- `observation_categories`: Observation searches are sent once per category (for
  example `["laboratory", "social-history"]`), because some servers refuse an
  Observation search without `category` (US Core's required search combination is
  patient + category). A search is split, not OR-ed, so it works whether or not the
  server accepts several values; the splits travel in the same batch, so a patient view
  is still one round trip.
- `assume_pkce`: a SMART configuration that omits `code_challenge_methods_supported` is
  taken to support S256 (PKCE is still sent). One that lists methods without S256 is
  still refused.
- `scope_version`: `"v1"` or `"v2"` forces the scope syntax the registration uses; the
  default `"auto"` follows discovery (v1 only when the server advertises v1 and not v2).
  A v2 registration may have v1 scopes silently dropped, and the reverse.
- `refresh_scope`: which refresh scope to ask for: `"online_access"`, `"offline_access"`,
  or `"none"`; the default keeps what the configured scopes say. A server may drop it
  (an "online" registration); the app then works until the token expires and asks for
  a relaunch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from smartapp.fhir.dialect import SearchDialect

SCOPE_VERSIONS = ("auto", "v1", "v2")
REFRESH_SCOPES = ("online_access", "offline_access", "none")
#: The quirks a tenant may set (docs/connecting.md describes each).
QUIRK_KEYS = frozenset({"observation_categories", "assume_pkce", "scope_version", "refresh_scope"})


class QuirksError(ValueError):
    """A quirk setting is malformed; the message names it."""


@dataclass(frozen=True)
class TenantQuirks:
    observation_categories: tuple[str, ...] = ()
    assume_pkce: bool = False
    scope_version: str = "auto"
    #: None: keep the refresh scope the configured scopes name.
    refresh_scope: str | None = None

    @classmethod
    def parse(cls, raw: object) -> TenantQuirks:
        """From the tenants file's `"quirks"` object (None or missing: no quirks)."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise QuirksError("'quirks' must be an object")
        unknown = set(raw) - QUIRK_KEYS
        if unknown:
            raise QuirksError(f"unknown quirk(s) {sorted(unknown)}")
        categories = raw.get("observation_categories") or []
        if not isinstance(categories, list) or not all(
            isinstance(c, str) and c.strip() and "," not in c for c in categories
        ):
            raise QuirksError("'observation_categories' must be a list of category codes")
        assume_pkce = raw.get("assume_pkce", False)
        if not isinstance(assume_pkce, bool):
            raise QuirksError("'assume_pkce' must be true or false")
        version = raw.get("scope_version", "auto")
        if version not in SCOPE_VERSIONS:
            raise QuirksError(f"'scope_version' must be one of {', '.join(SCOPE_VERSIONS)}")
        refresh = raw.get("refresh_scope")
        if refresh is not None and refresh not in REFRESH_SCOPES:
            raise QuirksError(f"'refresh_scope' must be one of {', '.join(REFRESH_SCOPES)}")
        return cls(
            observation_categories=tuple(dict.fromkeys(c.strip() for c in categories)),
            assume_pkce=assume_pkce,
            scope_version=str(version),
            refresh_scope=refresh,
        )

    def dialect(self) -> SearchDialect:
        """The searches' dialect for `smartapp.fhir.FhirClient` (module doc)."""
        if not self.observation_categories:
            return SearchDialect()
        return SearchDialect({"Observation": ("category", self.observation_categories)})

    def describe(self) -> list[str]:
        """One line per quirk in force (for logs and the health page)."""
        lines: list[str] = []
        if self.observation_categories:
            categories = ", ".join(self.observation_categories)
            lines.append(f"Observation searches by category: {categories}")
        if self.assume_pkce:
            lines.append("PKCE assumed when discovery does not list it")
        if self.scope_version != "auto":
            lines.append(f"SMART {self.scope_version} scopes")
        if self.refresh_scope is not None:
            lines.append(f"refresh scope: {self.refresh_scope}")
        return lines
