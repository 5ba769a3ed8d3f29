"""Site overrides and the mappings in force (SPEC §2: a site adds codes and settings without
code changes, through a file named by `SMARTAPP_MAPPINGS`, and the app shows what is in force).

File format (JSON)::

    {"codes": {"<value set id>": [{"system": "...", "code": "...", "display": "..."}]},
     "rxnorm": {"ofatumumab": ["<RxCUI>", ...]},
     "settings": {"ig_interval_days": 180}}

Every part is optional. Unknown top-level keys, unknown value set ids and malformed entries
raise `SiteMappingsError` naming the key. Setting names and values are checked by
`smartapp.config` (through `smartapp.rules.settings.with_overrides`), which owns them.
RxNorm codes exist only here: docs/terminology-sources.md §2 verified no RxCUI, so none is shipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from fhir_mappings.memo import MISSING, Memo
from fhir_mappings.systems import SYSTEMS
from fhir_mappings.terminology import (
    ORIGIN_SITE,
    Code,
    CodeIndex,
    Hit,
    ValueSet,
    default_valuesets,
)

RXNORM = SYSTEMS["rxnorm"].uri
#: The value set that site RxNorm codes for ofatumumab (Kesimpta) are added to.
KESIMPTA_VALUESET = "ofatumumab-kesimpta"
_TOP_LEVEL = ("codes", "rxnorm", "settings")
_ENTRY_KEYS = frozenset({"system", "code", "display"})

_Answer = TypeVar("_Answer")


class SiteMappingsError(ValueError):
    """The site mappings file is unreadable or malformed; the message names the key."""


@dataclass(frozen=True)
class SiteCode:
    system: str
    code: str
    display: str = ""


@dataclass(frozen=True)
class SiteMappings:
    """What a site's mappings file adds: codes per value set, RxNorm codes, rule settings."""

    path: str | None = None
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    codes: Mapping[str, tuple[SiteCode, ...]] = field(default_factory=lambda: MappingProxyType({}))
    rxnorm_ofatumumab: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The file's content as shown in the "mappings in force" panel."""
        return {
            "file": self.path,
            "codes": {
                vs_id: [{"system": c.system, "code": c.code, "display": c.display} for c in codes]
                for vs_id, codes in self.codes.items()
            },
            "rxnorm": {"ofatumumab": list(self.rxnorm_ofatumumab)},
            "settings": dict(self.settings),
        }


def _fail(path: str, message: str) -> SiteMappingsError:
    return SiteMappingsError(f"{path}: {message}")


def _site_codes(path: str, raw: Any) -> dict[str, tuple[SiteCode, ...]]:
    if not isinstance(raw, dict):
        raise _fail(path, "'codes' must be an object of value set id -> list of codes")
    known = default_valuesets()
    result: dict[str, tuple[SiteCode, ...]] = {}
    for vs_id, entries in raw.items():
        if vs_id not in known:
            raise _fail(
                path,
                f"unknown value set '{vs_id}' under 'codes' "
                "(the ids are the file names in fhir_mappings/valuesets/)",
            )
        if not isinstance(entries, list):
            raise _fail(path, f"'codes.{vs_id}' must be a list of codes")
        codes: list[SiteCode] = []
        for number, entry in enumerate(entries, 1):
            where = f"'codes.{vs_id}' entry {number}"
            if not isinstance(entry, dict):
                raise _fail(path, f"{where} must be an object with system and code")
            unknown = sorted(set(entry) - _ENTRY_KEYS)
            if unknown:
                raise _fail(path, f"{where} has unknown key '{unknown[0]}'")
            system, code, display = entry.get("system"), entry.get("code"), entry.get("display", "")
            if not isinstance(system, str) or not system.strip():
                raise _fail(path, f"{where} needs a 'system' (a code system URI)")
            if not isinstance(code, str) or not code.strip():
                raise _fail(path, f"{where} needs a 'code' (a string)")
            if not isinstance(display, str):
                raise _fail(path, f"{where} 'display' must be a string")
            codes.append(SiteCode(system.strip(), code.strip(), display))
        result[vs_id] = tuple(codes)
    return result


def _site_rxnorm(path: str, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, dict):
        raise _fail(path, '\'rxnorm\' must be an object like {"ofatumumab": ["<RxCUI>"]}')
    unknown = sorted(set(raw) - {"ofatumumab"})
    if unknown:
        raise _fail(path, f"unknown key '{unknown[0]}' under 'rxnorm' (allowed: ofatumumab)")
    codes = raw.get("ofatumumab", [])
    if not isinstance(codes, list) or not all(isinstance(c, str) and c.strip() for c in codes):
        raise _fail(path, "'rxnorm.ofatumumab' must be a list of RxCUI strings")
    return tuple(dict.fromkeys(c.strip() for c in codes))


