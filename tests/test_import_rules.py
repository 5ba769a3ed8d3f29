"""The import rules of docs/architecture.md, checked on the source (no code is run).

Every `import` and `from … import` in the product packages counts, including imports inside
functions and under `TYPE_CHECKING`: a rule about who may know whom holds for all of them.
A rule that does not hold yet lists its known exceptions; the test fails when a new one
appears and also when a listed one has gone, so the lists only ever shrink.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "smartapp", "fhir_mappings", "sandbox_ehr")

Graph = dict[str, set[str]]

#: (module, imported module) pairs that break a rule today; tightened as they are fixed.
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _sources() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
    }


def _imported_names(module: str, path: Path) -> Iterable[str]:
    """Every absolute module name the file imports (relative imports resolved); for
    `from package import name` the submodule when `name` is one, else the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                yield f"{source}.{alias.name}"


@cache
def _imports() -> dict[str, set[str]]:
    """module -> every name it imports (project modules resolved to the module itself,
    other names kept as written, e.g. `requests.exceptions.Timeout`)."""
    sources = _sources()
    found: dict[str, set[str]] = {}
    for module, path in sources.items():
        names = set()
        for name in _imported_names(module, path):
            target = name
            while target and target not in sources:
                target = target.rpartition(".")[0]
            names.add(target or name)
        names.discard(module)
        found[module] = names
    return found


def _graph() -> Graph:
    """Imports between the project's own modules."""
    sources = _sources()
    return {module: {n for n in names if n in sources} for module, names in _imports().items()}


def _under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violations(importers: Iterable[str], forbidden: Iterable[str]) -> set[tuple[str, str]]:
    importers, forbidden = tuple(importers), tuple(forbidden)
    return {
        (module, name)
        for module, names in _imports().items()
        if _under(module, importers)
        for name in names
        if _under(name, forbidden)
    }


#: The web app's features: each a package of routes and page models (docs/architecture.md).
WEB_FEATURES = ("dashboard", "writeback", "worklist")
#: The web app's shared modules, below every feature.
WEB_SHARED = (
    "smartapp.web.access",
    "smartapp.web.capacity",
    "smartapp.web.database",
    "smartapp.web.errors",
    "smartapp.web.fhir_access",
    "smartapp.web.health",
    "smartapp.web.look",
    "smartapp.web.security",
)

#: The three sides of the FHIR boundary; the rest of `fhir_mappings` is shared by them.
FHIR_SIDES = ("fhir_mappings.read", "fhir_mappings.write", "fhir_mappings.search")


def _fhir_shared() -> tuple[str, ...]:
    """The modules of `fhir_mappings` outside read/, write/ and search/ (fhirjson, site…)."""
    return tuple(
        module
        for module in _sources()
        if module.startswith("fhir_mappings.") and not _under(module, FHIR_SIDES)
    )


#: (who, may never import, why) — the one-way flow of docs/architecture.md.
RULES: list[tuple[tuple[str, ...], tuple[str, ...], str]] = [
    (
        ("domain",),
        ("smartapp", "fhir_mappings", "sandbox_ehr"),
        "the domain depends on nothing of the project",
    ),
    (("domain",), ("flask", "requests", "sqlalchemy", "fhir"), "the domain is plain data"),
    (("fhir_mappings",), ("smartapp",), "the FHIR boundary knows nothing of the app"),
    (("sandbox_ehr",), ("smartapp",), "the sandbox EHR stands for an outside system"),
    (
        ("fhir_mappings.read",),
        ("fhir_mappings.write", "fhir_mappings.search"),
        "reading FHIR JSON knows neither how it was searched for nor what is written back",
    ),
    (("fhir_mappings.search",), ("fhir_mappings.write",), "the searches only read"),
    (_fhir_shared(), FHIR_SIDES, "the shared FHIR helpers are below read, write and search"),
    (
        ("domain", "smartapp", "fhir_mappings"),
        ("sandbox_ehr",),
        "the product never needs the sandbox",
    ),
    (PACKAGES, ("tests", "benchmarks"), "no test code"),
    (
        ("smartapp.rules",),
        (
            "smartapp.cds",
            "smartapp.cli",
            "smartapp.config",
            "smartapp.demo",
            "smartapp.fhir",
            "smartapp.launch",
            "smartapp.store",
            "smartapp.web",
            "smartapp.worklist",
            "smartapp.writeback",
            "fhir_mappings.read.record",
            "fhir_mappings.write",
            "fhir_mappings.search",
            "flask",
            "requests",
            "sqlalchemy",
        ),
        "the rules are pure functions of records: no I/O, no FHIR reading or writing",
    ),
    (
        ("fhir_mappings",),
        ("flask", "requests", "sqlalchemy", "authlib"),
        "mapping FHIR JSON does no I/O",
    ),
    (
        ("smartapp.fhir",),
        (
            "smartapp.cds",
            "smartapp.cli",
            "smartapp.demo",
            "smartapp.launch",
            "smartapp.rules",
            "smartapp.store",
            "smartapp.web",
            "smartapp.worklist",
            "smartapp.writeback",
            "flask",
        ),
        "the FHIR client is below everything that uses it",
    ),
    (
        ("smartapp",),
        ("requests",),
        "HTTP goes through smartapp.fhir (FHIR) or smartapp.launch (OAuth) only",
    ),
    *(
        (
            (f"smartapp.web.{feature}",),
            tuple(f"smartapp.web.{other}.routes" for other in WEB_FEATURES if other != feature),
            f"the web feature {feature} never imports another feature's routes",
        )
        for feature in WEB_FEATURES
    ),
    (
        WEB_SHARED,
        tuple(f"smartapp.web.{feature}" for feature in WEB_FEATURES),
        "the web app's shared modules know no feature",
    ),
]

_HTTP_OWNERS = ("smartapp.fhir", "smartapp.launch")


def _rule_violations() -> dict[str, set[tuple[str, str]]]:
    found = {}
    for importers, forbidden, why in RULES:
        broken = _violations(importers, forbidden)
        if forbidden == ("requests",):
            broken = {(m, n) for m, n in broken if not _under(m, _HTTP_OWNERS)}
        found[why] = broken
    return found


def test_the_scan_sees_the_packages() -> None:
    imports = _imports()
    assert {
        "smartapp.rules.summary",
        "fhir_mappings.read.record",
        "sandbox_ehr.app",
    } <= imports.keys()
    assert "domain.records" in imports["smartapp.rules.summary"]
    assert {"fhir_mappings.fhirjson", "fhir_mappings.site"} <= set(_fhir_shared())
    assert "requests" in {n.split(".")[0] for n in imports["smartapp.fhir.transport"]}


@pytest.mark.parametrize("why", [why for _, _, why in RULES])
def test_import_rule(why: str) -> None:
    broken = _rule_violations()[why] - KNOWN_EXCEPTIONS
    assert not broken, f"{why}: " + ", ".join(f"{m} imports {n}" for m, n in sorted(broken))


def test_known_exceptions_still_exist() -> None:
    """A fixed exception comes off the list (so the rule is enforced from then on)."""
    every = set().union(*_rule_violations().values())
    assert not KNOWN_EXCEPTIONS - every, sorted(KNOWN_EXCEPTIONS - every)


def _cycles(graph: Graph) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, [sorted(c) for c in cycles]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset({"a", "b", "c"})}
    assert _cycles({"a": {"b"}, "b": set()}) == set()
