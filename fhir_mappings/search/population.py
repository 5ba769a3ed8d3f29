"""The worklist population and its bulk read: which searches find it, and how to split results.

Who is on the worklist (SPEC §1, care coordinator): patients with an ofatumumab (Kesimpta)
MedicationAdministration, MedicationDispense, MedicationRequest or MedicationStatement,
coded or through a Medication whose code matches; members of a configured `Group`;
patients with the app's own CarePlan. Everything here is pure data and JSON inspection (no
HTTP): the worklist runs the searches with the FHIR client.

How the searches are shaped (verified against HAPI FHIR 8 JPA, see docs/worklist.md):

- `Patient?_has:<Type>:patient:code=<Kesimpta tokens>&_elements=id` returns each patient
  once however many doses they had. Searching the medication resources themselves would
  return one entry per dose (60+ per patient over a few years).
- Chained search inside `_has` (`_has:MedicationAdministration:patient:medication.code=`)
  is refused by HAPI (HAPI-1250), so a referenced Medication is found in two steps:
  `Medication?code=<tokens>&_elements=id`, then `Patient?_has:<Type>:patient:medication=
  Medication/a,Medication/b,…` in chunks of `MEDICATION_CHUNK` ids.
- `code:text=` works on HAPI's token indexes but not inside `_has` (HAPI-1209), so the
  best-effort text searches (`TEXT_WORDS`) read MedicationRequest and MedicationStatement
  directly with `_elements=subject` (one or two per patient; never the administrations or
  dispenses, one a month per patient).
- A server without `_has` gets `direct_population_searches`: the same questions asked of
  the medication resources with `_elements=subject` (correct, but one entry per dose).

Token search is exact string matching on the server: an NDC is sent in its usual
spellings (10-digit hyphenated as in the value set, 11-digit with and without hyphens,
10-digit without hyphens). What no server search can find (text-only and contained
medications, unlisted package codes, other system URIs) is listed in docs/worklist.md.

Bulk reads (`population_searches_for`) are the per-patient searches of `queries.py` asked
for many patients at once (`patient=Patient/a,Patient/b,…`), so the number of requests
grows with patients ÷ chunk size (plus paging at `PAGE` entries), never with patients.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from fhir_mappings.canonical import CAREPLAN_IDENTIFIER_SYSTEM
from fhir_mappings.errors import Malformed
from fhir_mappings.fhirjson import matches, reference_target
from fhir_mappings.ids import is_fhir_id
from fhir_mappings.search import table
from fhir_mappings.search.table import PAGE, SearchSpec, arrival_filters, bulk_searches, token
from fhir_mappings.site import KESIMPTA_VALUESET, Mappings
from fhir_mappings.systems import SYSTEMS, system_key

__all__ = [
    "CHUNK",
    "EVIDENCE_CAREPLAN",
    "EXPORT_TYPES",
    "MEDICATION_CHUNK",
    "MEDICATION_TYPES",
    "PAGE",
    "PER_DOSE_TYPES",
    "REPORT_AREAS",
    "BucketStore",
    "MemoryBuckets",
    "PatientGroups",
    "PopulationSearch",
    "app_careplan_subject",
    "chunks",
    "direct_population_searches",
    "export_url",
    "group_id",
    "group_members",
    "has_app_careplan",
    "kesimpta_tokens",
    "medication_ids",
    "medication_population_searches",
    "patient_of",
    "placeholder_patient",
    "population_searches",
    "population_searches_for",
    "search_relevant",
    "subjects",
]

#: Patients per bulk read: `patient=` lists of this many ids keep a search URL near 2 kB
#: (UUID ids) and a page of 500 entries covers most areas of a chunk in one or two pages.
CHUNK = 50
#: Medication ids per `_has:…:medication=` search in the second population step.
MEDICATION_CHUNK = 100
#: The types whose ofatumumab records put a patient on the worklist, and their patient
#: search parameter.
MEDICATION_TYPES: tuple[tuple[str, str], ...] = (
    ("MedicationAdministration", "patient"),
    ("MedicationDispense", "patient"),
    ("MedicationRequest", "patient"),
    ("MedicationStatement", "patient"),
)
#: Types with one record per dose (a dozen a year per patient): their `_has` searches are
#: the slow ones, asked in their own batch (`smartapp.worklist.population`).
PER_DOSE_TYPES = frozenset({"MedicationAdministration", "MedicationDispense"})
#: Types read by the text searches (administrations are too many per patient).
TEXT_SEARCH_TYPES = ("MedicationRequest", "MedicationStatement")
#: The words a text-only record may carry; the rules still ask for a subcutaneous route or a
#: 20 mg dose before counting it (SPEC §2), so Arzerra found by "ofatumumab" is dropped.
TEXT_WORDS = ("kesimpta", "ofatumumab")
#: What the worklist's `$export` asks for: everything `read_patient_record` reads.
EXPORT_TYPES: tuple[str, ...] = (
    "Patient",
    "Observation",
    "MedicationAdministration",
    "MedicationDispense",
    "Medication",
    "MedicationRequest",
    "MedicationStatement",
    "Immunization",
    "Condition",
    "AllergyIntolerance",
    "DiagnosticReport",
    "ImagingStudy",
    "Procedure",
    "Task",
    "CarePlan",
)

_SUBJECT_FIELDS = ("subject", "patient", "for")
_NDC = SYSTEMS["ndc"].uri


class PopulationSearch:
    """Labels of the population searches (areas; they name failed searches for people)."""

    CODED = "coded"  # `_has` by code: MedicationAdministration/Request/Statement
    MEDICATION = "Kesimpta Medications"  # step 1 of "by referenced Medication"
    BY_MEDICATION = "by Medication"  # `_has` by Medication reference (step 2)
    CAREPLAN = "app CarePlans"
    GROUP = "worklist Group"
    TEXT = "text"  # best effort: text-only orders and statements


def _ndc_spellings(code: str) -> list[str]:
    """The spellings an NDC is stored under: as given, 11-digit 5-4-2 with and without
    hyphens, and the hyphen-free form of the one given (product codes: 5-4 / 9 digits)."""
    text = code.strip()
    found = [text]
    parts = text.split("-")
    if len(parts) in (2, 3) and all(part.isdigit() for part in parts):
        widths = (5, 4, 2)
        eleven = [part.zfill(width) for part, width in zip(parts, widths, strict=False)]
        found += ["-".join(eleven), "".join(eleven), "".join(parts)]
    return list(dict.fromkeys(found))


def kesimpta_tokens(mappings: Mappings) -> list[str]:
    """`system|code` search tokens (percent-encoded) for every Kesimpta code in force."""
    tokens: list[str] = []
    for code in mappings.codes(KESIMPTA_VALUESET):
        if system_key(code.system) == "ndc":
            tokens += [token(_NDC, spelling) for spelling in _ndc_spellings(code.code)]
        else:
            tokens.append(token(code.system, code.code))
    return list(dict.fromkeys(tokens))


def population_searches(
    mappings: Mappings,
    *,
    group: str | None = None,
    readable: Iterable[str] | None = None,
    text_search: bool = True,
) -> list[SearchSpec]:
    """The first round of population searches (one batch): coded `_has` searches, the
    Kesimpta Medications (for `medication_population_searches`), the app's CarePlans, the
    Group (`Group/<id>` read; members via `group_members`), and the text searches.

    `readable`: the resource types the token may read (None: all). A search that needs an
    unreadable type is left out rather than failing the population.
    """
    allowed = _allowed(readable)
    codes = ",".join(kesimpta_tokens(mappings))
    specs: list[SearchSpec] = []
    for rtype, param in MEDICATION_TYPES:
        if allowed(rtype) and allowed("Patient"):
            specs.append(
                SearchSpec(
                    f"{PopulationSearch.CODED} {rtype}",
                    f"Patient?_has:{rtype}:{param}:code={codes}&_elements=id&_count={PAGE}",
                )
            )
    if allowed("Medication"):
        specs.append(
            SearchSpec(
                PopulationSearch.MEDICATION,
                f"Medication?code={codes}&_elements=id&_count={PAGE}",
            )
        )
    if allowed("CarePlan") and allowed("Patient"):
        specs.append(
            SearchSpec(
                PopulationSearch.CAREPLAN,
                f"Patient?_has:CarePlan:patient:identifier={token(CAREPLAN_IDENTIFIER_SYSTEM)}"
                f"&_elements=id&_count={PAGE}",
            )
        )
    if group and allowed("Group"):
        specs.append(SearchSpec(PopulationSearch.GROUP, f"Group?_id={quote(group, safe='')}"))
    if text_search:
        words = ",".join(TEXT_WORDS)
        for rtype in TEXT_SEARCH_TYPES:
            if allowed(rtype):
                specs.append(
                    SearchSpec(
                        f"{PopulationSearch.TEXT} {rtype}",
                        f"{rtype}?code:text={words}&_elements=subject&_count={PAGE}",
                    )
                )
    return specs


def medication_population_searches(
    medication_refs: Sequence[str],
    *,
    readable: Iterable[str] | None = None,
    chunk_size: int = MEDICATION_CHUNK,
) -> list[SearchSpec]:
    """Step 2: patients whose records reference one of these Medications (`Medication/x`)."""
    allowed = _allowed(readable)
    specs: list[SearchSpec] = []
    for chunk in chunks(medication_refs, chunk_size):
        refs = ",".join(quote(ref, safe="/") for ref in chunk)
        for rtype, param in MEDICATION_TYPES:
            if allowed(rtype) and allowed("Patient"):
                specs.append(
                    SearchSpec(
                        f"{PopulationSearch.BY_MEDICATION} {rtype}",
                        f"Patient?_has:{rtype}:{param}:medication={refs}"
                        f"&_elements=id&_count={PAGE}",
                    )
                )
    return specs


def direct_population_searches(
    mappings: Mappings, *, readable: Iterable[str] | None = None
) -> list[SearchSpec]:
    """The coded searches for servers without `_has`: the medication resources themselves
    (`code=` and the chained `medication.code=`), only their subject. One entry per record."""
    allowed = _allowed(readable)
    codes = ",".join(kesimpta_tokens(mappings))
    specs: list[SearchSpec] = []
    for rtype, _ in MEDICATION_TYPES:
        if not allowed(rtype):
            continue
        for param, kind in (("code", PopulationSearch.CODED), ("medication.code", "chained")):
            specs.append(
                SearchSpec(
                    f"{kind} {rtype}",
                    f"{rtype}?{param}={codes}&_elements=subject&_count={PAGE}",
                )
            )
    if allowed("CarePlan"):
        specs.append(
            SearchSpec(
                PopulationSearch.CAREPLAN,
                f"CarePlan?identifier={token(CAREPLAN_IDENTIFIER_SYSTEM)}"
                f"&_elements=subject&_count={PAGE}",
            )
        )
    return specs


def _allowed(readable: Iterable[str] | None) -> Any:
    if readable is None:
        return lambda _rtype: True
    types = frozenset(readable)
    return lambda rtype: rtype in types


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[tuple[str, ...]]:
    """`items` in consecutive slices of at most `size` (order kept)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])


