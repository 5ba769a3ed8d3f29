"""A person's name from FHIR HumanName[] — one rule for patients and for users."""

from __future__ import annotations

from collections.abc import Mapping

from fhir_mappings.fhirjson import as_list

_USE_ORDER = {"official": 0, "usual": 1}


def human_name(names: object) -> str | None:
    """The official name first, then the usual one, then the others: its `text`, else
    prefix, given names and family joined; white space folded. None when no name has
    either. Raises `Malformed` when `name` is not a list; entries and parts of the wrong
    JSON type are passed over."""
    usable = [n for n in as_list(names, "name") if isinstance(n, Mapping)]
    usable.sort(key=lambda n: _USE_ORDER.get(str(n.get("use")), 2))
    for name in usable:
        text = name.get("text")
        if not isinstance(text, str) or not text.strip():
            parts = [
                part
                for key in ("prefix", "given")
                if isinstance(name.get(key), list)
                for part in name[key]
                if isinstance(part, str)
            ]
            if isinstance(name.get("family"), str):
                parts.append(name["family"])
            text = " ".join(parts)
        folded = " ".join(text.split())
        if folded:
            return folded
    return None
