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
    """A coding that matched a value set: what evidence calls "how it was matched"."""

    __slots__ = ("code", "hit")

    def __init__(self, hit: Hit, code: str) -> None:
        self.hit = hit
        self.code = code.strip()

    @property
    def valueset(self) -> str:
        return self.hit.valueset

    @property
    def matched_by(self) -> str:
        site = " (site)" if self.hit.origin == ORIGIN_SITE else ""
        return f"{self.hit.system_label} {self.code}{site}"


def matches(concept: object, mappings: Mappings, where: str) -> list[Match]:
    """Every (coding, value set) match of a CodeableConcept, in coding order."""
    found: list[Match] = []
    for coding in codings(concept, where):
        code = coding.get("code")
        if not code:
            continue
        for hit in mappings.lookup(coding.get("system"), code):
            found.append(Match(hit, code))
    return found


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