def population_searches_for(
    patient_ids: Sequence[str],
    mappings: Mappings,
    *,
    chunk_size: int = CHUNK,
    readable: Iterable[str] | None = None,
) -> list[SearchSpec]:
    """The per-patient searches of `queries.patient_searches`, for many patients at once:
    the rows of the one table (`table.RECORD_SEARCHES`) as `table.bulk_searches` asks them.

    Observations and DiagnosticReports are read without a `code=` filter (see `table`) and
    the same codes are applied on arrival (`search_relevant`), so the record is the one the
    per-patient searches give. One DiagnosticReport search feeds two areas (`REPORT_AREAS`).

    Each area is one search per chunk of `chunk_size` ids (`patient=Patient/a,Patient/b`),
    the Patients themselves by `_id`. Callers that want a failed search to mark only the
    affected patients incomplete run one chunk per batch.
    `readable`: the resource types the token may read (None: all); others are left out.
    """
    allowed = _allowed(readable)
    rows = [
        (areas, row) for areas, row in bulk_searches(table.RECORD_SEARCHES) if allowed(row.rtype)
    ]
    specs: list[SearchSpec] = []
    for chunk in chunks(patient_ids, chunk_size):
        for patient_id in chunk:
            if not is_fhir_id(patient_id):
                raise ValueError(f"not a FHIR id: {patient_id!r}")
        ids = ",".join(chunk)
        refs = ",".join(f"Patient/{patient_id}" for patient_id in chunk)
        specs += [
            SearchSpec(areas, row.url(ids if row.rtype == "Patient" else refs, mappings))
            for areas, row in rows
        ]
    return specs


