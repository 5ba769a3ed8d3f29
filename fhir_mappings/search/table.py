"""The one table of the searches that read a patient's record, and how a search is written.

Each row of `RECORD_SEARCHES` says which resource type is searched, which record area it
feeds (so a failed search marks the right area incomplete), which value sets its `code=`
filter lists, whether it `_include`s the Medications the results reference, and which of
the app's identifier systems it is limited to. Both reads are derived from it, so a row
added here is read by both:

- the patient batch read (`queries.patient_searches`): one search per row for one patient,
  every code filter sent to the server;
- the worklist bulk read (`population.population_searches_for`): the same rows for a chunk
  of patients at once (`patient=Patient/a,Patient/b,…`). A row with `bulk_codes=False` is
  sent there without its code filter and filtered on arrival instead (`arrival_filters`):
  on HAPI/H2 a search over many patients AND many codes took 20-40 s a page where reading
  all of the chunk's Observations took 0.1 s. Rows that then ask the same search are asked
  once, feeding each of their areas (DiagnosticReport: labs and imaging).

Codes are `system|code` tokens joined by commas (OR); each token is percent-encoded (`|` as
%7C; `:` and `/` may stay, they are legal in a query). `identifier=<system>|` with an empty
code is valid FHIR token search: any identifier in that system (FHIR R4 search, token
parameters).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import quote

from fhir_mappings.canonical import CAREPLAN_IDENTIFIER_SYSTEM, TASK_IDENTIFIER_SYSTEM
from fhir_mappings.read.labs import LAB_VALUESETS
from fhir_mappings.site import Mappings

PAGE = 500  # the public HAPI server's maximum page size (hapi-server.md §5)


class SearchSpec(NamedTuple):
    """One search to run: the area it feeds (comma-separated when several) and its URL."""

    area: str
    url: str


class RecordSearch(NamedTuple):
    """One row of the table: a search that feeds one area of the patient's record."""

    rtype: str
    area: str
    #: The value sets whose codes the `code=` filter lists (none: no code filter).
    codes: tuple[str, ...] = ()
    #: `_include=<rtype>:medication`: the Medications the results reference.
    include_medication: bool = False
    #: `identifier=<system>|`: only the resources the app wrote.
    identifier: str | None = None
    #: Whether the bulk read sends the code filter too (False: filtered on arrival).
    bulk_codes: bool = True

    def url(self, subject: str, mappings: Mappings, *, codes: bool = True) -> str:
        """The search for `subject`: the patient search value (`_id` for the Patient row);
        `codes=False` leaves the code filter out."""
        parameter = "_id" if self.rtype == "Patient" else "patient"
        query = [f"{parameter}={subject}"]
        if codes and self.codes:
            query.append(f"code={code_tokens(mappings, *self.codes)}")
        if self.include_medication:
            query.append(f"_include={self.rtype}:medication")
        if self.identifier is not None:
            query.append(f"identifier={token(self.identifier)}")
        query.append(f"_count={PAGE}")
        return f"{self.rtype}?{'&'.join(query)}"


#: The searches of one patient's record, in the order the areas are read.
RECORD_SEARCHES: tuple[RecordSearch, ...] = (
    RecordSearch("Patient", "patient"),
    RecordSearch("Observation", "labs", codes=LAB_VALUESETS, bulk_codes=False),
    RecordSearch("DiagnosticReport", "labs", codes=("cbc-panel",), bulk_codes=False),
    RecordSearch("MedicationAdministration", "doses", include_medication=True),
    RecordSearch("MedicationRequest", "orders", include_medication=True),
    # Home therapy (SPEC §2): the pharmacy's dispenses and the patient's statements.
    RecordSearch("MedicationDispense", "doses", include_medication=True),
    RecordSearch("MedicationStatement", "doses", include_medication=True),
    RecordSearch("Immunization", "vaccinations"),
    RecordSearch("Condition", "conditions"),
    RecordSearch("AllergyIntolerance", "allergies"),
    RecordSearch("DiagnosticReport", "imaging", codes=("brain-mri",), bulk_codes=False),
    RecordSearch("ImagingStudy", "imaging"),
    RecordSearch("Procedure", "imaging", codes=("brain-mri",)),
    RecordSearch("Task", "tasks", identifier=TASK_IDENTIFIER_SYSTEM),
    RecordSearch("CarePlan", "tasks", identifier=CAREPLAN_IDENTIFIER_SYSTEM),
)


def bulk_searches(rows: Iterable[RecordSearch]) -> list[tuple[str, RecordSearch]]:
    """The rows as the bulk read asks them, each with the areas it feeds: a row with
    `bulk_codes=False` loses its code filter, and rows that then ask the same search are
    one (at the first one's place), feeding their areas in table order."""
    areas: dict[RecordSearch, list[str]] = {}
    for row in rows:
        asked = row if row.bulk_codes else row._replace(codes=())
        areas.setdefault(asked._replace(area=""), []).append(row.area)
    return [(",".join(dict.fromkeys(names)), row) for row, names in areas.items()]


def arrival_filters(rows: Iterable[RecordSearch]) -> dict[str, frozenset[str]]:
    """Per resource type, the value sets its code filters list, for reads that cannot filter
    on the server: a resource of that type belongs to the record only with such a code."""
    found: dict[str, set[str]] = {}
    for row in rows:
        if row.codes:
            found.setdefault(row.rtype, set()).update(row.codes)
    return {rtype: frozenset(valuesets) for rtype, valuesets in found.items()}


def token(system: str, code: str = "") -> str:
    """A `system|code` search token, percent-encoded."""
    return quote(f"{system}|{code}", safe=":/")


def code_tokens(mappings: Mappings, *valuesets: str) -> str:
    """Every code in force in these value sets as OR-ed tokens (each once, in order)."""
    return ",".join(dict.fromkeys(token(c.system, c.code) for c in mappings.codes(*valuesets)))
