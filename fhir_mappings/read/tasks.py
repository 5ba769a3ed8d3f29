"""Tasks this app wrote earlier, recognised by identifier (SPEC §4 "Write-back").

Identifier system `{canonical}/task` (see `canonical.py`), value `{patient}:{check}:{due}`
where due is an ISO date or empty/"none". Other Tasks are not the app's and give nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from domain.records import AppTask, SourceRef
from fhir_mappings.canonical import TASK_IDENTIFIER_SYSTEM
from fhir_mappings.errors import Malformed
from fhir_mappings.fhirjson import (
    as_list,
    as_object,
    as_text,
    concept_text,
    reference_of,
    reference_target,
)


def _due(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def read_task(resource: Mapping[str, Any], reference: str) -> AppTask | None:
    value = None
    for index, item in enumerate(as_list(resource.get("identifier"), "identifier")):
        identifier = as_object(item, f"identifier[{index}]") or {}
        system = as_text(identifier.get("system"), f"identifier[{index}].system")
        if system and system.rstrip("/") == TASK_IDENTIFIER_SYSTEM:
            value = as_text(identifier.get("value"), f"identifier[{index}].value")
            break
    if not value:
        return None
    parts = value.split(":", 2)
    check = parts[1] if len(parts) > 1 else ""
    due = _due(parts[2]) if len(parts) > 2 else None
    status = as_text(resource.get("status"), "status") or "unknown"
    owner_element = as_object(resource.get("owner"), "owner")
    owner = None
    if owner_element is not None:
        owner = as_text(owner_element.get("display"), "owner.display") or reference_of(
            owner_element, "owner"
        )
    reason_element = as_object(resource.get("statusReason"), "statusReason")
    status_reason = concept_text(reason_element) or None if reason_element else None
    meta = as_object(resource.get("meta"), "meta") or {}
    last_modified = as_text(meta.get("lastUpdated"), "meta.lastUpdated")
    version_id = as_text(meta.get("versionId"), "meta.versionId")
    acknowledged_by, acknowledged_on = _acknowledgement(resource)
    evidence = _cited(resource)
    display = f"Task {check or '(no check)'} due {due.isoformat() if due else 'none'}: {status}"
    return AppTask(
        identifier=value,
        check=check,
        due=due,
        status=status,
        owner=owner,
        status_reason=status_reason,
        last_modified=last_modified,
        source=SourceRef(reference, display, f"identifier {TASK_IDENTIFIER_SYSTEM}"),
        version_id=version_id,
        acknowledged_by=acknowledged_by,
        acknowledged_on=acknowledged_on,
        evidence=evidence,
    )


#: The note the write-back leaves when a clinician acknowledges a finding
#: (`fhir_mappings.write.tasks.acknowledgement_note`).
ACK_PREFIX = "Acknowledged by "


def _acknowledgement(resource: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(by, day) from the latest acknowledgement note, or (None, None)."""
    found: tuple[str | None, str | None] = (None, None)
    for index, item in enumerate(as_list(resource.get("note"), "note")):
        note = as_object(item, f"note[{index}]") or {}
        text = as_text(note.get("text"), f"note[{index}].text") or ""
        if not text.startswith(ACK_PREFIX):
            continue
        author = as_text(note.get("authorString"), f"note[{index}].authorString")
        if not author:
            # "Acknowledged by Dr X on 2026-01-02: reason" — take the name from the text.
            author = text[len(ACK_PREFIX) :].split(" on ", 1)[0].strip() or None
        time = as_text(note.get("time"), f"note[{index}].time")
        found = (author or "clinician", time[:10] if time else None)
    return found


def evidence_key(reference: str | None) -> str | None:
    """`Type/id` of a literal reference (relative, absolute or versioned), else None."""
    if not reference:
        return None
    rtype, rid = reference_target(reference)
    return f"{rtype}/{rid}" if rtype and rid else None


def evidence_keys(references: Iterable[str | None]) -> frozenset[str]:
    return frozenset(key for key in map(evidence_key, references) if key is not None)


def covers(task: AppTask, due: date | None, evidence: Iterable[str | None]) -> bool:
    """Whether `task` (same check) already stands for a finding due `due` citing `evidence`.

    A dated finding is the same finding while its due date is (SPEC §3: "not tasked again
    until its due date changes"). An alert has no due date, so its identifier ends in
    `none` for ever; it is the same alert only while it cites nothing the Task does not:
    a new infection, a new positive test, reopens it.
    """
    if task.due != due:
        return False
    if due is not None:
        return True
    return not uncited_keys(task, evidence)


def uncited_keys(task: AppTask, evidence: Iterable[str | None]) -> frozenset[str]:
    """`Type/id` of the records in `evidence` that `task` does not cite."""
    return evidence_keys(evidence) - task.evidence


def _cited(resource: Mapping[str, Any]) -> frozenset[str]:
    """What the Task cites. Unreadable citations count as none: the Task then covers no
    evidence, so an alert shows as not dealt with rather than the Task being lost."""
    try:
        references = [reference_of(resource.get("reasonReference"), "reasonReference")]
        for index, item in enumerate(as_list(resource.get("input"), "input")):
            element = as_object(item, f"input[{index}]") or {}
            references.append(reference_of(element.get("valueReference"), f"input[{index}]"))
    except Malformed:
        return frozenset()
    return evidence_keys(references)