#: The area of the bulk DiagnosticReport search: both the labs (CBC) and imaging (MRI) areas.
REPORT_AREAS = next(
    areas for areas, row in bulk_searches(table.RECORD_SEARCHES) if row.rtype == "DiagnosticReport"
)


def search_relevant(resource: Mapping[str, Any], mappings: Mappings) -> bool:
    """Whether the per-patient searches (`queries.patient_searches`, which filter by code
    on the server) would return this resource: an Observation coded as one of our labs, a
    DiagnosticReport coded as a CBC or brain MRI, a Procedure coded as a brain MRI (the code
    filters of `table.RECORD_SEARCHES`). Other types: True. A resource whose code cannot be
    read is kept, so the reader reports it."""
    rtype = resource.get("resourceType")
    valuesets = _CODE_FILTERED.get(rtype) if isinstance(rtype, str) else None
    if valuesets is None:
        return True
    try:
        return any(m.valueset in valuesets for m in matches(resource.get("code"), mappings, ""))
    except Malformed:
        return True


_CODE_FILTERED = arrival_filters(table.RECORD_SEARCHES)


# -- reading what the searches return ------------------------------------------------------


def _patient_id(reference: object) -> str | None:
    """The id of a Patient reference (`Patient/1`, absolute, versioned); None otherwise."""
    if not isinstance(reference, str) or not reference or reference.startswith("#"):
        return None
    kind, target = reference_target(reference)
    if kind != "Patient" or not is_fhir_id(target):
        return None
    return target


