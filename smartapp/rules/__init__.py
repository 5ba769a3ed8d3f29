"""The checks of SPEC §3 as pure functions over domain records.

    from smartapp.rules import evaluate, CHECKS
    summary = evaluate(record, as_of=date.today(), settings=RuleSettings())

No I/O, no clock, no FHIR JSON: `fhir_mappings.read.record` builds the `PatientRecord`.
"""

from __future__ import annotations

from smartapp.rules.acknowledgements import find_acknowledgement
from smartapp.rules.actions import ACTIONS
from smartapp.rules.base import Rule
from smartapp.rules.registry import CHECKS, CHECKS_BY_ID
from smartapp.rules.schedule import TreatmentSchedule, build_schedule
from smartapp.rules.settings import RuleSettings
from smartapp.rules.summary import STATUS_ORDER, evaluate, finding_order

__all__ = [
    "ACTIONS",
    "CHECKS",
    "CHECKS_BY_ID",
    "STATUS_ORDER",
    "Rule",
    "RuleSettings",
    "TreatmentSchedule",
    "build_schedule",
    "evaluate",
    "find_acknowledgement",
    "finding_order",
]
