"""What the write-back builders share: the context, identifiers, ids, references, validation.

Every resource the app writes is built as FHIR JSON, validated with `fhir.resources.R4B`
(pydantic v2: types, cardinality, required elements) and dumped back to JSON, so a payload
that would not parse never reaches a server. R4B differs from R4 4.0.1 only in resources we
do not write; the tests re-parse everything with `fhirclient.models` (exact R4 4.0.1).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from fhir.resources.R4B import get_fhir_model_class

from domain.findings import Action, Severity
from domain.records import AppTask
from fhir_mappings.canonical import CANONICAL
from fhir_mappings.ids import ID_PATTERN
from fhir_mappings.terminology import action_codesystem, action_displays

APP_DISPLAY = "Ofatumumab safety app"

#: Task statuses in which work is still expected: the write-back may complete or cancel them.
OPEN_TASK_STATUSES = frozenset({"requested", "received", "accepted", "ready", "in-progress"})

#: Finding severity -> Task.priority (request-priority: routine | urgent | asap | stat).
PRIORITY: dict[Severity, str] = {
    Severity.CRITICAL: "stat",
    Severity.HIGH: "urgent",
    Severity.MODERATE: "asap",
    Severity.LOW: "routine",
    Severity.INFO: "routine",
}

#: Relative literal reference `Type/id` (optionally `/_history/n`), the only form we copy
#: into what we write: urn:uuid (file input) and `#contained` ids mean nothing on a server.
_LOCAL_REFERENCE = re.compile(
    rf"(?P<type>[A-Z][A-Za-z]+)/(?P<id>{ID_PATTERN})(?:/_history/(?P<version>{ID_PATTERN}))?"
)


@dataclass(frozen=True, kw_only=True)
class WriteContext:
    """Who writes, when, and under which canonical base.

    `author_reference` is the launching user's fhirUser (`Practitioner/123`, or an absolute
    URL on `fhir_base`, which is made relative); None for the CLI and backend services.
    `now` must be timezone-aware: it is recorded as an instant.
    """

    now: datetime
    canonical: str = CANONICAL
    author_reference: str | None = None
    author_display: str | None = None
    app_device_display: str = APP_DISPLAY
    owner_reference: str | None = None
    fhir_base: str | None = None
    #: "client": PUT by ids derived from the identifiers (race-free, see
    #: fhir_mappings.write.writeback);
    #: "conditional": PUT CarePlan?identifier=… and POST Task with ifNoneExist, for servers
    #: that refuse client-assigned ids (CapabilityStatement updateCreate false).
    id_strategy: Literal["client", "conditional"] = "client"

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("WriteContext.now must be timezone-aware")
        if not self.canonical or self.canonical.endswith("/"):
            raise ValueError("WriteContext.canonical must be a base URL without a trailing slash")
        if self.id_strategy not in ("client", "conditional"):
            raise ValueError("WriteContext.id_strategy must be 'client' or 'conditional'")

    @property
    def task_system(self) -> str:
        return f"{self.canonical}/task"

    @property
    def careplan_system(self) -> str:
        return f"{self.canonical}/careplan"

    @property
    def author(self) -> dict[str, str] | None:
        """The user as a Reference (display only when there is no usable reference), or None
        when unknown."""
        reference = local_reference(self.author_reference, self.fhir_base)
        ref: dict[str, str] = {}
        if reference is not None:
            ref["reference"] = reference
        if self.author_display:
            ref["display"] = self.author_display
        return ref or None

    @property
    def owner(self) -> dict[str, str] | None:
        reference = local_reference(self.owner_reference, self.fhir_base)
        return {"reference": reference} if reference else None

    @property
    def instant(self) -> str:
        return self.now.isoformat()


def local_reference(reference: str | None, fhir_base: str | None = None) -> str | None:
    """`Type/id` for a reference we may copy into a resource, else None.

    An absolute URL on `fhir_base` is made relative (HAPI rejects absolute references
    unless configured otherwise); a version suffix is dropped (we point at the resource).
    """
    if not reference:
        return None
    ref = reference.strip()
    if fhir_base and ref.startswith(fhir_base.rstrip("/") + "/"):
        ref = ref[len(fhir_base.rstrip("/")) + 1 :]
    match = _LOCAL_REFERENCE.fullmatch(ref)
    if match is None:
        return None
    return f"{match['type']}/{match['id']}"


def reference_parts(reference: str) -> tuple[str, str, str | None] | None:
    """(type, id, version or None) of a relative reference, else None."""
    match = _LOCAL_REFERENCE.fullmatch(reference.strip())
    if match is None:
        return None
    return match["type"], match["id"], match["version"]


def task_identifier_value(patient_id: str, check: str, due: date | None) -> str:
    """`{patient}:{check}:{due}` with the due date as ISO or "none" (SPEC §4)."""
    return f"{patient_id}:{check}:{due.isoformat() if due else 'none'}"


def stable_id(prefix: str, system: str, value: str) -> str:
    """A FHIR id derived from a business identifier: the same identifier, the same id.

    `prefix` keeps it non-numeric (HAPI's default client-id strategy refuses numeric ids)
    and readable in logs; the hash keeps PHI (the patient id) out of URLs and fits 64 chars.
    """
    digest = hashlib.sha256(f"{system}|{value}".encode()).hexdigest()[:40]
    return f"{prefix}-{digest}"


def careplan_id(ctx: WriteContext, patient_id: str) -> str:
    return stable_id("ofa-cp", ctx.careplan_system, patient_id)


def task_id(ctx: WriteContext, identifier_value: str) -> str:
    return stable_id("ofa-task", ctx.task_system, identifier_value)


def action_system() -> str:
    """The action CodeSystem's canonical URL (from `codesystems/actions.json`)."""
    url = action_codesystem()["url"]
    if not isinstance(url, str):
        raise ValueError("codesystems/actions.json has no url")
    return url


def action_concept(action: Action) -> dict[str, Any]:
    """A CodeableConcept for an action code; the CodeSystem's display when it has one."""
    display = action_displays().get(action.code, action.display)
    return {
        "coding": [{"system": action_system(), "code": action.code, "display": display}],
        "text": action.display,
    }


def task_version(task: AppTask) -> str | None:
    """The Task's meta.versionId when the reader kept it (field or `/_history/n`)."""
    version = getattr(task, "version_id", None)
    if isinstance(version, str) and version:
        return version
    parts = reference_parts(task.source.reference)
    return parts[2] if parts else None


def if_match(version: str | None) -> str | None:
    return f'W/"{version}"' if version else None


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """Validate FHIR JSON with the fhir.resources R4B model and return it as dumped JSON.

    Raises pydantic.ValidationError (a programming error: what we build must be valid).
    """
    model_class = get_fhir_model_class(str(resource["resourceType"]))
    model = model_class.model_validate(resource)
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped
