"""Kesimpta MedicationStatement -> `TherapyStatement`: the patient's own report (SPEC §2
"Therapy recorded outside the clinic").

Every status but `entered-in-error` is kept; the rules decide what each means (`active`
shows therapy, `intended` is a planned start, `stopped`/`completed` stop it). The
medication is recognised as for administrations, from `dosage[0]` route and dose. The
start is `effectiveDateTime` or `effectivePeriod.start`, else `dateAsserted`; the end is
`effectivePeriod.end`. A statement that shows or plans therapy with no date at all cannot
be used for timing: it is kept (the patient stays on the worklist) and the therapy data
are incomplete, so the checks that depend on them say unknown with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.records import SourceRef, TherapyStatement
from fhir_mappings.dates import first_date
from fhir_mappings.fhirjson import as_text
from fhir_mappings.read.medications import (
    MedicationResolver,
    ReadNotes,
    kesimpta_dosage,
)
from fhir_mappings.site import Mappings

#: Statements that need a start date to mean anything.
_DATED_STATUSES = frozenset({"active", "on-hold", "intended"})


def read_statement(
    resource: Mapping[str, Any],
    reference: str,
    resolver: MedicationResolver,
    mappings: Mappings,
    notes: ReadNotes,
) -> TherapyStatement | None:
    """A Kesimpta statement (module doc), else None."""
    status = as_text(resource.get("status"), "status") or "unknown"
    if status == "entered-in-error":
        return None
    kesimpta = kesimpta_dosage(
        resource, reference, resolver, mappings, notes, "dosage", "statement", "doses"
    )
    if kesimpta is None:
        return None
    _, found = kesimpta
    start = first_date(resource, ("effectiveDateTime", "effectivePeriod.start"), "")
    end = first_date(resource, ("effectivePeriod.end",), "")
    asserted = first_date(resource, ("dateAsserted",), "")
    from_assertion = start is None and asserted is not None
    if start is None:
        start = asserted
    if start is None and status in _DATED_STATUSES:
        notes.unusable(
            f"{reference}: a Kesimpta statement ({status}) with no date; when therapy began "
            "is unknown, so the therapy data are incomplete",
            "doses",
        )
    period = f"from {start.describe()}" if start is not None else "start not recorded"
    if from_assertion:
        period += " (date asserted)"
    if end is not None:
        period += f" to {end.describe()}"
    display = f"Kesimpta statement ({status}), {period}"
    return TherapyStatement(
        status,
        start,
        end,
        asserted,
        SourceRef(reference, display, found.matched_by),
        start_asserted=from_assertion,
    )
