"""Which findings become cards at which hook. No rule lives here: the findings are the
dashboard's (`smartapp.patient_service.evaluate_fetched` → `smartapp.rules.evaluate`).

patient-view — for a patient on or planned for ofatumumab (a dose, an order, a dispense or
statement, the app's Task or CarePlan, or any phase but pre-treatment), one card per
finding that is an alert, overdue, due or unknown, unless a clinician acknowledged it.
Patients who have nothing to do with the drug get no cards; when the therapy records could
not be read at all, one card says the checks could not run.

order-select / order-sign — the draft orders count as given on their date
(`fhir_mappings.read.draft_orders`) and the checks run twice: as the dashboard sees the patient,
and with the drafts. A finding is *caused* by the drafts when its status, severity or due
date differ between the two, or it cites a draft.
- An ofatumumab draft (the stand-in reads as a counted dose): every alert, overdue or
  unknown finding once the dose is counted (contraindications, missing baselines, a dose
  too soon after the last, what cannot be confirmed). What only becomes *due* (the next
  dose) is no news at this moment.
- A vaccine draft, for a patient on or planned for ofatumumab: the findings of the checks
  that read vaccinations which the draft causes, or that are unknown. A live vaccine during
  therapy or B-cell repletion is the vaccine-live-on-therapy alert, shown as critical with
  a suggestion to remove the draft.
- A draft that looks like ofatumumab or a vaccine but could not be read gets a card saying
  it could not be checked.
An acknowledged finding the drafts do not change is shown as `info` with the
acknowledgement. Task suggestions come from the dashboard's findings only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.findings import Finding, Phase, Status, Summary
from domain.records import PatientRecord
from fhir_mappings.read.draft_orders import DraftOrder, DraftOrders
from smartapp.cds.cards import (
    NOT_RUN,
    ORDER_NOT_CHECKED,
    Card,
    CardLinks,
    CardParts,
    DraftNote,
    finding_card,
    indicator_for,
    notice_card,
)
from smartapp.cds.suggestions import existing_careplan, remove_draft_suggestion, task_suggestion
from smartapp.patient_service import FetchedPatient
from smartapp.rules import CHECKS_BY_ID

#: Finding statuses that make a card.
CARD_STATUSES = frozenset({Status.ALERT, Status.OVERDUE, Status.DUE, Status.UNKNOWN})
#: At an ofatumumab order: what makes a card, whether or not the order changes it.
ORDER_STATUSES = frozenset({Status.ALERT, Status.OVERDUE, Status.UNKNOWN})
_THERAPY_AREAS = frozenset({"doses", "orders"})
_CORE_AREAS = frozenset({"labs", "doses", "orders", "conditions"})


@dataclass(frozen=True)
class Evaluation:
    fetched: FetchedPatient
    record: PatientRecord
    summary: Summary


@dataclass(frozen=True)
class HookContext:
    links: CardLinks
    now: datetime
    fhir_base: str | None


def involves_ofatumumab(record: PatientRecord, summary: Summary) -> bool | None:
    """On or planned for ofatumumab; None when the therapy records could not be read."""
    if (
        record.doses
        or record.orders
        or record.dispenses
        or record.statements
        or record.tasks
        or record.careplans
        or summary.phase is not Phase.PRE_TREATMENT
    ):
        return True
    if record.data.incomplete & _THERAPY_AREAS:
        return None
    return False


def _not_run(evaluation: Evaluation, ctx: HookContext, indicator: str) -> Card:
    reasons = list(evaluation.record.data.problems) or ["No patient data could be read."]
    return notice_card(
        NOT_RUN,
        "Ofatumumab safety checks could not run: the patient's records could not be read",
        reasons[:10],
        indicator,
        ctx.links,
    )


def _task(finding: Finding, evaluation: Evaluation, ctx: HookContext) -> list[dict[str, object]]:
    suggestion = task_suggestion(
        finding,
        evaluation.summary,
        evaluation.record,
        now=ctx.now,
        fhir_base=ctx.fhir_base,
        careplan=existing_careplan(evaluation.record),
    )
    return [suggestion] if suggestion is not None else []


def patient_view_cards(evaluation: Evaluation, ctx: HookContext) -> list[Card]:
    involved = involves_ofatumumab(evaluation.record, evaluation.summary)
    if involved is None:
        return [_not_run(evaluation, ctx, "info")]
    if not involved:
        return []
    cards = []
    for finding in evaluation.summary.findings:
        if finding.status not in CARD_STATUSES or finding.acknowledgement is not None:
            continue
        parts = CardParts(
            indicator=indicator_for(finding, order_moment=False),
            suggestions=_task(finding, evaluation, ctx),
        )
        cards.append(finding_card(finding, parts, ctx.links))
    return cards


@dataclass(frozen=True)
class OrderCall:
    """An order hook's inputs: both evaluations, the drafts, and the ones in focus."""

    base: Evaluation
    with_drafts: Evaluation
    drafts: DraftOrders
    #: order-select: the selected drafts; order-sign: all of them.
    focus: Sequence[DraftOrder]


def _caused(finding: Finding, before: Finding | None, stand_ins: frozenset[str]) -> bool:
    if before is None:
        return True
    if (before.status, before.severity, before.due) != (
        finding.status,
        finding.severity,
        finding.due,
    ):
        return True
    return any(item.reference in stand_ins for item in finding.evidence)


def _cites(finding: Finding, draft: DraftOrder) -> bool:
    return any(item.reference == draft.stand_in_reference for item in finding.evidence)


def _note(draft: DraftOrder) -> str:
    return (
        f"This draft order: {draft.display} ({draft.reference}), "
        f"counted as given on {draft.on.isoformat()}"
    )


def _unreadable(draft: DraftOrder, call: OrderCall) -> list[str]:
    """Why a draft that should have been classified was not (empty: it is something else)."""
    reference = draft.stand_in_reference
    if reference is None:
        return []
    reasons = [problem for problem in call.with_drafts.record.data.problems if reference in problem]
    stand_in = draft.stand_in or {}
    medication = stand_in.get("medicationReference")
    wanted = medication.get("reference") if isinstance(medication, dict) else None
    if isinstance(wanted, str) and wanted in call.drafts.missing_medications:
        known = {
            f"Medication/{item.get('id')}"
            for item in call.with_drafts.fetched.resources
            if isinstance(item, dict) and item.get("resourceType") == "Medication"
        }
        if wanted not in known:
            reasons.append(f"the order names {wanted}, which could not be read")
    return [reason.replace(reference, f"the draft order {draft.reference}") for reason in reasons]


def order_cards(call: OrderCall, ctx: HookContext) -> list[Card]:
    record = call.with_drafts.record
    doses = {dose.source.reference for dose in record.doses}
    vaccines = {vaccination.source.reference for vaccination in record.vaccinations}
    ofatumumab = [d for d in call.focus if d.stand_in_reference in doses]
    vaccine = [d for d in call.focus if d.stand_in_reference in vaccines]
    cards: list[Card] = []
    for draft in call.focus:
        if draft in ofatumumab or draft in vaccine:
            continue
        reasons = _unreadable(draft, call)
        if reasons:
            summary = f"This order could not be checked for ofatumumab safety: {draft.display}"
            cards.append(notice_card(ORDER_NOT_CHECKED, summary, reasons, "warning", ctx.links))
    if vaccine and not ofatumumab:
        involved = involves_ofatumumab(call.base.record, call.base.summary)
        if involved is None:
            return [*cards, _not_run(call.base, ctx, "warning")]
        if not involved:
            vaccine = []
    if not ofatumumab and not vaccine:
        return cards
    if _CORE_AREAS <= call.base.record.data.incomplete:
        return [*cards, _not_run(call.base, ctx, "warning")]

    focus = [*ofatumumab, *vaccine]
    stand_ins = frozenset(d.stand_in_reference for d in focus if d.stand_in_reference)
    notes = [DraftNote(ref, _note(d)) for d in focus if (ref := d.stand_in_reference)]
    before = {finding.check: finding for finding in call.base.summary.findings}
    for finding in call.with_drafts.summary.findings:
        if finding.status not in CARD_STATUSES:
            continue
        caused = _caused(finding, before.get(finding.check), stand_ins)
        relevant = bool(ofatumumab) and finding.status in ORDER_STATUSES
        check = CHECKS_BY_ID.get(finding.check)
        reads_vaccines = check is not None and "vaccinations" in check.areas
        if vaccine and reads_vaccines and (caused or finding.status is Status.UNKNOWN):
            relevant = True
        if not relevant:
            continue
        cards.append(_order_card(finding, caused, call, focus, notes, ctx))
    return cards


def _order_card(
    finding: Finding,
    caused: bool,
    call: OrderCall,
    focus: Sequence[DraftOrder],
    notes: Sequence[DraftNote],
    ctx: HookContext,
) -> Card:
    if finding.acknowledgement is not None and not caused:
        indicator = "info"
    else:
        indicator = indicator_for(finding, order_moment=True)
    parts = CardParts(indicator=indicator, drafts=notes)
    if caused:
        cited = [
            d for d in focus if any(e.reference == d.stand_in_reference for e in finding.evidence)
        ]
        parts.lead = [f"**{_note(d)}.**" for d in (cited or focus)] + [""]
        vaccines = {v.source.reference for v in call.with_drafts.record.vaccinations}
        if finding.status is Status.ALERT:
            for draft in cited:
                if draft.stand_in_reference in vaccines:
                    removal = remove_draft_suggestion(draft, recommended=indicator == "critical")
                    if removal is not None:
                        parts.suggestions.append(removal)
    dashboard_view = next(
        (item for item in call.base.summary.findings if item.check == finding.check), None
    )
    if dashboard_view is not None:
        parts.suggestions.extend(_task(dashboard_view, call.base, ctx))
    return finding_card(finding, parts, ctx.links)
