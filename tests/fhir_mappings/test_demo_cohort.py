"""Contract with the demo cohort: every situation reads without a skipped resource, and only
the situations that exist to show unusable records leave an area incomplete."""

from __future__ import annotations

from datetime import date

import pytest

import smartapp.demo.bundles as demo
from fhir_mappings.read.record import read_patient_record
from fhir_mappings.site import default_mappings
from smartapp.demo.home_situations import INCOMPLETE_ON_PURPOSE


@pytest.mark.parametrize("slug", demo.DEMO_SLUGS)
def test_demo_patient_reads_cleanly(slug: str) -> None:
    resources = demo.demo_patient_resources(date(2025, 6, 1), slug)
    record = read_patient_record(resources, mappings=default_mappings())
    assert record.patient.id
    assert record.data.skipped == 0, record.data.problems
    assert record.data.incomplete == INCOMPLETE_ON_PURPOSE.get(slug, frozenset())
