"""SMART scopes: what to request (v2, or v1 for old servers) and what was granted.

v2 resource scopes: `(patient|user|system)/(Type|*).[c][r][u][d][s][?param=value…]`, the
letters in that order. v1: `.read`, `.write`, `.*`. The token response's `scope` may differ
from the request (fewer, broader, split, or empty), so features are switched on from the
*granted* set only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RESOURCE_SCOPE = re.compile(
    r"^(?P<level>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]*)\.(?P<perms>[^?]+)(?:\?(?P<query>.*))?$"
)
_V2_PERMS = re.compile(r"^c?r?u?d?s?$")
_V1_PERMS = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True)
class ResourceScope:
    level: str
    resource_type: str
    #: v2 letters granted, e.g. "rs" (v1 `.read` is stored as "rs", `.write` as "cud").
    perms: str
    #: Granular restriction (`?category=…`); None when the scope covers the whole type.
    query: str | None = None

    def covers(self, resource_type: str) -> bool:
        return self.resource_type in ("*", resource_type)


def parse_resource_scope(token: str) -> ResourceScope | None:
    """A resource scope, or None for context/identity scopes and malformed ones."""
    match = _RESOURCE_SCOPE.match(token)
    if not match:
        return None
    perms = match["perms"]
    if perms in _V1_PERMS:
        letters = _V1_PERMS[perms]
    elif perms and _V2_PERMS.match(perms):
        letters = perms
    else:
        return None
    return ResourceScope(match["level"], match["type"], letters, match["query"] or None)


@dataclass(frozen=True)
class GrantedScopes:
    """The scopes in a token response, with questions the UI asks of them."""

    raw: str
    resources: tuple[ResourceScope, ...]
    other: frozenset[str]

    @classmethod
    def parse(cls, scope: str | None) -> GrantedScopes:
        tokens = (scope or "").split()
        resources: list[ResourceScope] = []
        other: set[str] = set()
        for token in tokens:
            parsed = parse_resource_scope(token)
            if parsed is not None:
                resources.append(parsed)
            elif "/" not in token or token.startswith("launch/"):
                other.add(token)
        return cls(" ".join(tokens), tuple(resources), frozenset(other))

    def has(
        self,
        resource_type: str,
        letter: str,
        *,
        level: str | None = None,
        whole_type: bool = False,
    ) -> bool:
        """Whether a granted scope gives `letter` on the type (`whole_type`: a scope with no
        granular `?param=` filter, i.e. on every resource of the type)."""
        return any(
            scope.covers(resource_type)
            and letter in scope.perms
            and (level is None or scope.level == level)
            and not (whole_type and scope.query)
            for scope in self.resources
        )

    def can_read(self, resource_type: str) -> bool:
        """Read or search granted (possibly restricted to a granular subset)."""
        return self.has(resource_type, "r") or self.has(resource_type, "s")

    def reads_only_part(self, resource_type: str) -> bool:
        """Reading the type is granted only through filtered scopes (`?category=…`): a
        search returns a subset, so what it does not return is unknown, not absent."""
        return self.can_read(resource_type) and not (
            self.has(resource_type, "r", whole_type=True)
            or self.has(resource_type, "s", whole_type=True)
        )

    def can_write(self, resource_type: str) -> bool:
        """Create or update granted on every resource of the type: v2 `c`/`u`, v1
        `.write`/`.*`. A filtered grant (`patient/Task.cu?code=…`) does not count: the app
        cannot tell which of its writes the filter allows, so it writes nothing then."""
        return self.has(resource_type, "c", whole_type=True) or self.has(
            resource_type, "u", whole_type=True
        )

    def filtered_writes(self, resource_type: str) -> list[str]:
        """The granted write scopes on the type that carry a filter (for messages)."""
        return [
            f"{scope.level}/{scope.resource_type}.{scope.perms}?{scope.query}"
            for scope in self.resources
            if scope.covers(resource_type) and scope.query and set(scope.perms) & set("cud")
        ]

    @property
    def levels(self) -> frozenset[str]:
        return frozenset(scope.level for scope in self.resources)

    @property
    def has_patient_scopes(self) -> bool:
        return "patient" in self.levels

    def __contains__(self, token: object) -> bool:
        return token in self.other or token in self.raw.split()

    def __len__(self) -> int:
        return len(self.raw.split())


def _to_v1(scope: ResourceScope) -> list[str]:
    base = f"{scope.level}/{scope.resource_type}"
    letters = set(scope.perms)
    if letters == set("cruds"):
        return [f"{base}.*"]
    found: list[str] = []
    if letters & set("rs"):
        found.append(f"{base}.read")
    if letters & set("cud"):
        found.append(f"{base}.write")
    return found


def to_v1(scopes: str) -> str:
    """Map v2 resource scopes to v1 (`.rs`→`.read`, `.c`/`.u`/`.cu`→`.write`).

    Granular `?param=` restrictions do not exist in v1; the unrestricted v1 scope is
    requested and the server decides what to grant.
    """
    out: list[str] = []
    for token in scopes.split():
        parsed = parse_resource_scope(token)
        mapped = _to_v1(parsed) if parsed is not None else [token]
        out.extend(item for item in mapped if item not in out)
    return " ".join(out)


def requested_scopes(base: str, *, ehr_launch: bool, v1: bool = False) -> str:
    """The scope parameter for an authorize request.

    EHR launch: `launch` is added and `launch/patient` dropped (the EHR supplies the
    context). Standalone: `launch` is dropped and `launch/patient` added when patient-level
    scopes are asked for; a user-level scope set (coordinator) asks for no patient.
    """
    tokens = [token for token in base.split() if token not in ("launch", "launch/patient")]
    if ehr_launch:
        tokens.insert(0, "launch")
    elif any(
        (parsed := parse_resource_scope(token)) is not None and parsed.level == "patient"
        for token in tokens
    ):
        tokens.insert(0, "launch/patient")
    text = " ".join(dict.fromkeys(tokens))
    return to_v1(text) if v1 else text


#: Scopes that ask for a refresh token.
REFRESH_SCOPES = frozenset({"online_access", "offline_access"})


def read_only(scopes: str) -> str:
    """The read part of a scope string: resource scopes without create/update/delete (a
    scope left with nothing to read is dropped), no refresh scopes, context and identity
    scopes kept. What the app asks for again when the EHR refuses its first request
    (`invalid_scope`): a read-only registration can still launch."""
    out: list[str] = []
    for token in scopes.split():
        if token in REFRESH_SCOPES:
            continue
        parsed = parse_resource_scope(token)
        if parsed is None:
            out.append(token)
            continue
        v1 = token.partition("?")[0].rsplit(".", 1)[1]
        if v1 in _V1_PERMS:  # keep the syntax the server was asked in
            if v1 != "write":
                out.append(f"{parsed.level}/{parsed.resource_type}.read")
            continue
        letters = "".join(letter for letter in "rs" if letter in parsed.perms)
        if not letters:
            continue
        query = f"?{parsed.query}" if parsed.query else ""
        out.append(f"{parsed.level}/{parsed.resource_type}.{letters}{query}")
    return " ".join(dict.fromkeys(out))


def with_refresh_scope(scopes: str, refresh: str | None) -> str:
    """`scopes` asking for `refresh` (`online_access`, `offline_access`) instead of
    whichever refresh scope they named; `none` asks for none; None leaves them as they are."""
    if refresh is None:
        return scopes
    kept = [token for token in scopes.split() if token not in REFRESH_SCOPES]
    if refresh != "none":
        kept.append(refresh)
    return " ".join(kept)
