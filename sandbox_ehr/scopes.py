"""SMART scopes: parsing (v2 `.cruds` and v1 `.read/.write/.*`), validation and down-grading.

Parsed scopes are what the FHIR proxy enforces; a `ScopeFilter` is how a test makes the
sandbox grant fewer scopes than the app asked for.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl

#: Scopes that are not about a resource type.
CONTEXT_SCOPES = frozenset(
    {
        "openid",
        "fhirUser",
        "profile",
        "email",
        "groups",
        "launch",
        "launch/patient",
        "launch/encounter",
        "online_access",
        "offline_access",
    }
)
REFRESH_SCOPES = frozenset({"online_access", "offline_access"})
PERMISSION_ORDER = "cruds"
#: v1 suffixes and the v2 permissions they mean (SMART 2.x "scopes for requesting FHIR resources").
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_V1_BY_PERMISSIONS = {v: k for k, v in V1_PERMISSIONS.items()}
_RESOURCE_SCOPE = re.compile(
    r"^(?P<level>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]{1,63})\.(?P<perm>[a-z*]+)"
    r"(?:\?(?P<params>.+))?$"
)


@dataclass(frozen=True)
class ResourceScope:
    level: str  # patient | user | system
    resource_type: str  # a FHIR type or "*"
    permissions: str  # a subsequence of "cruds"
    #: Granular v2 restriction, e.g. (("category", "…|laboratory"),).
    params: tuple[tuple[str, str], ...]
    v1: bool

    def covers(self, resource_type: str, letter: str) -> bool:
        return self.resource_type in ("*", resource_type) and letter in self.permissions

    def render(self) -> str:
        if self.v1:
            suffix = _V1_BY_PERMISSIONS[self.permissions]
        else:
            suffix = self.permissions
        text = f"{self.level}/{self.resource_type}.{suffix}"
        if self.params:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.params)
        return text


def parse_resource_scope(scope: str) -> ResourceScope | None:
    """The parsed scope, or None when `scope` is not a well-formed resource scope."""
    match = _RESOURCE_SCOPE.match(scope)
    if not match:
        return None
    perm = match["perm"]
    if perm in V1_PERMISSIONS:
        if match["params"]:
            return None  # granular restrictions are v2 only
        return ResourceScope(match["level"], match["type"], V1_PERMISSIONS[perm], (), True)
    # v2: non-empty, letters from c r u d s, each once, in that order (".dus" is invalid)
    ordered = "".join(ch for ch in PERMISSION_ORDER if ch in perm)
    if ordered != perm:
        return None
    params: tuple[tuple[str, str], ...] = ()
    if match["params"]:
        pairs = parse_qsl(match["params"], keep_blank_values=False, strict_parsing=False)
        if not pairs:
            return None
        params = tuple(pairs)
    return ResourceScope(match["level"], match["type"], perm, params, False)


def split_scope(scope: str | None) -> list[str]:
    """Scope string → list, order kept, duplicates dropped."""
    seen: dict[str, None] = {}
    for item in (scope or "").split():
        seen.setdefault(item, None)
    return list(seen)


def join_scope(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def invalid_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes the sandbox does not understand (malformed or unknown)."""
    return [s for s in scopes if s not in CONTEXT_SCOPES and parse_resource_scope(s) is None]


def resource_scopes(scopes: Iterable[str]) -> list[ResourceScope]:
    return [parsed for s in scopes if (parsed := parse_resource_scope(s)) is not None]


@dataclass(frozen=True)
class ScopeFilter:
    """Declarative down-grading of requested scopes.

    `strip`: permission letters removed from every resource scope ("cud" = read-only);
    a scope left with no permission is dropped. `drop`: shell-style patterns of scopes never
    granted (e.g. "offline_access", "patient/Task.*", "*/CarePlan.*"). `restrict`: (pattern,
    query) pairs; a granted v2 resource scope matching a pattern is narrowed to a granular
    one, e.g. ("patient/Observation.rs", "category=…|laboratory") grants
    "patient/Observation.rs?category=…|laboratory" (SMART v2 finer-grained scopes), which the
    FHIR proxy then enforces.
    """

    strip: str = ""
    drop: tuple[str, ...] = ()
    restrict: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if any(ch not in PERMISSION_ORDER for ch in self.strip):
            raise ValueError("strip: only the letters c r u d s are allowed")

    def __call__(self, scopes: list[str]) -> list[str]:
        out: list[str] = []
        for scope in scopes:
            if any(fnmatch.fnmatchcase(scope, pattern) for pattern in self.drop):
                continue
            parsed = parse_resource_scope(scope)
            if parsed is None:
                out.append(scope)
                continue
            kept = "".join(ch for ch in parsed.permissions if ch not in self.strip)
            if not kept:
                continue
            params = parsed.params or self._restriction(scope, parsed)
            if kept == parsed.permissions and params == parsed.params:
                out.append(scope)
                continue
            as_v1 = parsed.v1 and not params and kept in _V1_BY_PERMISSIONS
            narrowed = ResourceScope(parsed.level, parsed.resource_type, kept, params, as_v1)
            out.append(narrowed.render())
        return out

    def _restriction(self, scope: str, parsed: ResourceScope) -> tuple[tuple[str, str], ...]:
        if parsed.v1:
            return ()  # granular scopes are v2 only
        for pattern, query in self.restrict:
            if fnmatch.fnmatchcase(scope, pattern):
                return tuple(parse_qsl(query, keep_blank_values=False))
        return ()

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"strip": self.strip, "drop": list(self.drop)}
        if self.restrict:
            spec["restrict"] = dict(self.restrict)
        return spec


