"""The worklist read in bulk: who is on it, what it costs, how failures stay local."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses

from fhir_mappings.read.record import read_patient_record
from fhir_mappings.search.population import EXPORT_TYPES
from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient
from smartapp.report import summary_json
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings
from smartapp.worklist import Worklist, WorklistOptions
from tests.support.fake_fhir import FakeFhir
from tests.worklist.cohort import (
    AS_OF,
    app_task,
    build,
    build_at,
    generated,
    group,
    other_drug_patient,
    patient,
    planned_patient,
    statement_patient,
    stopped_order_patient,
    text_only_patient,
)

Resources = list[dict[str, Any]]


def run(
    rsps: responses.RequestsMock,
    client: FhirClient,
    mappings: Mappings,
    settings: RuleSettings,
    resources: Resources,
    **kwargs: Any,
) -> tuple[Worklist, FakeFhir]:
    server_kw = {k: kwargs.pop(k) for k in ("page_size", "has_supported", "fail") if k in kwargs}
    server = FakeFhir(resources, **server_kw).install(rsps)
    options = WorklistOptions(**{"workers": 1, **kwargs})
    return build(client, mappings, settings, options), server


def ids(worklist: Worklist) -> set[str]:
    return {row.patient_id for row in worklist.rows}


def test_every_generated_patient_is_listed(rsps, client, mappings, settings) -> None:
    worklist, _ = run(rsps, client, mappings, settings, generated(12))
    assert ids(worklist) == {f"gen-3-{i:06d}" for i in range(12)}
    assert worklist.complete and worklist.excluded == 0
    assert all("Kesimpta doses" in row.membership for row in worklist.rows)


@pytest.mark.parametrize("patients", [60, 120, 240])
def test_requests_grow_with_patients_over_chunk_size_not_patients(
    rsps, client, mappings, settings, patients: int
) -> None:
    worklist, server = run(rsps, client, mappings, settings, generated(patients))
    assert len(worklist.rows) == patients
    # Population: one quick batch, one by-Medication batch, one administrations batch.
    # Then one batch POST per chunk of 50 patients; only paging (500 a page) adds GETs.
    assert server.count("POST") == 3 + math.ceil(patients / 50)
    assert server.count("GET", paging=False) == 0
    assert worklist.requests == len(server.requests)
    assert worklist.requests < patients / 10 + 10


def test_120_patients_cost_a_constant_number_of_batches_plus_paging(
    rsps, client, mappings, settings
) -> None:
    worklist, server = run(rsps, client, mappings, settings, generated(120), page_size=100)
    pages = server.count("GET", paging=True)
    assert server.count("POST") == 6
    assert pages > 0  # small pages: the administrations and observations of a chunk page
    assert worklist.requests == 6 + pages


def test_parallel_workers_read_the_same_rows_with_the_same_requests(
    rsps, client, mappings, settings
) -> None:
    worklist, server = run(rsps, client, mappings, settings, generated(160), workers=4)
    assert len(worklist.rows) == 160
    assert server.count("POST") == 3 + 4
    assert worklist.requests == len(server.requests)


def test_rows_equal_evaluating_each_patient_alone(rsps, client, mappings, settings) -> None:
    resources = generated(8)
    worklist, _ = run(rsps, client, mappings, settings, resources)
    for row in worklist.rows:
        alone = read_patient_record(resources, row.patient_id, mappings=mappings)
        assert summary_json(row.summary) == summary_json(evaluate(alone, AS_OF, settings))


def test_a_failed_search_marks_only_that_chunks_patients_incomplete(
    rsps, client, mappings, settings
) -> None:
    failed_chunk: set[str] = set()

    def fail(url: str) -> int | None:
        if url.startswith("Observation?") and "Patient/gen-3-000050," in url + ",":
            refs = parse_qs(url.split("?", 1)[1])["patient"][0].split(",")
            failed_chunk.update(ref.removeprefix("Patient/") for ref in refs)
            return 500
        return None

    worklist, _ = run(rsps, client, mappings, settings, generated(100), fail=fail)
    assert len(failed_chunk) == 50
    assert len(worklist.rows) == 100
    for row in worklist.rows:
        ig_low = next(f for f in row.summary.findings if f.check == "ig-low")
        if row.patient_id in failed_chunk:
            assert row.incomplete
            assert "labs" in row.summary.data.incomplete
            assert ig_low.status.value == "unknown"
        else:
            assert not row.incomplete
            assert ig_low.status.value != "unknown"


def test_who_is_on_the_worklist(rsps, client, mappings, settings) -> None:
    resources = (
        generated(2)
        + other_drug_patient()
        + stopped_order_patient()
        + planned_patient()
        + text_only_patient()
        + statement_patient()
    )
    worklist, _ = run(rsps, client, mappings, settings, resources)
    assert ids(worklist) == {
        "gen-3-000000",
        "gen-3-000001",
        "planned-start",
        "text-only",
        "self-reported",
    }
    # Found by the code search but never treated: a candidate, not on the list.
    assert "stopped-before-start" in worklist.population.candidates
    assert "not-on-kesimpta" not in worklist.population.candidates
    assert worklist.excluded == 1
    rows = {row.patient_id: row for row in worklist.rows}
    assert rows["planned-start"].phase == "pre-treatment"
    assert rows["planned-start"].membership == ("Kesimpta order",)
    assert rows["self-reported"].membership == ("Kesimpta statement",)
    # The worklist and the rules read the statement alike: on therapy since its start.
    assert rows["self-reported"].phase == "maintenance"


def test_group_members_are_always_on_the_worklist(rsps, client, mappings, settings) -> None:
    resources = [*generated(2), patient("enrolled"), group("clinic-7", ["enrolled"])]
    worklist, _ = run(rsps, client, mappings, settings, resources, group="clinic-7")
    assert ids(worklist) == {"gen-3-000000", "gen-3-000001", "enrolled"}
    enrolled = next(row for row in worklist.rows if row.patient_id == "enrolled")
    assert enrolled.membership == ("worklist Group",)


def test_group_only_lists_the_members(rsps, client, mappings, settings) -> None:
    resources = [*generated(3), group("clinic-7", ["gen-3-000001"])]
    worklist, server = run(
        rsps, client, mappings, settings, resources, group="clinic-7", group_only=True
    )
    assert ids(worklist) == {"gen-3-000001"}
    assert server.count("POST") == 2  # the Group, then one chunk


def test_a_missing_group_is_reported(rsps, client, mappings, settings) -> None:
    worklist, _ = run(rsps, client, mappings, settings, generated(1), group="nope")
    assert any("Group/nope was not found" in p for p in worklist.problems)


def test_app_careplan_holders_and_open_tasks(rsps, client, mappings, settings) -> None:
    careplan = {
        "resourceType": "CarePlan",
        "id": "cp-1",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "Patient/followed"},
        "identifier": [
            {"system": "https://ofatumumab-smartapp.example.org/fhir/careplan", "value": "followed"}
        ],
    }
    resources = [
        patient("followed"),
        careplan,
        app_task("followed", "hbv-screening", "2026-11-01", owner="Nurse Kim"),
        app_task("followed", "ig-baseline", "2026-10-01", status="completed"),
    ]
    worklist, _ = run(rsps, client, mappings, settings, resources)
    (row,) = worklist.rows
    assert row.membership == ("app CarePlan",)
    assert [(t.check, t.owner, t.status) for t in row.open_tasks] == [
        ("hbv-screening", "Nurse Kim", "requested")
    ]


def test_servers_without_has_are_searched_directly(rsps, client, mappings, settings) -> None:
    resources = generated(3) + statement_patient()
    worklist, _ = run(rsps, client, mappings, settings, resources, has_supported=False)
    assert ids(worklist) == {"gen-3-000000", "gen-3-000001", "gen-3-000002", "self-reported"}
    assert any("_has" in note for note in worklist.notes)
    assert worklist.complete


def test_a_failed_population_search_says_the_list_may_be_incomplete(
    rsps, client, mappings, settings
) -> None:
    def fail(url: str) -> int | None:
        return 503 if url.startswith("Medication?code=") else None

    worklist, _ = run(rsps, client, mappings, settings, generated(2), fail=fail)
    assert not worklist.complete
    assert worklist.problems[0].startswith("The worklist may be missing patients")
    assert ids(worklist)  # what was found is still listed


def test_a_text_search_the_server_refuses_is_only_a_note(rsps, client, mappings, settings) -> None:
    def fail(url: str) -> int | None:
        return 400 if "code:text" in url else None

    worklist, _ = run(rsps, client, mappings, settings, generated(2), fail=fail)
    assert worklist.complete and not worklist.problems
    assert any("Text-only" in note for note in worklist.notes)


def test_a_patient_the_server_does_not_return_is_reported(rsps, client, mappings, settings) -> None:
    resources = [*generated(1), group("clinic-7", ["gen-3-000000", "ghost"])]
    worklist, _ = run(rsps, client, mappings, settings, resources, group="clinic-7")
    assert ids(worklist) == {"gen-3-000000"}
    assert any(
        "1 patient(s) found by the population search could not be read" in p
        for p in worklist.problems
    )


def test_types_the_token_may_not_read_make_their_checks_unknown(
    rsps, client, mappings, settings
) -> None:
    readable = frozenset(EXPORT_TYPES) - {
        "Observation",
        "MedicationDispense",
        "MedicationStatement",
    }
    worklist, _ = run(rsps, client, mappings, settings, generated(2), readable=readable)
    for row in worklist.rows:
        assert "labs" in row.summary.data.incomplete
        assert any("granted scopes" in p for p in row.summary.data.problems)


def test_export_gives_the_same_rows_as_the_search(rsps, mappings, settings) -> None:
    resources = (
        generated(6)
        + planned_patient()
        + stopped_order_patient()
        + statement_patient()
        + other_drug_patient()
    )
    server = FakeFhir(resources, export_polls=2).install(rsps)
    searched = build_at(server.base, mappings, settings)
    before = len(server.requests)
    exported = build_at(server.base, mappings, settings, WorklistOptions(export=True))
    assert exported.source == "export"
    key = lambda w: sorted((r.patient_id, str(summary_json(r.summary))) for r in w.rows)  # noqa: E731
    assert key(exported) == key(searched)
    assert exported.excluded == 2  # the stopped order and the other drug
    # CapabilityStatement, kick-off, two "in progress" polls and the manifest, one file
    # per type, and the delete request that lets the server drop the files.
    types = len({r["resourceType"] for r in resources})
    assert len(server.requests) - before == 1 + 1 + 3 + types + 1
    assert exported.requests == 1 + 1 + 3 + types + 1


def test_export_of_a_group(rsps, mappings, settings) -> None:
    resources = [*generated(2), group("clinic-7", ["gen-3-000000", "gen-3-000001"])]
    server = FakeFhir(resources, export_polls=0).install(rsps)
    options = WorklistOptions(export=True, group="clinic-7", group_only=True)
    worklist = build_at(server.base, mappings, settings, options)
    assert ids(worklist) == {"gen-3-000000", "gen-3-000001"}
    assert any(url.startswith("Group/clinic-7/$export?_type=") for _, url in server.requests)
