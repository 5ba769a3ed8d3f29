"""Each demo situation shows what it exists to show: read it with the real reader, evaluate
it with the real rules at as_of = anchor, and compare with the situation's `expect`.

This is the end-to-end contract between the demo cohort, `fhir_mappings.read.record` and
`smartapp.rules`. It runs on several anchors (a leap day, a year end, today) because the
demo's dates are relative to the day it is loaded.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.findings import Summary
from fhir_mappings.read import record as fhir_read
from fhir_mappings.site import load_mappings
from smartapp.demo import (
    CHECK_IDS,
    DEMO_SLUGS,
    SITUATIONS,
    demo_patient_resources,
    generate_cohort_resources,
)
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings

ANCHORS = [date(2025, 3, 1), date(2024, 2, 29), date(2025, 12, 31), date.today()]


def _summary(slug: str, anchor: date) -> Summary:
    resources = demo_patient_resources(anchor, slug)
    record = fhir_read.read_patient_record(resources, slug, mappings=load_mappings(None))
    return evaluate(record, anchor, RuleSettings())


@pytest.mark.parametrize("anchor", ANCHORS, ids=str)
@pytest.mark.parametrize("slug", DEMO_SLUGS)
def test_situation_shows_what_it_exists_to_show(slug: str, anchor: date) -> None:
    spec = SITUATIONS[slug]
    summary = _summary(slug, anchor)
    findings = {f.check: f for f in summary.findings}
    wrong = []
    for check, status in spec.expect.items():
        finding = findings.get(check)
        if finding is None:
            wrong.append(f"{check}: no finding (expected {status})")
        elif finding.status.value != status:
            wrong.append(
                f"{check}: {finding.status.value}, expected {status} — {finding.detail} "
                f"[evidence: {', '.join(f'{e.reference} {e.date}' for e in finding.evidence)}]"
            )
        elif check in spec.severity and finding.severity.value != spec.severity[check]:
            wrong.append(
                f"{check}: severity {finding.severity.value}, expected {spec.severity[check]}"
            )
    if spec.phase is not None and summary.phase.value != spec.phase:
        wrong.append(f"phase {summary.phase.value}, expected {spec.phase}")
    if spec.earliest_start is not None:
        expected_start = anchor + timedelta(days=spec.earliest_start)
        if summary.schedule.earliest_start != expected_start:
            wrong.append(
                f"earliest start {summary.schedule.earliest_start}, expected {expected_start}"
            )
    assert not wrong, f"{slug} ({spec.description}):\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("slug", DEMO_SLUGS)
def test_every_check_reports_and_every_resource_is_readable(slug: str) -> None:
    summary = _summary(slug, ANCHORS[0])
    assert {f.check for f in summary.findings} == set(CHECK_IDS)
    assert summary.data.skipped == 0, summary.data.problems


def test_the_escaping_patient_keeps_its_name_as_text() -> None:
    summary = _summary("escaping", ANCHORS[0])
    assert "<script>alert(1)</script>" in summary.patient.name


def test_messy_data_counts_what_it_could_not_interpret() -> None:
    summary = _summary("messy-data", ANCHORS[0])
    assert summary.data.uninterpretable >= 1


def test_generated_patients_are_fully_readable_and_evaluated() -> None:
    mappings = load_mappings(None)
    anchor = ANCHORS[0]
    for resources in generate_cohort_resources(40, anchor, seed=21):
        record = fhir_read.read_patient_record(resources, resources[0]["id"], mappings=mappings)
        assert record.data.skipped == 0, record.data.problems
        assert record.doses, "every generated patient is on ofatumumab"
        summary = evaluate(record, anchor, RuleSettings())
        assert {f.check for f in summary.findings} == set(CHECK_IDS)
        assert summary.phase.value in ("loading", "maintenance", "interrupted", "discontinued")