def patient_of(resource: Mapping[str, Any]) -> str | None:
    """The patient a resource belongs to: its own id for a Patient, else the first of
    subject / patient / for that is a Patient reference (None when there is none)."""
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) and is_fhir_id(rid) else None
    for name in _SUBJECT_FIELDS:
        element = resource.get(name)
        if isinstance(element, dict):
            found = _patient_id(element.get("reference"))
            if found is not None:
                return found
    return None


def subjects(resources: Iterable[Mapping[str, Any]]) -> list[str]:
    """Patient ids found in search results (Patients and subjects), first-seen order."""
    found: dict[str, None] = {}
    for resource in resources:
        pid = patient_of(resource)
        if pid is not None:
            found[pid] = None
    return list(found)


def medication_ids(resources: Iterable[Mapping[str, Any]]) -> list[str]:
    """`Medication/<id>` of every Medication resource in the results."""
    found: dict[str, None] = {}
    for resource in resources:
        rid = resource.get("id")
        if resource.get("resourceType") == "Medication" and isinstance(rid, str):
            if is_fhir_id(rid):
                found[f"Medication/{rid}"] = None
    return list(found)


def group_id(text: str) -> str:
    """The id of `Group/<id>` or `<id>`; ValueError when it is neither."""
    value = text.strip()
    if value.startswith("Group/"):
        value = value[len("Group/") :]
    if not is_fhir_id(value):
        raise ValueError(f"'{text}' is not Group/<id>")
    return value


def group_members(group: Mapping[str, Any]) -> list[str]:
    """Patient ids of a Group's active members (`member.inactive` true is left out)."""
    found: dict[str, None] = {}
    members = group.get("member")
    for member in members if isinstance(members, list) else []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        entity = member.get("entity")
        pid = _patient_id(entity.get("reference")) if isinstance(entity, dict) else None
        if pid is not None:
            found[pid] = None
    return list(found)


def app_careplan_subject(resource: Mapping[str, Any]) -> str | None:
    """The patient of a CarePlan this app wrote (identifier system `{canonical}/careplan`)."""
    if resource.get("resourceType") != "CarePlan":
        return None
    identifiers = resource.get("identifier")
    for identifier in identifiers if isinstance(identifiers, list) else []:
        system = identifier.get("system") if isinstance(identifier, dict) else None
        if isinstance(system, str) and system.rstrip("/") == CAREPLAN_IDENTIFIER_SYSTEM:
            return patient_of(resource)
    return None


def _medication_reference(resource: Mapping[str, Any]) -> str | None:
    element = resource.get("medicationReference")
    reference = element.get("reference") if isinstance(element, dict) else None
    if not isinstance(reference, str) or reference.startswith("#"):
        return None
    kind, target = reference_target(reference)
    return target if kind in ("Medication", "") and target else None


#: Membership evidence found in a patient's own data besides therapy records.
EVIDENCE_CAREPLAN = "app CarePlan"


