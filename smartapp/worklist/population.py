"""Finding who may be on the worklist: candidates from a few searches, in two batches.

1. One batch: `Patient?_has:<medication type>:patient:code=<Kesimpta>` for administrations,
   orders and statements; `Medication?code=<Kesimpta>`; patients with the app's CarePlan;
   the configured Group; and best-effort text searches of orders and statements.
2. One batch: `Patient?_has:<type>:patient:medication=Medication/a,…` for the Medications
   found in step 1 (chunks of 100 ids).

Only paging adds requests, so the cost grows with patients ÷ page size (500). A server
that refuses `_has` is asked the same questions of the medication resources directly
(`direct_population_searches`). Candidates are confirmed from their own data later
(`smartapp.worklist.membership`); the searches only have to find a superset.

In "group only" mode the population is the Group's members and nothing is searched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from fhir_mappings import population as fp
from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient

log = logging.getLogger("smartapp.worklist")


@dataclass(frozen=True)
class Population:
    """The candidates to read, the Group's members, and what went wrong finding them."""

    candidates: tuple[str, ...]
    group_members: frozenset[str] = frozenset()
    #: The worklist may be missing patients (a population search failed).
    complete: bool = True
    #: One sentence per problem, for the "data incomplete" banner.
    problems: tuple[str, ...] = ()
    #: Things worth knowing that are not failures (e.g. text search unsupported).
    notes: tuple[str, ...] = ()
    searches: tuple[str, ...] = field(default=(), compare=False)


def _problems_by_area(areas: Iterable[str], problems: Iterable[str]) -> dict[str, str]:
    """{failed area: its problem sentence} (batch problems start with "<area> search")."""
    texts = list(problems)
    found: dict[str, str] = {}
    for area in areas:
        text = next((t for t in texts if t.startswith(f"{area} search")), None)
        found[area] = text or f"{area} search failed"
    return found


def _is_text(area: str) -> bool:
    return area.startswith(fp.PopulationSearch.TEXT + " ")


def find_population(
    client: FhirClient,
    mappings: Mappings,
    *,
    group: str | None = None,
    group_only: bool = False,
    readable: Iterable[str] | None = None,
    text_search: bool = True,
) -> Population:
    """Search the server for the worklist's candidates (module doc). Never raises for a
    failed search (the result says incomplete); raises TokenExpired on 401."""
    readable = None if readable is None else frozenset(readable)
    if group_only:
        if not group:
            raise ValueError("group_only needs a group")
        return _group_population(client, group)
    specs = fp.population_searches(
        mappings, group=group, readable=readable, text_search=text_search
    )
    first = client.batch_search([(spec.area, spec.url) for spec in specs])
    resources = list(first.resources)
    searches = list(first.queries)
    failed = _problems_by_area(first.failed_areas, first.problems)
    notes: list[str] = []
    if any(area.startswith(fp.PopulationSearch.CODED) for area in failed):
        # Most likely `_has` is not supported: ask the medication resources themselves.
        log.info("worklist: _has searches failed; trying direct population searches")
        direct = fp.direct_population_searches(mappings, readable=readable)
        fallback = client.batch_search([(spec.area, spec.url) for spec in direct])
        searches += fallback.queries
        resources += fallback.resources
        for area in [a for a in failed if a.startswith(fp.PopulationSearch.CODED)]:
            del failed[area]
        failed.pop(fp.PopulationSearch.CAREPLAN, None)
        failed.update(_problems_by_area(fallback.failed_areas, fallback.problems))
        notes.append(
            "This server did not answer `_has` searches; the population was found by "
            "searching the medication records directly (slower on large servers)."
        )
    else:
        medications = fp.medication_ids(resources)
        if medications:
            second_specs = fp.medication_population_searches(medications, readable=readable)
            second = client.batch_search([(spec.area, spec.url) for spec in second_specs])
            searches += second.queries
            resources += second.resources
            failed.update(_problems_by_area(second.failed_areas, second.problems))
    problems: list[str] = []
    for area, text in failed.items():
        if _is_text(area):
            notes.append(f"Text-only ofatumumab records could not be searched here ({text}).")
        else:
            problems.append(text)
    hard_failures = sorted(area for area in failed if not _is_text(area))
    members: set[str] = set()
    for resource in resources:
        if resource.get("resourceType") == "Group":
            members.update(fp.group_members(resource))
    candidates = fp.subjects(r for r in resources if r.get("resourceType") != "Group")
    candidates += [pid for pid in sorted(members) if pid not in set(candidates)]
    if (
        group
        and fp.PopulationSearch.GROUP not in failed
        and not any(r.get("resourceType") == "Group" for r in resources)
    ):
        problems.append(f"The worklist Group/{group} was not found on the server.")
    if hard_failures:
        problems.insert(
            0,
            "The worklist may be missing patients: some searches for patients on "
            "ofatumumab failed (" + ", ".join(hard_failures) + ").",
        )
    return Population(
        candidates=tuple(dict.fromkeys(candidates)),
        group_members=frozenset(members),
        complete=not hard_failures,
        problems=tuple(problems),
        notes=tuple(notes),
        searches=tuple(searches),
    )


def _group_population(client: FhirClient, group: str) -> Population:
    result = client.batch_search([(fp.PopulationSearch.GROUP, f"Group?_id={group}")])
    groups = [r for r in result.resources if r.get("resourceType") == "Group"]
    problems = list(result.problems)
    if not groups and not result.failed_areas:
        problems.append(f"The worklist Group/{group} was not found on the server.")
    members = [pid for g in groups for pid in fp.group_members(g)]
    return Population(
        candidates=tuple(dict.fromkeys(members)),
        group_members=frozenset(members),
        complete=not result.failed_areas and bool(groups),
        problems=tuple(problems),
        searches=tuple(result.queries),
    )
