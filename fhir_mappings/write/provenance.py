"""The Provenance of a write-back: what was written, when, by whom, with which app (SPEC §4).

Agents: the launching user as `author` (who = fhirUser) when known, and the app as
`assembler` (it assembled the plan from the record; the user decided to save it). The app
is named by `who.display` only: no Device resource exists for it on the EHR's server.
The activity is a v3-DataOperation: CREATE when the write only adds resources, UPDATE when
it changes existing ones (the CarePlan PUT is create-or-update; it counts as UPDATE only
when an existing Task is changed too, since v3-DataOperation has no "upsert").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_mappings.write.common import WriteContext, validated

PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"

_ACTIVITY_DISPLAY = {"CREATE": "create", "UPDATE": "revise"}
_PARTICIPANT_DISPLAY = {"author": "Author", "assembler": "Assembler"}


def _agent(kind: str, who: dict[str, str]) -> dict[str, Any]:
    return {
        "type": {
            "coding": [
                {"system": PARTICIPANT_TYPE, "code": kind, "display": _PARTICIPANT_DISPLAY[kind]}
            ]
        },
        "who": who,
    }


def build_provenance(
    targets: Sequence[str], ctx: WriteContext, *, updates_existing: bool, reason: str | None = None
) -> dict[str, Any]:
    """Provenance for the resources at `targets` (`Type/id` or `urn:uuid:` fullUrls)."""
    if not targets:
        raise ValueError("a Provenance needs at least one target")
    operation = "UPDATE" if updates_existing else "CREATE"
    agents: list[dict[str, Any]] = []
    author = ctx.author
    if author is not None:
        agents.append(_agent("author", author))
    agents.append(_agent("assembler", {"display": ctx.app_device_display}))
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": target} for target in dict.fromkeys(targets)],
        "recorded": ctx.instant,
        "activity": {
            "coding": [
                {
                    "system": DATA_OPERATION,
                    "code": operation,
                    "display": _ACTIVITY_DISPLAY[operation],
                }
            ]
        },
        "agent": agents,
    }
    if reason:
        provenance["reason"] = [{"text": reason}]
    return validated(provenance)
