"""Checked access to FHIR JSON: the shape is verified as it is read, never trusted.

Every helper raises `Malformed` (with the element's path) when an element has the wrong JSON
type (`"code": 5`, a `coding` that is not a list…), so a broken resource is skipped and
reported instead of crashing the read or being half-understood (SPEC §2 last rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_mappings.errors import Malformed
from fhir_mappings.site import Mappings
from fhir_mappings.terminology import ORIGIN_SITE, Hit

Json = Mapping[str, Any]


def as_list(value: object, where: str) -> list[Any]:
    """A repeating element (absent = empty)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{where} is not a list")
    return value


def as_object(value: object, where: str) -> Json | None:
    """A complex element (absent = None)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Malformed(f"{where} is not an object")
    return value


def as_text(value: object, where: str) -> str | None:
    """A string element (absent = None)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(f"{where} is not a string")
    return value


def codings(concept: object, where: str) -> list[Json]:
    """The codings of a CodeableConcept, each checked to have a string system and code."""
    if concept is None:
        return []
    if type(concept) is not dict:
        raise Malformed(f"{where} is not a CodeableConcept")
    found = concept.get("coding")
    if found is None:
        return []
    if type(found) is not list:
        raise Malformed(f"{where}.coding is not a list")
    for coding in found:
        if type(coding) is not dict:
            raise Malformed(f"{where}.coding is not a Coding")
        code = coding.get("code")
        if code is not None and type(code) is not str:
            raise Malformed(f"{where}.coding.code is not a string")
        system = coding.get("system")
        if system is not None and type(system) is not str:
            raise Malformed(f"{where}.coding.system is not a string")
    return found


def concept_text(concept: object, *, code_fallback: bool = True) -> str:
    """What a person calls a (checked) CodeableConcept: its text, else a display, else (when
    `code_fallback`) a code."""
    if not isinstance(concept, dict):
        return ""
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict) and isinstance(coding.get("display"), str):
            return str(coding["display"])
    if code_fallback:
        for coding in concept.get("coding") or ():
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return ""


def concept_words(concept: object) -> str:
    """Text and every display of a (checked) CodeableConcept, lower-cased, for word matching."""
    if not isinstance(concept, dict):
        return ""
    parts = [concept.get("text")]
    parts.extend(c.get("display") for c in concept.get("coding") or () if isinstance(c, dict))
    return " ".join(part for part in parts if isinstance(part, str)).lower()


class Match:
    """A coding that matched a value set: what evidence calls "how it was matched".

    Immutable once built: `matches` hands the same instances out again (see `coding_matches`).
    """

    __slots__ = ("code", "hit", "matched_by")

    def __init__(self, hit: Hit, code: str) -> None:
        self.hit = hit
        self.code = code.strip()
        site = " (site)" if hit.origin == ORIGIN_SITE else ""
        self.matched_by = f"{hit.system_label} {self.code}{site}"

    @property
    def valueset(self) -> str:
        return self.hit.valueset


def coding_matches(system: str | None, code: str, mappings: Mappings) -> tuple[Match, ...]:
    """The value-set matches of one (checked) coding with a non-empty code.

    Built once per (system, code) and mappings instance: every patient repeats the same
    few hundred codes, so this is one dict access after the first time.
    """
    memo = mappings.memo("coding-matches")
    key = (system, code)
    found: tuple[Match, ...] | None = memo.get(key)
    if found is None:
        found = memo.keep(key, tuple(Match(hit, code) for hit in mappings.lookup(system, code)))
    return found


def matches(concept: object, mappings: Mappings, where: str) -> list[Match]:
    """Every (coding, value set) match of a CodeableConcept, in coding order."""
    found: list[Match] = []
    for coding in codings(concept, where):
        code = coding.get("code")
        if code:
            found.extend(coding_matches(coding.get("system"), code, mappings))
    return found


#: What `concept_key` gives an absent concept: it reads exactly like `{}`.
ConceptKey = tuple[str | None, tuple[tuple[str | None, str | None, str | None], ...]]
_NO_CONCEPT: ConceptKey = (None, ())


def concept_key(concept: object) -> ConceptKey | None:
    """What a CodeableConcept says, as a hashable key for memoising answers worked out from it:
    its text and each coding's (system, code, display). Nothing else in a concept is read.

    None when the concept is not plain JSON with string (or absent) text, system, code and
    display: it is then read the checked way (`codings`), which reports what is wrong.
    """
    if type(concept) is not dict:
        return _NO_CONCEPT if concept is None else None
    text = concept.get("text")
    if text is not None and type(text) is not str:
        return None
    found = concept.get("coding")
    if found is None:
        return (text, ())
    if type(found) is not list:
        return None
    parts = []
    for coding in found:
        if type(coding) is not dict:
            return None
        system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
        if (
            (system is not None and type(system) is not str)
            or (code is not None and type(code) is not str)
            or (display is not None and type(display) is not str)
        ):
            return None
        parts.append((system, code, display))
    return (text, tuple(parts))


#: What `codes_key` gives a concept with no codings (absent, `{}`, or an empty list).
_NO_CODES: tuple[()] = ()
CodesKey = tuple[str | None, str | None] | tuple[tuple[str | None, str | None], ...]


def codes_key(concept: object) -> CodesKey | None:
    """Each coding's (system, code) of a CodeableConcept, as a key for memoising answers
    worked out only from those (value-set matches: `codings`, `matches`, `coding_matches`),
    never from its text or displays. Cheaper than `concept_key`, which reads those too:
    this runs for every code of every resource (SPEC §5 throughput).

    The usual single coding is keyed by its bare (system, code) pair, several by a tuple of
    pairs: the two never compare equal (strings or None against tuples). None, as for
    `concept_key`, when the concept is not plain JSON with a list of codings with string (or
    absent) system and code: it is then read the checked way, which reports what is wrong.
    """
    if type(concept) is not dict:
        return _NO_CODES if concept is None else None
    found = concept.get("coding")
    if type(found) is not list:
        return _NO_CODES if found is None else None
    pairs = []
    for coding in found:
        if type(coding) is not dict:
            return None
        system, code = coding.get("system"), coding.get("code")
        if (type(system) is not str and system is not None) or (
            type(code) is not str and code is not None
        ):
            return None
        pairs.append((system, code))
    return pairs[0] if len(pairs) == 1 else tuple(pairs)


def reference_of(element: object, where: str) -> str | None:
    """The `reference` string of a Reference element (None when absent or identifier-only)."""
    if element is None:
        return None
    if not isinstance(element, dict):
        raise Malformed(f"{where} is not a Reference")
    return as_text(element.get("reference"), f"{where}.reference")


def reference_target(reference: str) -> tuple[str, str]:
    """(type, id) of a literal reference: "Patient/1", absolute URLs, `_history`, urn:uuid.

    A `urn:uuid:` or `urn:oid:` reference has no type: ("", uuid).
    """
    text = reference.strip()
    if text.startswith("urn:uuid:") or text.startswith("urn:oid:"):
        return "", text[9:] if text.startswith("urn:uuid:") else text[8:]
    history = text.find("/_history/")
    if history >= 0:
        text = text[:history]
    parts = text.rstrip("/").rsplit("/", 2)
    if len(parts) < 2:
        return "", text
    return parts[-2], parts[-1]
