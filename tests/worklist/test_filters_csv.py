"""Filters and sort orders that live in the URL, and the CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from fhir_mappings.read.record import read_patient_record
from fhir_mappings.site import Mappings
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings
from smartapp.worklist import WorklistFilters, WorklistRow, read_csv, row_for, write_csv
from smartapp.worklist.csvfile import COLUMNS, escape_cell, row_values, unescape_cell
from smartapp.worklist.filters import SORT_KEYS
from tests.worklist.cohort import AS_OF, app_task, generated, planned_patient


@pytest.fixture(scope="module")
def rows(mappings: Mappings, settings: RuleSettings) -> list[WorklistRow]:
    resources = generated(40) + planned_patient()
    resources += [
        app_task("gen-3-000001", "ig-monitoring", "2026-12-01", owner="Nurse Kim"),
        app_task("gen-3-000002", "mri-monitoring", "2026-12-05"),
    ]
    pids = [r["id"] for r in resources if r["resourceType"] == "Patient"]
    found = []
    for pid in pids:
        record = read_patient_record(resources, pid, mappings=mappings)
        found.append(row_for(record, evaluate(record, AS_OF, settings), ("Kesimpta doses",)))
    return found


def test_default_order_is_overdue_first_then_severity_then_next_due(rows) -> None:
    ordered = WorklistFilters().apply(rows)
    keys = [(0 if r.overdue else 1, r.severity_rank, r.next_due or date.max) for r in ordered]
    assert keys == sorted(keys)
    assert ordered[0].overdue
    assert not ordered[-1].overdue


def test_status_and_check_filter_together(rows) -> None:
    filters = WorklistFilters.from_query({"check": "ig-monitoring", "status": "overdue"})
    kept = filters.apply(rows)
    assert kept
    for row in rows:
        ig = next(f for f in row.summary.findings if f.check == "ig-monitoring")
        assert (row in kept) == (ig.status.value == "overdue")


def test_check_alone_means_needs_attention(rows) -> None:
    kept = WorklistFilters.from_query({"check": "mri-monitoring"}).apply(rows)
    for row in rows:
        mri = next(f for f in row.summary.findings if f.check == "mri-monitoring")
        assert (row in kept) == (mri.status.value in {"alert", "overdue", "due", "unknown"})


def test_ok_status_means_nothing_needs_attention(rows) -> None:
    kept = WorklistFilters.from_query({"status": "ok"}).apply(rows)
    assert all(row.status == "ok" for row in kept)
    assert len(kept) == sum(1 for row in rows if row.status == "ok")


def test_phase_name_owner_and_task_filters(rows) -> None:
    assert {
        r.phase for r in WorklistFilters.from_query({"phase": "pre-treatment"}).apply(rows)
    } == {"pre-treatment"}
    # The generated cohort holds discontinued courses (a stopped order after the last dose).
    stopped = WorklistFilters.from_query({"phase": "discontinued"})
    assert stopped.phases == ("discontinued",)
    assert {r.phase for r in stopped.apply(rows)} == {"discontinued"}
    named = WorklistFilters.from_query({"q": "planned"}).apply(rows)
    assert [r.patient_id for r in named] == ["planned-start"]
    kim = WorklistFilters.from_query({"owner": "kim"}).apply(rows)
    assert [r.patient_id for r in kim] == ["gen-3-000001"]
    unassigned = WorklistFilters.from_query({"owner": "unassigned"}).apply(rows)
    assert [r.patient_id for r in unassigned] == ["gen-3-000002"]
    with_tasks = WorklistFilters.from_query({"tasks": "open"}).apply(rows)
    assert {r.patient_id for r in with_tasks} == {"gen-3-000001", "gen-3-000002"}
    without = WorklistFilters.from_query({"tasks": "none"}).apply(rows)
    assert len(without) == len(rows) - 2


@pytest.mark.parametrize("sort", sorted(SORT_KEYS))
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_every_sort_order_is_stable_and_reversible(rows, sort: str, direction: str) -> None:
    filters = WorklistFilters(sort=sort, direction=direction)
    ordered = filters.apply(rows)
    assert len(ordered) == len(rows)
    reverse = filters.replace(direction="asc" if direction == "desc" else "desc").apply(rows)
    assert [r.patient_id for r in reverse] == [r.patient_id for r in reversed(ordered)]


def test_the_url_reproduces_the_view(rows) -> None:
    query = MultiDict(
        [
            ("status", "overdue"),
            ("status", "due"),
            ("check", "dose-schedule"),
            ("phase", "maintenance"),
            ("q", "a"),
            ("sort", "next_due"),
            ("dir", "desc"),
            ("as_of", "2026-11-24"),
        ]
    )
    filters = WorklistFilters.from_query(query)
    again = WorklistFilters.from_query(MultiDict(filters.to_query()))
    assert again == filters
    assert [r.patient_id for r in again.apply(rows)] == [r.patient_id for r in filters.apply(rows)]
    assert filters.query_string() == (
        "status=overdue&status=due&check=dose-schedule&phase=maintenance&q=a&sort=next_due"
        "&dir=desc&as_of=2026-11-24"
    )


def test_comma_separated_values_mean_the_same_as_repeated_ones() -> None:
    assert WorklistFilters.from_query({"status": "overdue,due"}) == WorklistFilters.from_query(
        MultiDict([("status", "overdue"), ("status", "due")])
    )


def test_defaults_are_left_out_of_the_url() -> None:
    assert WorklistFilters().to_query() == []
    assert WorklistFilters.from_query({"sort": "default", "dir": "asc"}).to_query() == []


def test_unknown_values_are_dropped_and_reported() -> None:
    filters = WorklistFilters.from_query(
        {
            "status": "overdue,bogus",
            "check": "nope",
            "sort": "x",
            "dir": "up",
            "as_of": "soon",
            "tasks": "maybe",
        }
    )
    assert filters.statuses == ("overdue",) and filters.checks == ()
    assert (filters.sort, filters.direction, filters.as_of, filters.tasks) == (
        "default",
        "asc",
        None,
        "",
    )
    assert len(filters.errors) == 6


def test_sort_link_toggles_the_direction() -> None:
    assert ("dir", "desc") in WorklistFilters(sort="name").sort_link("name")
    assert ("dir", "desc") not in WorklistFilters(sort="name", direction="desc").sort_link("name")
    assert ("sort", "phase") in WorklistFilters(sort="name").sort_link("phase")


# -- CSV ------------------------------------------------------------------------------------


def test_csv_has_a_header_and_round_trips(rows) -> None:
    text = write_csv(rows)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert read_csv(text) == [row_values(row) for row in rows]


def test_csv_lists_findings_and_tasks(rows) -> None:
    row = next(r for r in rows if r.patient_id == "gen-3-000001")
    values = read_csv(write_csv([row]))[0]
    assert values["open_tasks"] == "ig-monitoring: requested, Nurse Kim, due 2026-12-01"
    assert values["open_task_count"] == "1"
    assert values["phase"] == row.phase
    assert values["overdue_count"] == str(len(row.overdue))


@pytest.mark.parametrize(
    "name", ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR", "'quoted"]
)
def test_formula_cells_are_escaped_and_still_round_trip(rows, name: str) -> None:
    patient = replace(rows[0].summary.patient, name=name)
    row = replace(rows[0], name=name, summary=replace(rows[0].summary, patient=patient))
    text = write_csv([row])
    cells = next(csv.DictReader(io.StringIO(text)))
    assert cells["name"] == "'" + name
    assert read_csv(text)[0]["name"] == name


def test_escape_cell_leaves_plain_text_alone() -> None:
    assert escape_cell("Anna Synthwood") == "Anna Synthwood"
    assert escape_cell("2026-11-24") == "2026-11-24"
    assert unescape_cell(escape_cell("=1")) == "=1"


def test_read_csv_refuses_other_files() -> None:
    with pytest.raises(ValueError, match="not a worklist CSV"):
        read_csv("a,b\n1,2\n")