def downgrade(
    scopes: list[str], scope_filter: ScopeFilter | Callable[[list[str]], list[str]] | None
) -> list[str]:
    """The scopes the sandbox grants: the filter's answer, minus anything malformed it made."""
    if scope_filter is None:
        return scopes
    granted = split_scope(join_scope(scope_filter(list(scopes))))
    return [s for s in granted if not invalid_scopes([s])]


ScopeFilterLike = ScopeFilter | Callable[[list[str]], list[str]] | str | Mapping[str, Any] | None

_PRESETS = {"read-only": ScopeFilter(strip="cud"), "none": None}

_T = TypeVar("_T")


def _preset(setting: str, name: str, presets: Mapping[str, _T]) -> _T:
    if name not in presets:
        raise ValueError(f"{setting}: unknown preset {name!r}")
    return presets[name]


def _known_keys(setting: str, spec: Mapping[str, Any], keys: set[str]) -> None:
    unknown = set(spec) - keys
    if unknown:
        raise ValueError(f"{setting}: unknown keys {sorted(unknown)}")


def make_scope_filter(
    spec: ScopeFilterLike,
) -> ScopeFilter | Callable[[list[str]], list[str]] | None:
    """A filter from config/JSON: None, "read-only", {"strip": …, "drop": […], "restrict":
    {pattern: query}}, or a callable."""
    if spec is None or isinstance(spec, ScopeFilter):
        return spec
    if isinstance(spec, str):
        return _preset("grant_scopes_filter", spec, _PRESETS)
    if isinstance(spec, Mapping):
        _known_keys("grant_scopes_filter", spec, {"strip", "drop", "restrict"})
        strip = spec.get("strip", "")
        drop = spec.get("drop", [])
        restrict = spec.get("restrict", {})
        if not isinstance(strip, str) or not isinstance(drop, list):
            raise ValueError("grant_scopes_filter: strip is a string, drop a list")
        if not all(isinstance(p, str) for p in drop):
            raise ValueError("grant_scopes_filter: drop holds strings")
        if not isinstance(restrict, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in restrict.items()
        ):
            raise ValueError("grant_scopes_filter: restrict maps scope patterns to queries")
        return ScopeFilter(strip=strip, drop=tuple(drop), restrict=tuple(restrict.items()))
    if callable(spec):
        return spec
    raise ValueError("grant_scopes_filter: unsupported value")


@dataclass(frozen=True)
class ScopeRefusal:
    """Scopes the sandbox refuses outright (`invalid_scope`) instead of narrowing, as an EHR
    does when a site registered the app for less: `writes` refuses any create/update/
    delete permission (a read-only registration), `v2` any v2-syntax resource scope (a
    v1-only registration), `v1` any v1 one, `patterns` shell-style patterns."""

    writes: bool = False
    v2: bool = False
    v1: bool = False
    patterns: tuple[str, ...] = ()

    def refused(self, scopes: Iterable[str]) -> list[str]:
        """The requested scopes this registration does not allow."""
        out: list[str] = []
        for scope in scopes:
            parsed = parse_resource_scope(scope)
            if any(fnmatch.fnmatchcase(scope, pattern) for pattern in self.patterns):
                out.append(scope)
            elif parsed is None:
                continue
            elif self.writes and set(parsed.permissions) & set("cud"):
                out.append(scope)
            elif (self.v2 and not parsed.v1) or (self.v1 and parsed.v1):
                out.append(scope)
        return out

    def to_spec(self) -> dict[str, Any]:
        return {
            "writes": self.writes,
            "v2": self.v2,
            "v1": self.v1,
            "patterns": list(self.patterns),
        }


_REFUSAL_PRESETS = {
    "writes": ScopeRefusal(writes=True),
    "v2": ScopeRefusal(v2=True),
    "v1": ScopeRefusal(v1=True),
}


def make_scope_refusal(spec: ScopeRefusal | str | Mapping[str, Any] | None) -> ScopeRefusal | None:
    """From config/JSON: None, a preset ("writes", "v2", "v1"), or
    `{"writes": bool, "v2": bool, "v1": bool, "patterns": [...]}`."""
    if spec is None or isinstance(spec, ScopeRefusal):
        return spec
    if isinstance(spec, str):
        return _preset("refuse_scopes", spec, _REFUSAL_PRESETS)
    if isinstance(spec, Mapping):
        _known_keys("refuse_scopes", spec, {"writes", "v2", "v1", "patterns"})
        patterns = spec.get("patterns", [])
        writes, v2, v1 = (spec.get(k, False) for k in ("writes", "v2", "v1"))
        flags = (writes, v2, v1)
        if not all(isinstance(f, bool) for f in flags) or not isinstance(patterns, list):
            raise ValueError("refuse_scopes: writes/v2/v1 are booleans, patterns a list")
        return ScopeRefusal(
            writes=bool(writes), v2=bool(v2), v1=bool(v1), patterns=tuple(map(str, patterns))
        )
    raise ValueError("refuse_scopes: unsupported value")
