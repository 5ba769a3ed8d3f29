"""Saving a plan that has not changed writes nothing: no transaction, no second Provenance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import responses

from domain.findings import Status
from fhir_mappings.read.careplans import read_app_careplan
from fhir_mappings.write.writeback import build_writeback
from smartapp.fhir import FhirClient
from smartapp.writeback import UNCHANGED_MESSAGE, write_plan
from tests.writeback.factories import app_task, context, finding, ok, record, summary

BASE = "https://ehr.example.org/fhir"


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def stored(careplan: dict[str, Any]) -> dict[str, Any]:
    """The CarePlan as the server hands it back a day later: its own meta, keys in another
    order, the narrative re-serialised, saved by someone else."""
    back = dict(reversed(list(careplan.items())))
    back["meta"] = {"versionId": "3", "lastUpdated": "2026-11-20T10:00:00Z"}
    back["text"] = {"status": "generated", "div": "<div xmlns='http://www.w3.org/1999/xhtml'/>"}
    back["author"] = {"reference": "Practitioner/someone-else"}
    return back


def saved_record(plan_careplan: dict[str, Any], **kwargs: Any):
    app_careplan = read_app_careplan(stored(plan_careplan), "CarePlan/cp-1")
    assert app_careplan is not None
    return replace(record(**kwargs), careplans=(app_careplan,))


def test_an_unchanged_plan_is_marked_and_sends_nothing(http: responses.RequestsMock) -> None:
    now = summary(ok("mri-monitoring"), ok("cbc-baseline"))
    first = build_writeback(now, record(), context())
    careplan = first.bundle["entry"][0]["resource"]
    assert not first.unchanged

    again = build_writeback(now, saved_record(careplan), context())
    assert again.unchanged
    assert again.preview == () and again.bundle["entry"] == []
    with FhirClient(BASE) as client:
        result = write_plan(client, again)
        assert client.round_trips == 0
    assert result.ok and result.message == UNCHANGED_MESSAGE
    assert result.entries == () and result.attempts == 0


def test_a_changed_plan_is_written(http: responses.RequestsMock) -> None:
    old = build_writeback(summary(ok("mri-monitoring")), record(), context())
    careplan = old.bundle["entry"][0]["resource"]
    due = summary(finding("cbc-baseline", Status.DUE, action_code="order-cbc"))
    changed = build_writeback(due, saved_record(careplan), context())
    assert not changed.unchanged
    assert [item.resource_type for item in changed.preview] == ["CarePlan", "Task", "Provenance"]


def test_a_task_change_alone_is_written(http: responses.RequestsMock) -> None:
    now = summary(ok("mri-monitoring"))
    careplan = build_writeback(now, record(), context()).bundle["entry"][0]["resource"]
    open_task = app_task("mri-monitoring", None, task_id="m1", version="1")
    plan = build_writeback(now, saved_record(careplan, tasks=[open_task]), context())
    assert not plan.unchanged
    assert plan.count("complete") == 1  # the finding is ok now: its Task is completed


def test_two_app_careplans_are_never_unchanged(http: responses.RequestsMock) -> None:
    now = summary(ok("mri-monitoring"))
    careplan = build_writeback(now, record(), context()).bundle["entry"][0]["resource"]
    one = read_app_careplan(stored(careplan), "CarePlan/cp-1")
    two = read_app_careplan(stored(careplan), "CarePlan/cp-2")
    assert one is not None and two is not None
    twice = replace(record(), careplans=(one, two))
    assert not build_writeback(now, twice, context()).unchanged