def load_site_mappings(path: str) -> SiteMappings:
    """Read and check a site mappings file (format: module docstring)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SiteMappingsError(f"cannot read {path}: {err}") from err
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise _fail(path, f"not JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(raw, dict):
        raise _fail(path, "the file must hold one JSON object")
    unknown = [key for key in raw if key not in _TOP_LEVEL]
    if unknown:
        raise _fail(path, f"unknown key '{unknown[0]}' (allowed: {', '.join(_TOP_LEVEL)})")
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        raise _fail(path, "'settings' must be an object of setting name -> value")
    return SiteMappings(
        path=path,
        settings=MappingProxyType(dict(settings)),
        codes=MappingProxyType(_site_codes(path, raw.get("codes", {}))),
        rxnorm_ofatumumab=_site_rxnorm(path, raw.get("rxnorm", {})),
    )


class Mappings:
    """The value sets in force (shipped + site additions) and their lookup index.

    This is what `fhir_mappings.read.record` and `fhir_mappings.search.queries` use. Build it
    once at start-up with `load_mappings` and share it: it is read-only.
    """

    def __init__(self, site: SiteMappings | None = None) -> None:
        self.site = site
        valuesets = dict(default_valuesets())
        if site is not None:
            for vs_id, codes in site.codes.items():
                valuesets[vs_id] = valuesets[vs_id].with_codes(
                    Code(c.system, c.code, c.display, "site mappings file", ORIGIN_SITE)
                    for c in codes
                )
            if site.rxnorm_ofatumumab:
                valuesets[KESIMPTA_VALUESET] = valuesets[KESIMPTA_VALUESET].with_codes(
                    Code(
                        RXNORM, rxcui, "ofatumumab (site RxNorm)", "site mappings file", ORIGIN_SITE
                    )
                    for rxcui in site.rxnorm_ofatumumab
                )
        self.valuesets: Mapping[str, ValueSet] = MappingProxyType(valuesets)
        self.index = CodeIndex(valuesets.values())
        self._memos: dict[str, Memo] = {}

    @property
    def settings(self) -> Mapping[str, Any]:
        """The site's rule-setting overrides (validated by smartapp.config)."""
        return self.site.settings if self.site else MappingProxyType({})

    def lookup(self, system: object, code: object) -> tuple[Hit, ...]:
        return self.index.lookup(system, code)

    def memo(self, name: str) -> Memo:
        """The memo called `name` for answers worked out from these mappings (see `memo`).

        It lives on this instance: a site's additions change the answers, so no other
        instance may share them.
        """
        found = self._memos.get(name)
        if found is None:
            found = self._memos[name] = Memo()
        return found

    def recall(
        self,
        name: str,
        key: Hashable | None,
        work: Callable[..., _Answer],
        *args: Any,
    ) -> _Answer:
        """`work(*args)`, remembered in the memo called `name` under `key` (an answer may be
        None). No key (input that cannot be keyed exactly) means worked out every time, so
        its `Malformed` message is the checked reading's; errors are never remembered."""
        if key is None:
            return work(*args)
        memo = self.memo(name)
        found: _Answer = memo.get(key, MISSING)
        if found is MISSING:
            found = memo.keep(key, work(*args))
        return found

    def codes(self, *valueset_ids: str) -> tuple[Code, ...]:
        """The exact codes of these value sets, in file order (for search URLs)."""
        return tuple(code for vs_id in valueset_ids for code in self.valuesets[vs_id].codes)

    def describe(self) -> dict[str, Any]:
        """The "mappings in force" panel: value sets, counts and what the site added."""
        return {
            "site_file": self.site.path if self.site else None,
            "valuesets": [
                {
                    "id": vs.id,
                    "title": vs.title,
                    "codes": len(vs.codes),
                    "prefixes": [p.code for p in vs.prefixes],
                    "site_additions": [
                        {"system": c.system, "code": c.code, "display": c.display}
                        for c in vs.codes
                        if c.origin == ORIGIN_SITE
                    ],
                    "not_matched": len(vs.not_matched),
                }
                for vs in self.valuesets.values()
            ],
            "rxnorm_ofatumumab": list(self.site.rxnorm_ofatumumab) if self.site else [],
            "settings": dict(self.settings),
        }


@cache
def default_mappings() -> Mappings:
    """The shipped value sets with no site additions (built once)."""
    return Mappings()


def load_mappings(site_path: str | None) -> Mappings:
    """The mappings in force: the shipped value sets plus the site file, when one is named."""
    if not site_path:
        return default_mappings()
    return Mappings(load_site_mappings(site_path))
