"""What changed on the server since the last worklist snapshot (incremental refresh).

One batch POST asks, for every type the worklist reads:

- `<Type>?_lastUpdated=ge<since>&_elements=subject,patient,for,…` — resources created or
  changed since then, trimmed to whose they are (and, for the medication types, what
  medication they name, to tell whether a patient not yet listed may now belong on it);
- `<Type>/_history?_since=<since>` — only for its DELETE entries: deleted resources leave no
  trace in a search, so the history is the one place a deletion shows. A server without
  history support gets a note, and deletions wait for the next full refresh.

With `$export` (`changes_by_export`), the same question is a Bulk Data kick-off with
`_since=` (every type at once, NDJSON), and deletions come from the history batch.

Requests grow with the number of changed resources (pages of 500), not with patients.
Only whose and which medication is read here; `smartapp.worklist.refresh` then reads the
changed patients in full.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fhir_mappings.errors import Malformed
from fhir_mappings.fhirjson import matches
from fhir_mappings.search import population as fp
from fhir_mappings.site import KESIMPTA_VALUESET, Mappings
from smartapp.fhir import FhirClient
from smartapp.fhir.bulk import BulkExport

log = logging.getLogger("smartapp.worklist")

#: Pages followed per change search (500 entries a page).
MAX_PAGES = 1000
_WHOSE = "subject,patient,for"
_MEDICATION_ELEMENTS = "medicationCodeableConcept,medicationReference,medication,status,contained"
MEMBERSHIP_TYPES = frozenset(rtype for rtype, _ in fp.MEDICATION_TYPES) | {"CarePlan"}
CHANGED = "changed"
DELETED = "deleted"


@dataclass(frozen=True)
class Changes:
    """The server's changes since `since`, as the worklist needs them."""

    since: datetime
    #: Patients with any created or changed resource (of a type the worklist reads).
    patients: frozenset[str] = frozenset()
    #: Patients whose changed records may put them on the worklist (Kesimpta, app CarePlan).
    maybe_members: frozenset[str] = frozenset()
    #: `Type/id` of deleted resources.
    deleted: tuple[str, ...] = ()
    #: Changed Medications (ids), and those of them coded as Kesimpta now.
    medications: frozenset[str] = frozenset()
    kesimpta_medications: frozenset[str] = frozenset()
    #: The worklist Group changed (its members are read again).
    group_changed: bool = False
    #: Every change search worked (False: do a full refresh instead).
    complete: bool = True
    #: Deletions could not be asked for (no history support): noticed at the next full run.
    deletions_checked: bool = True
    problems: tuple[str, ...] = ()
    resources: int = 0
    notes: tuple[str, ...] = field(default=())


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC, second precision (`2026-12-03T02:50:00Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _readable_types(readable: Iterable[str] | None) -> list[str]:
    allowed = None if readable is None else frozenset(readable)
    return [t for t in fp.EXPORT_TYPES if allowed is None or t in allowed]


def change_searches(
    since: datetime, *, readable: Iterable[str] | None = None, group: str | None = None
) -> list[tuple[str, str]]:
    """[(area, relative URL)] of the change batch (module doc)."""
    when = quote(instant(since), safe="")
    specs: list[tuple[str, str]] = []
    for rtype in _readable_types(readable):
        elements = _WHOSE
        if rtype in MEMBERSHIP_TYPES:
            elements += "," + _MEDICATION_ELEMENTS + ",identifier"
        if rtype == "Patient":
            elements = "id"
        if rtype == "Medication":
            elements = "id,code"
        specs.append(
            (
                f"{CHANGED} {rtype}",
                f"{rtype}?_lastUpdated=ge{when}&_elements={elements}&_count={fp.PAGE}",
            )
        )
    if group is not None and (readable is None or "Group" in set(readable)):
        specs.append(
            (f"{CHANGED} Group", f"Group?_id={quote(group, safe='')}&_lastUpdated=ge{when}")
        )
    return specs


def history_searches(
    since: datetime, *, readable: Iterable[str] | None = None
) -> list[tuple[str, str]]:
    when = quote(instant(since), safe="")
    return [
        (f"{DELETED} {rtype}", f"{rtype}/_history?_since={when}&_count={fp.PAGE}")
        for rtype in _readable_types(readable)
    ]


def _mentions(text: object) -> bool:
    return isinstance(text, str) and any(word in text.casefold() for word in fp.TEXT_WORDS)


def _concept_is_kesimpta(concept: object, mappings: Mappings) -> bool:
    if not isinstance(concept, Mapping):
        return False
    try:
        if any(m.valueset == KESIMPTA_VALUESET for m in matches(concept, mappings, "")):
            return True
    except Malformed:
        return True  # unreadable: let the full read decide
    codings = concept.get("coding")
    displays = (
        [c.get("display") for c in codings if isinstance(c, Mapping)]
        if isinstance(codings, list)
        else []
    )
    return _mentions(concept.get("text")) or any(_mentions(d) for d in displays)


def may_make_member(
    resource: Mapping[str, Any], mappings: Mappings, kesimpta_medications: set[str]
) -> bool:
    """Whether a changed record may put its patient on the worklist: a medication record
    that names Kesimpta (code, text, or a Kesimpta Medication), one whose medication cannot
    be told from here (contained), or the app's own CarePlan. A superset of what the
    population searches find; the patient's full record decides."""
    rtype = resource.get("resourceType")
    if rtype == "CarePlan":
        return fp.app_careplan_subject(resource) is not None
    if rtype not in MEMBERSHIP_TYPES:
        return False
    for name in ("medicationCodeableConcept", "medication"):
        element = resource.get(name)
        if isinstance(element, Mapping) and "concept" in element:
            element = element.get("concept")
        if _concept_is_kesimpta(element, mappings):
            return True
    reference = resource.get("medicationReference")
    if isinstance(reference, Mapping):
        target = reference.get("reference")
        if isinstance(target, str) and (
            target.startswith("#") or target.split("/")[-1] in kesimpta_medications
        ):
            return True
        if _mentions(reference.get("display")):
            return True
    return False


def _kesimpta_medication_ids(client: FhirClient, mappings: Mappings) -> tuple[set[str], bool]:
    codes = ",".join(fp.kesimpta_tokens(mappings))
    result = client.search_all(
        f"Medication?code={codes}&_elements=id&_count={fp.PAGE}", max_pages=MAX_PAGES
    )
    ids = {str(r["id"]) for r in result.resources if isinstance(r.get("id"), str)}
    return ids, result.complete


@dataclass
class _Found:
    patients: set[str] = field(default_factory=set)
    maybe: set[str] = field(default_factory=set)
    medications: set[str] = field(default_factory=set)
    kesimpta: set[str] = field(default_factory=set)
    group: bool = False
    count: int = 0


def classify(
    resources: Iterable[Mapping[str, Any]],
    mappings: Mappings,
    kesimpta_medications: set[str],
) -> _Found:
    """Sort changed resources: whose they are, which may make a member, which Medications
    and whether the Group changed."""
    found = _Found()
    for resource in resources:
        found.count += 1
        rtype = resource.get("resourceType")
        if rtype == "Medication":
            rid = resource.get("id")
            if isinstance(rid, str):
                found.medications.add(rid)
                if _concept_is_kesimpta(resource.get("code"), mappings):
                    found.kesimpta.add(rid)
            continue
        if rtype == "Group":
            found.group = True
            continue
        pid = fp.patient_of(resource)
        if pid is None:
            continue
        found.patients.add(pid)
        if may_make_member(resource, mappings, kesimpta_medications):
            found.maybe.add(pid)
    return found


def changes_by_search(
    client: FhirClient,
    since: datetime,
    mappings: Mappings,
    *,
    readable: Iterable[str] | None = None,
    group: str | None = None,
) -> Changes:
    """The changes since `since` by `_lastUpdated` searches and `_history` (module doc).
    Never raises for a failed search (`complete` is False); raises TokenExpired on 401."""
    kesimpta, found_all = _kesimpta_medication_ids(client, mappings)
    searches = change_searches(since, readable=readable, group=group)
    searches += history_searches(since, readable=readable)
    result = client.batch_search(searches, max_pages=MAX_PAGES)
    failed_changes = sorted(a for a in result.failed_areas if a.startswith(CHANGED))
    failed_history = sorted(a for a in result.failed_areas if a.startswith(DELETED))
    # History entries of created and changed resources are changes too (same patients).
    found = classify(result.resources, mappings, kesimpta)
    return _changes(
        since,
        found,
        result.deleted,
        complete=not failed_changes and found_all,
        failed_history=failed_history,
        problems=[p for p in result.problems if p.startswith(CHANGED)],
    )


def _changes(
    since: datetime,
    found: _Found,
    deleted: Iterable[str],
    *,
    complete: bool,
    failed_history: list[str],
    problems: list[str],
) -> Changes:
    notes: list[str] = []
    if failed_history:
        notes.append(
            "This server did not answer history reads, so deleted records are noticed at the "
            "next full refresh."
        )
    return Changes(
        since=since,
        patients=frozenset(found.patients),
        maybe_members=frozenset(found.maybe),
        deleted=tuple(deleted),
        medications=frozenset(found.medications),
        kesimpta_medications=frozenset(found.kesimpta),
        group_changed=found.group,
        complete=complete,
        deletions_checked=not failed_history,
        problems=tuple(problems),
        resources=found.count,
        notes=tuple(notes),
    )


def changes_by_export(
    client: FhirClient,
    since: datetime,
    mappings: Mappings,
    *,
    readable: Iterable[str] | None = None,
    group: str | None = None,
    poll_interval_s: float = 5.0,
    max_wait_s: float = 1800.0,
) -> Changes:
    """The changes since `since` by a Bulk Data `$export` with `_since` (deletions by the
    history batch). Raises FhirError when the export cannot be run."""
    kesimpta, found_all = _kesimpta_medication_ids(client, mappings)
    url = fp.export_url(group) + f"&_since={quote(instant(since), safe='')}"
    export: BulkExport = client.bulk_export(
        url, poll_interval_s=poll_interval_s, max_wait_s=max_wait_s
    )
    try:
        found = classify(export, mappings, kesimpta)
    finally:
        export.close()
    history = client.batch_search(history_searches(since, readable=readable), max_pages=MAX_PAGES)
    return _changes(
        since,
        found,
        history.deleted,
        complete=found_all and not export.problems,
        failed_history=sorted(history.failed_areas),
        problems=list(export.problems),
    )
