"""Value sets and code systems loaded from the data files, and the lookup index built on them.

`valuesets/*.json` (one per concept) lists `(system, code, display, source)` with the source
of every code (docs/terminology-sources.md or the public material it was verified
against); entries under
`not_matched` are documented but never matched. ICD-10 value sets may also carry `prefixes`
(a category matches all its sub-codes) and `exclude_prefixes`.

The files are read once per process (`default_valuesets()` is cached); a `CodeIndex` turns
them into dicts keyed by (system key, normalised code) so a lookup in the hot loop is one
`system_key` call, one normalisation and one dict access.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, NamedTuple

from fhir_mappings.systems import PREFIX_SYSTEMS, code_keys, label, system_key

ORIGIN_DEFAULT = "default"
ORIGIN_SITE = "site"


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str
    source: str
    origin: str = ORIGIN_DEFAULT


@dataclass(frozen=True)
class ValueSet:
    id: str
    title: str
    description: str
    codes: tuple[Code, ...]
    prefixes: tuple[Code, ...] = ()
    exclude_prefixes: tuple[Code, ...] = ()
    not_matched: tuple[Mapping[str, str], ...] = ()

    def with_codes(self, extra: Iterable[Code]) -> ValueSet:
        return ValueSet(
            self.id,
            self.title,
            self.description,
            self.codes + tuple(extra),
            self.prefixes,
            self.exclude_prefixes,
            self.not_matched,
        )


class Hit(NamedTuple):
    """A coding found in a value set."""

    valueset: str
    system_label: str
    display: str
    origin: str


_CACHE_MAX = 65536


class TerminologyError(ValueError):
    """A data file is malformed (a packaging bug, caught by the tests)."""


def _code(entry: Any, where: str, code_field: str = "code") -> Code:
    if not isinstance(entry, dict):
        raise TerminologyError(f"{where}: entry is not an object")
    system, code = entry.get("system"), entry.get(code_field)
    if not isinstance(system, str) or not isinstance(code, str) or not code:
        raise TerminologyError(f"{where}: entry needs a system and a {code_field}")
    return Code(
        system=system,
        code=code,
        display=str(entry.get("display", "")),
        source=str(entry.get("source", entry.get("reason", ""))),
    )


def parse_valueset(doc: Any, where: str) -> ValueSet:
    """A value set from its JSON document (format: module docstring)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        raise TerminologyError(f"{where}: not a value set document")
    vs_id = doc["id"]
    codes = tuple(_code(e, f"{where} codes") for e in doc.get("codes", []))
    prefixes = tuple(_code(e, f"{where} prefixes", "prefix") for e in doc.get("prefixes", []))
    excluded = tuple(
        _code(e, f"{where} exclude_prefixes", "prefix") for e in doc.get("exclude_prefixes", [])
    )
    for entry in prefixes + excluded:
        if system_key(entry.system) not in PREFIX_SYSTEMS:
            raise TerminologyError(f"{where}: prefixes are only for ICD-10 systems")
    not_matched = tuple(
        MappingProxyType({k: str(v) for k, v in e.items()}) for e in doc.get("not_matched", [])
    )
    return ValueSet(
        id=vs_id,
        title=str(doc.get("title", vs_id)),
        description=str(doc.get("description", "")),
        codes=codes,
        prefixes=prefixes,
        exclude_prefixes=excluded,
        not_matched=not_matched,
    )


@cache
def default_valuesets() -> Mapping[str, ValueSet]:
    """Every shipped value set by id, read once from `fhir_mappings/valuesets/*.json`."""
    found: dict[str, ValueSet] = {}
    folder = resources.files("fhir_mappings.valuesets")
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not item.name.endswith(".json"):
            continue
        valueset = parse_valueset(json.loads(item.read_text(encoding="utf-8")), item.name)
        if valueset.id != item.name.removesuffix(".json"):
            raise TerminologyError(f"{item.name}: id '{valueset.id}' does not match the file")
        found[valueset.id] = valueset
    return MappingProxyType(found)


@cache
def action_codesystem() -> Mapping[str, Any]:
    """The app's action CodeSystem resource (`codesystems/actions.json`)."""
    text = resources.files("fhir_mappings.codesystems").joinpath("actions.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return MappingProxyType(doc)


@cache
def action_displays() -> Mapping[str, str]:
    """Action code -> display, from the CodeSystem."""
    return MappingProxyType(
        {concept["code"]: concept["display"] for concept in action_codesystem()["concept"]}
    )


class CodeIndex:
    """(system key, normalised code) -> the value sets that hold it; ICD prefixes too."""

    def __init__(self, valuesets: Iterable[ValueSet]) -> None:
        exact: dict[tuple[str, str], list[Hit]] = {}
        prefix: dict[tuple[str, str], list[Hit]] = {}
        excluded: dict[tuple[str, str], set[str]] = {}
        for valueset in valuesets:
            for code in valueset.codes:
                key = system_key(code.system)
                hit = Hit(valueset.id, label(key), code.display, code.origin)
                for normalised in code_keys(key, code.code):
                    exact.setdefault((key, normalised), []).append(hit)
            for code in valueset.prefixes:
                key = system_key(code.system)
                hit = Hit(valueset.id, label(key), code.display, code.origin)
                for normalised in code_keys(key, code.code):
                    prefix.setdefault((key, normalised), []).append(hit)
            for code in valueset.exclude_prefixes:
                key = system_key(code.system)
                for normalised in code_keys(key, code.code):
                    excluded.setdefault((key, normalised), set()).add(valueset.id)
        self._exact = {k: tuple(dict.fromkeys(v)) for k, v in exact.items()}
        self._prefix = {k: tuple(dict.fromkeys(v)) for k, v in prefix.items()}
        self._excluded = {k: frozenset(v) for k, v in excluded.items()}
        self._cache: dict[tuple[str, str], tuple[Hit, ...]] = {}

    def lookup(self, system: object, code: object) -> tuple[Hit, ...]:
        """The value sets a coding belongs to (empty when none or when system/code are absent).

        Answers are memoised per (system, code) string pair: the same few hundred codes
        recur in every patient, so most lookups are one dict access.
        """
        if type(code) is not str or type(system) is not str or not code:
            return ()
        cached = self._cache.get((system, code))
        if cached is not None:
            return cached
        hits = self._lookup(system, code)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[(system, code)] = hits
        return hits

    def _lookup(self, system: str, code: str) -> tuple[Hit, ...]:
        key = system_key(system)
        if not key:
            return ()
        keys = code_keys(key, code)
        if len(keys) == 1:
            hits = self._exact.get((key, keys[0]), ())
        else:
            found: list[Hit] = []
            for normalised in keys:
                found.extend(self._exact.get((key, normalised), ()))
            hits = tuple(dict.fromkeys(found))
        if key in PREFIX_SYSTEMS and self._prefix:
            hits = hits + self._prefix_hits(key, keys[0])
        return hits

    def _prefix_hits(self, key: str, normalised: str) -> tuple[Hit, ...]:
        found: list[Hit] = []
        excluded: set[str] = set()
        for end in range(1, len(normalised) + 1):
            head = (key, normalised[:end])
            found.extend(self._prefix.get(head, ()))
            excluded.update(self._excluded.get(head, ()))
        return tuple(hit for hit in dict.fromkeys(found) if hit.valueset not in excluded)
