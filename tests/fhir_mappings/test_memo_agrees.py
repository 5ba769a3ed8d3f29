"""Property: what the readers remember (fhir_mappings.memo) never changes what they read.

The memo keys are built by hand (`fhirjson.concept_key`, `quantity.quantity_key`…): a key
that missed something an answer depends on would hand one resource another's answer. So
every input is read three ways — with memos filled by everything read before, once more
from those filled memos, and with no memo at all — and the records must be equal.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.records import PatientRecord
from fhir_mappings.memo import Memo
from fhir_mappings.read.record import UnusableInput, read_patient_record
from fhir_mappings.site import Mappings
from smartapp.demo.bundles import demo_patient_resources
from smartapp.demo.generator import generate_cohort_resources
from smartapp.demo.situations import DEMO_SLUGS

from .test_properties import resources

AS_OF = date(2026, 6, 15)


class UnmemoisedMappings(Mappings):
    """The shipped mappings with a fresh, empty memo on every question."""

    def memo(self, name: str) -> Memo:
        return Memo()


_WARM = Mappings()  # one instance for the whole module: its memos fill across inputs
_COLD = UnmemoisedMappings()


def _read(items: list[Any], mappings: Mappings) -> PatientRecord | str:
    try:
        return read_patient_record(copy.deepcopy(items), mappings=mappings)
    except UnusableInput as err:
        return f"unusable: {err}"


def _agree(items: list[Any]) -> None:
    first = _read(items, _WARM)
    remembered = _read(items, _WARM)
    plain = _read(items, _COLD)
    assert first == remembered == plain


def test_every_demo_patient_reads_the_same_with_and_without_memos() -> None:
    for slug in DEMO_SLUGS:
        _agree(demo_patient_resources(AS_OF, slug))


def test_generated_patients_read_the_same_with_and_without_memos() -> None:
    for seed in (1, 2):
        for items in generate_cohort_resources(40, AS_OF, seed=seed):
            _agree(items)


#: Elements whose answers the readers remember (concepts, quantities, dosage parts).
SWAPPED = (
    "code",
    "route",
    "medicationCodeableConcept",
    "vaccineCode",
    "valueCodeableConcept",
    "valueQuantity",
    "valueString",
    "interpretation",
    "doseQuantity",
    "dose",
    "quantity",
    "status",
)


def _pool() -> dict[str, list[Any]]:
    """Every value of those elements in the demo patients, by element name."""
    pool: dict[str, list[Any]] = {name: [] for name in SWAPPED}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                if name in pool and value not in pool[name]:
                    pool[name].append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for slug in DEMO_SLUGS:
        walk(demo_patient_resources(AS_OF, slug))
    return {name: values for name, values in pool.items() if values}


POOL = _pool()


@st.composite
def shuffled_patient(draw: st.DrawFn) -> list[Any]:
    """A demo patient whose concepts, quantities and statuses are swapped for ones from
    other situations: the same element in many contexts, the memo's hardest case."""
    items = copy.deepcopy(demo_patient_resources(AS_OF, draw(st.sampled_from(DEMO_SLUGS))))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name in list(node):
                if name in POOL and draw(st.booleans()):
                    node[name] = copy.deepcopy(draw(st.sampled_from(POOL[name])))
                else:
                    walk(node[name])
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(items)
    return items


@settings(max_examples=150, deadline=None, database=None)
@given(shuffled_patient())
def test_patients_with_swapped_concepts_read_the_same_with_and_without_memos(
    items: list[Any],
) -> None:
    _agree(items)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(resources())
def test_malformed_resources_read_the_same_with_and_without_memos(items: list[Any]) -> None:
    _agree(items)
