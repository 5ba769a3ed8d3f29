"""Finding who may be on the worklist: candidates from a few searches, in a few batches.

1. Quick batch: `Patient?_has:MedicationRequest:patient:code=<Kesimpta>` (and for
   MedicationStatement), `Medication?code=<Kesimpta>`, patients with the app's CarePlan,
   the configured Group, best-effort text searches of orders and statements; then
   `Patient?_has:<type>:patient:medication=Medication/a,…` for the Medications found.
2. Per-dose batch: the same two questions for MedicationAdministration and
   MedicationDispense (`fp.PER_DOSE_TYPES`). It is asked separately because it is the slow
   one: the server joins every administration or dispense (a dozen a year per patient),
   where orders are one or two per patient. `smartapp.worklist.service`
   runs it alongside the bulk read of the quick batch's patients.

Only paging adds requests, so the cost grows with patients ÷ page size (500). A server
that refuses `_has` is asked the same questions of the medication resources directly
(`direct_population_searches`). Candidates are confirmed from their own data later
(`smartapp.worklist.service.membership`); the searches only have to find a superset.

In "group only" mode the population is the Group's members and nothing is searched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from fhir_mappings.search import population as fp
from fhir_mappings.search.table import SearchSpec
from fhir_mappings.site import Mappings
from smartapp.fhir import BatchResult, FhirClient

log = logging.getLogger("smartapp.worklist")


def _per_dose(area: str) -> bool:
    """A `_has` search over administrations or dispenses (area "<label> <type>")."""
    return area.rsplit(" ", 1)[-1] in fp.PER_DOSE_TYPES


def _coded_per_dose(area: str) -> bool:
    return area.startswith(f"{fp.PopulationSearch.CODED} ") and _per_dose(area)


#: Pages followed per population search (500 patients a page).
MAX_PAGES = 1000


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

    def merged(self, other: Population) -> Population:
        """Both populations: candidates in order (self first), problems of both."""
        return Population(
            candidates=tuple(dict.fromkeys(self.candidates + other.candidates)),
            group_members=self.group_members | other.group_members,
            complete=self.complete and other.complete,
            problems=tuple(dict.fromkeys(self.problems + other.problems)),
            notes=tuple(dict.fromkeys(self.notes + other.notes)),
            searches=self.searches + other.searches,
        )


def _problems_by_area(result: BatchResult) -> dict[str, str]:
    """{failed area: its problem sentence} (batch problems start with "<area> search")."""
    found: dict[str, str] = {}
    for area in result.failed_areas:
        text = next((t for t in result.problems if t.startswith(f"{area} search")), None)
        # A failed batch POST has one problem for all its areas: the reason is there.
        found[area] = text or (result.problems[0] if result.problems else f"{area} search failed")
    return found


def _is_text(area: str) -> bool:
    return area.startswith(fp.PopulationSearch.TEXT + " ")


def _run(client: FhirClient, specs: list[SearchSpec]) -> BatchResult:
    if not specs:
        return BatchResult([], frozenset(), (), [])
    return client.batch_search([(spec.area, spec.url) for spec in specs], max_pages=MAX_PAGES)


def _population(
    results: Iterable[BatchResult], failed: dict[str, str], group: str | None, notes: list[str]
) -> Population:
    resources = [r for result in results for r in result.resources]
    searches = tuple(q for result in results for q in result.queries)
    members: set[str] = set()
    for resource in resources:
        if resource.get("resourceType") == "Group":
            members.update(fp.group_members(resource))
    candidates = fp.subjects(r for r in resources if r.get("resourceType") != "Group")
    known = set(candidates)
    candidates += [pid for pid in sorted(members) if pid not in known]
    problems: list[str] = []
    for area, text in failed.items():
        if _is_text(area):
            notes.append(f"Text-only ofatumumab records could not be searched here ({text}).")
        else:
            problems.append(text)
    found_group = any(r.get("resourceType") == "Group" for r in resources)
    if group and fp.PopulationSearch.GROUP not in failed and not found_group:
        problems.append(f"The worklist Group/{group} was not found on the server.")
    hard = sorted(area for area in failed if not _is_text(area))
    if hard:
        problems.insert(
            0,
            "The worklist may be missing patients: some searches for patients on "
            "ofatumumab failed (" + ", ".join(hard) + ").",
        )
    return Population(
        candidates=tuple(dict.fromkeys(candidates)),
        group_members=frozenset(members),
        complete=not hard,
        problems=tuple(dict.fromkeys(problems)),
        notes=tuple(notes),
        searches=searches,
    )


class PopulationFinder:
    """The population searches of the module doc, in two parts that may run in parallel:
    `quick()` first, then `administrations()` (which needs `quick()`'s Medications)."""

    def __init__(
        self,
        mappings: Mappings,
        *,
        group: str | None = None,
        readable: Iterable[str] | None = None,
        text_search: bool = True,
    ) -> None:
        self.mappings = mappings
        self.group = group
        self.readable = None if readable is None else frozenset(readable)
        self.text_search = text_search
        self.medications: list[str] = []
        #: False once the server refused `_has` (the direct searches then cover everything).
        self.has_supported = True

    def quick(self, client: FhirClient) -> Population:
        """Everything but the administrations `_has` searches (module doc, step 1)."""
        specs = [
            spec
            for spec in fp.population_searches(
                self.mappings,
                group=self.group,
                readable=self.readable,
                text_search=self.text_search,
            )
            if not _coded_per_dose(spec.area)
        ]
        first = _run(client, specs)
        failed = _problems_by_area(first)
        results = [first]
        notes: list[str] = []
        if any(area.startswith(fp.PopulationSearch.CODED) for area in failed):
            # Most likely `_has` is not supported: ask the medication resources themselves.
            log.info("worklist: _has searches failed; trying direct population searches")
            self.has_supported = False
            fallback = _run(
                client, fp.direct_population_searches(self.mappings, readable=self.readable)
            )
            results.append(fallback)
            for area in [a for a in failed if a.startswith(fp.PopulationSearch.CODED)]:
                del failed[area]
            failed.pop(fp.PopulationSearch.CAREPLAN, None)
            failed.update(_problems_by_area(fallback))
            notes.append(
                "This server did not answer `_has` searches; the population was found by "
                "searching the medication records directly (slower on large servers)."
            )
        else:
            self.medications = fp.medication_ids(first.resources)
            second_specs = [
                spec
                for spec in fp.medication_population_searches(
                    self.medications, readable=self.readable
                )
                if not _per_dose(spec.area)
            ]
            second = _run(client, second_specs)
            results.append(second)
            failed.update(_problems_by_area(second))
        return _population(results, failed, self.group, notes)

    def administrations(self, client: FhirClient) -> Population:
        """Patients with Kesimpta administrations or dispenses, coded or by Medication
        (step 2)."""
        if not self.has_supported:
            return Population(candidates=())
        coded = [
            spec
            for spec in fp.population_searches(
                self.mappings, readable=self.readable, text_search=False
            )
            if _coded_per_dose(spec.area)
        ]
        by_medication = [
            spec
            for spec in fp.medication_population_searches(self.medications, readable=self.readable)
            if _per_dose(spec.area)
        ]
        result = _run(client, coded + by_medication)
        return _population([result], _problems_by_area(result), None, [])


def find_population(
    client: FhirClient,
    mappings: Mappings,
    *,
    group: str | None = None,
    group_only: bool = False,
    readable: Iterable[str] | None = None,
    text_search: bool = True,
) -> Population:
    """Search the server for the worklist's candidates (module doc), one part after the
    other. Never raises for a failed search (the result says incomplete); raises
    TokenExpired on 401."""
    if group_only:
        if not group:
            raise ValueError("group_only needs a group")
        return group_population(client, group)
    finder = PopulationFinder(mappings, group=group, readable=readable, text_search=text_search)
    quick = finder.quick(client)
    return quick.merged(finder.administrations(client))


def group_population(client: FhirClient, group: str) -> Population:
    """The configured Group's members (one search)."""
    result = _run(client, [SearchSpec(fp.PopulationSearch.GROUP, f"Group?_id={group}")])
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
