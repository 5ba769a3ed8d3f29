"""The override reasons the CDS services offer (`codesystems/cds-override-reasons.json`)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def override_reasons() -> tuple[dict[str, str], ...]:
    """Each reason as a CDS Hooks Coding: `system`, `code` and `display` (display required)."""
    text = (
        resources.files("fhir_mappings.codesystems")
        .joinpath("cds-override-reasons.json")
        .read_text("utf-8")
    )
    doc = json.loads(text)
    system = str(doc["url"])
    return tuple(
        {"system": system, "code": str(concept["code"]), "display": str(concept["display"])}
        for concept in doc["concept"]
    )
