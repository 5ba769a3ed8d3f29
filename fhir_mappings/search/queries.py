"""The FHIR searches that read one patient: one batch Bundle, SPEC §5 "at most 2 round trips".

Pure data: relative URLs with their record area, one per row of the one table of record
searches (`table.RECORD_SEARCHES`, shared with the worklist's bulk read); the HTTP client
runs them. The Patient itself is read by id.
"""

from __future__ import annotations

from urllib.parse import quote

from fhir_mappings.search import table
from fhir_mappings.search.table import SearchSpec
from fhir_mappings.site import Mappings


def patient_searches(patient_id: str, mappings: Mappings) -> list[SearchSpec]:
    """The searches for one patient's record, in the order the areas are read."""
    patient = quote(patient_id, safe="")
    return [
        SearchSpec(row.area, f"Patient/{patient}")
        if row.rtype == "Patient"
        else SearchSpec(row.area, row.url(patient, mappings))
        for row in table.RECORD_SEARCHES
    ]
