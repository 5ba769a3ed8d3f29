"""Both reads of a patient's record, one patient and the worklist's bulk read, come from the
one table of record searches (fhir_mappings.search.table)."""

from __future__ import annotations

import pytest

from fhir_mappings.search import population as fp
from fhir_mappings.search import table
from fhir_mappings.search.queries import patient_searches
from fhir_mappings.search.table import RECORD_SEARCHES, RecordSearch
from fhir_mappings.site import default_mappings

ENCOUNTERS = RecordSearch("Encounter", "encounters", codes=("brain-mri",))


def both_reads() -> tuple[list[str], list[str]]:
    mappings = default_mappings()
    patient = [spec.url for spec in patient_searches("p1", mappings)]
    bulk = [spec.url for spec in fp.population_searches_for(["p1", "p2"], mappings)]
    return patient, bulk


def resource_types(urls: list[str]) -> list[str]:
    return [url.split("?")[0].split("/")[0] for url in urls]


def test_every_row_is_read_by_both_in_table_order() -> None:
    patient, bulk = both_reads()
    rows = [row.rtype for row in RECORD_SEARCHES]
    assert resource_types(patient) == rows
    assert resource_types(bulk) == list(dict.fromkeys(rows))  # DiagnosticReport asked once


def test_a_row_added_to_the_table_is_read_by_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table, "RECORD_SEARCHES", (*RECORD_SEARCHES, ENCOUNTERS))
    mappings = default_mappings()
    mri = table.code_tokens(mappings, "brain-mri")
    patient, bulk = both_reads()
    assert patient[-1] == f"Encounter?patient=p1&code={mri}&_count=500"
    assert bulk[-1] == f"Encounter?patient=Patient/p1,Patient/p2&code={mri}&_count=500"
    specs = fp.population_searches_for(["p1"], mappings)
    assert specs[-1].area == patient_searches("p1", mappings)[-1].area == "encounters"


def test_a_row_removed_from_the_table_is_read_by_neither(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = tuple(row for row in RECORD_SEARCHES if row.rtype != "Immunization")
    monkeypatch.setattr(table, "RECORD_SEARCHES", kept)
    patient, bulk = both_reads()
    assert "Immunization" not in resource_types(patient) + resource_types(bulk)


def test_rows_filtered_on_arrival_are_one_bulk_search_feeding_each_area() -> None:
    merged = table.bulk_searches(
        [
            RecordSearch("DiagnosticReport", "labs", codes=("cbc-panel",), bulk_codes=False),
            RecordSearch("DiagnosticReport", "imaging", codes=("brain-mri",), bulk_codes=False),
            RecordSearch("Procedure", "imaging", codes=("brain-mri",)),
        ]
    )
    assert [(areas, row.rtype, row.codes) for areas, row in merged] == [
        ("labs,imaging", "DiagnosticReport", ()),
        ("imaging", "Procedure", ("brain-mri",)),
    ]
    assert fp.REPORT_AREAS == "labs,imaging"


def test_the_arrival_filters_are_the_tables_code_filters() -> None:
    assert table.arrival_filters(RECORD_SEARCHES) == {
        "Observation": frozenset(RECORD_SEARCHES[1].codes),
        "DiagnosticReport": frozenset({"cbc-panel", "brain-mri"}),
        "Procedure": frozenset({"brain-mri"}),
    }


def test_the_export_asks_for_every_type_the_table_reads() -> None:
    assert set(fp.EXPORT_TYPES) == {row.rtype for row in RECORD_SEARCHES} | {"Medication"}