def has_app_careplan(resources: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the patient's resources hold the app's CarePlan (it keeps them on the list)."""
    return any(app_careplan_subject(resource) is not None for resource in resources)


def placeholder_patient(patient_id: str) -> dict[str, Any]:
    """A stand-in Patient for one the population names but whose Patient could not be read,
    so the record can still be evaluated (as incomplete: its checks say unknown)."""
    return {"resourceType": "Patient", "id": patient_id}


def export_url(group: str | None = None, types: Sequence[str] = EXPORT_TYPES) -> str:
    """The Bulk Data kick-off: `Group/<id>/$export` or system-level `$export`, with `_type`."""
    query = f"?_type={','.join(types)}"
    if group:
        return f"Group/{quote(group, safe='')}/$export{query}"
    return f"$export{query}"


class BucketStore(Protocol):
    """Where `PatientGroups` keeps each patient's resources until they are taken.

    `MemoryBuckets` (the default) holds them in dicts; a caller filing a whole server's
    export can pass one that keeps them elsewhere (the worklist spools them to disk).
    """

    def append(self, patient_id: str, resource: dict[str, Any]) -> None: ...

    def take(self, patient_id: str) -> list[dict[str, Any]]:
        """The patient's resources in arrival order, forgotten by the store."""
        ...

    def peek(self, patient_id: str) -> list[dict[str, Any]]:
        """The patient's resources in arrival order, kept."""
        ...


class MemoryBuckets:
    """A `BucketStore` in memory: enough for a chunk of patients."""

    def __init__(self) -> None:
        self._buckets: dict[str, list[dict[str, Any]]] = {}

    def append(self, patient_id: str, resource: dict[str, Any]) -> None:
        self._buckets.setdefault(patient_id, []).append(resource)

    def take(self, patient_id: str) -> list[dict[str, Any]]:
        return self._buckets.pop(patient_id, [])

    def peek(self, patient_id: str) -> list[dict[str, Any]]:
        return list(self._buckets.get(patient_id, ()))


class PatientGroups:
    """Resources sorted into one bucket per patient as they arrive, Medications kept once.

    `add` files a resource under the patient it belongs to (`patient_of`); Medications go
    to a shared table and each patient later gets only the ones its resources reference
    (`resources_for`), so a cohort sharing a few product Medications does not copy them.
    With `wanted`, resources of other patients are dropped on arrival. The buckets live in
    `store` (default: in memory); the bookkeeping (order, references) stays here.
    """

    def __init__(
        self, wanted: Iterable[str] | None = None, store: BucketStore | None = None
    ) -> None:
        self._wanted = None if wanted is None else frozenset(wanted)
        self._store: BucketStore = store if store is not None else MemoryBuckets()
        self._order: dict[str, None] = {}
        self._with_patient: set[str] = set()
        self._medications: dict[str, dict[str, Any]] = {}
        self._references: dict[str, set[str]] = {}
        self.unassigned = 0

    def add(self, resource: dict[str, Any]) -> str | None:
        """File one resource; the patient id it went to (None: Medication or no patient)."""
        if resource.get("resourceType") == "Medication":
            rid = resource.get("id")
            if isinstance(rid, str) and rid:
                self._medications[rid] = resource
            return None
        pid = patient_of(resource)
        if pid is None:
            self.unassigned += 1
            return None
        if self._wanted is not None and pid not in self._wanted:
            return None
        self._store.append(pid, resource)
        self._order[pid] = None
        if resource.get("resourceType") == "Patient":
            self._with_patient.add(pid)
        target = _medication_reference(resource)
        if target is not None:
            self._references.setdefault(pid, set()).add(target)
        return pid

    def extend(self, resources: Iterable[dict[str, Any]]) -> None:
        for resource in resources:
            self.add(resource)

    @property
    def medications(self) -> Mapping[str, dict[str, Any]]:
        return self._medications

    def patient_ids(self) -> list[str]:
        """Patients with at least one resource, in first-seen order."""
        return list(self._order)

    def _medications_for(self, patient_id: str) -> list[dict[str, Any]]:
        return [
            self._medications[target]
            for target in sorted(self._references.get(patient_id, ()))
            if target in self._medications
        ]

    def resources_for(self, patient_id: str) -> list[dict[str, Any]]:
        """The patient's resources plus the Medications they reference."""
        return self._store.peek(patient_id) + self._medications_for(patient_id)

    def has_patient_resource(self, patient_id: str) -> bool:
        return patient_id in self._with_patient

    def pop(self, patient_id: str) -> list[dict[str, Any]]:
        """`resources_for`, then forget the patient (frees memory while streaming)."""
        resources = self._store.take(patient_id) + self._medications_for(patient_id)
        self._order.pop(patient_id, None)
        self._with_patient.discard(patient_id)
        self._references.pop(patient_id, None)
        return resources
