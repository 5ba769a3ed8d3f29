"""The monitoring CarePlan this app wrote earlier, recognised by identifier (SPEC §4).

Identifier system `{canonical}/careplan`, value the patient id. What the record keeps is a
content key: a hash of the plan as a clinician reads it, leaving out what changes on every
save without changing the plan (`meta`, `id`, the generated narrative `text`, and `author`,
who saved it last). A write-back whose new CarePlan has the same key, and that changes no
Task, writes nothing (`fhir_mappings.write.writeback.build_writeback`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from domain.records import AppCarePlan, SourceRef
from fhir_mappings.canonical import CAREPLAN_IDENTIFIER_SYSTEM
from fhir_mappings.fhirjson import as_list, as_object, as_text

#: Elements that differ between two saves of the same plan.
_NOT_CONTENT = frozenset({"meta", "id", "text", "author"})
_MATCHED_BY = f"identifier {CAREPLAN_IDENTIFIER_SYSTEM}"


def careplan_content_key(careplan: Mapping[str, Any]) -> str:
    """A hash of the plan's content (module doc); equal for equal plans in any key order."""
    content = {key: value for key, value in careplan.items() if key not in _NOT_CONTENT}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def read_app_careplan(resource: Mapping[str, Any], reference: str) -> AppCarePlan | None:
    """The app's CarePlan (by identifier system), or None for anyone else's."""
    for index, item in enumerate(as_list(resource.get("identifier"), "identifier")):
        identifier = as_object(item, f"identifier[{index}]") or {}
        system = as_text(identifier.get("system"), f"identifier[{index}].system")
        if system and system.rstrip("/") == CAREPLAN_IDENTIFIER_SYSTEM:
            meta = as_object(resource.get("meta"), "meta") or {}
            return AppCarePlan(
                content_key=careplan_content_key(resource),
                version_id=as_text(meta.get("versionId"), "meta.versionId"),
                source=SourceRef(reference, "Ofatumumab monitoring plan", _MATCHED_BY),
            )
    return None
