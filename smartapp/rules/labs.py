"""The baseline-test requirement shared by hbv-screening, ig-baseline and cbc-baseline
(USPI 2.1 "Assessments Prior to First Dose"), and the cbc-baseline check."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from enum import IntEnum
from functools import partial
from typing import NamedTuple

from domain.findings import Action, Evidence, Finding, Severity, Status
from domain.records import LabKind, LabResult, PatientRecord
from smartapp.rules import actions
from smartapp.rules.base import Rule
from smartapp.rules.dates import plus_days
from smartapp.rules.evidence import (
    counted_as,
    day,
    lab_evidence,
    lab_phrase,
    on_day,
    pending_text,
    sentence,
)
from smartapp.rules.results import LabSeries
from smartapp.rules.schedule import TreatmentSchedule
from smartapp.rules.settings import BASELINE_SETTINGS, RuleSettings

# --- Baseline requirement (USPI 2.1 "Assessments Prior to First Dose") -------------------

#: A baseline check's rule: it reads the labs, the doses (started or not) and the orders
#: (the planned start), says ok, due or overdue, and reads the look-back setting.
baseline_rule = partial(
    Rule,
    areas=frozenset({"labs", "doses", "orders"}),
    statuses=frozenset({Status.OK, Status.DUE, Status.OVERDUE}),
    settings=BASELINE_SETTINGS,
)


class BaselineWindow(NamedTuple):
    """Results count when dated within `lookback` days before the anchor day.

    Started: the anchor is the first dose. A result counts when every day its date allows
    is in [first dose (latest) - lookback, first dose (earliest)], so a partial date never
    makes a baseline look present when it may be too old or after the first dose.
    Not started: the anchor is the reference date (as_of, or a later planned start).
    """

    lower: date
    upper: date | None
    anchor: str
    lookback: int
    started: bool


def baseline_window(schedule: TreatmentSchedule, settings: RuleSettings) -> BaselineWindow:
    lookback = settings.baseline_lookback_days
    if schedule.first is not None:
        first = schedule.first
        return BaselineWindow(
            lower=plus_days(first.latest, -lookback),
            upper=first.earliest,
            anchor=f"the first dose {on_day(first)}",
            lookback=lookback,
            started=True,
        )
    if schedule.reference_order is not None:
        anchor = f"the planned start on {day(schedule.reference_date)}"
    else:
        anchor = f"{day(schedule.reference_date)} (no dose given yet)"
    return BaselineWindow(
        lower=plus_days(schedule.reference_latest, -lookback),
        upper=None,
        anchor=anchor,
        lookback=lookback,
        started=False,
    )


class ItemState(IntEnum):
    """How far a required test is from satisfied; lower is better."""

    FOUND = 0
    LATE = 1
    #: Only results that could not be interpreted (or used): review them.
    UNRESOLVED = 2
    #: Not satisfied, but a result is pending: await it (SPEC §2 "Pending results").
    PENDING = 3
    MISSING = 4


class BaselineItem(NamedTuple):
    label: str
    #: Latest usable result inside the window.
    found: LabResult | None
    #: Started only: the first usable result after the first dose (a late baseline).
    late: LabResult | None
    #: Pending / unusable results that could be inside the window.
    pending: tuple[LabResult, ...]
    unreadable: tuple[LabResult, ...]
    #: The latest usable result that is not (certainly) inside the window.
    outside: LabResult | None

    @property
    def state(self) -> ItemState:
        if self.found is not None:
            return ItemState.FOUND
        if self.late is not None:
            return ItemState.LATE
        if self.pending:
            return ItemState.PENDING
        if self.unreadable:
            return ItemState.UNRESOLVED
        return ItemState.MISSING

    def evidence(self, window: BaselineWindow) -> list[Evidence]:
        items: list[Evidence] = []
        if self.found is not None:
            items.append(lab_evidence(self.found))
        if self.late is not None and self.found is None:
            items.append(lab_evidence(self.late, "after the first dose: a late baseline"))
        if self.found is None:
            items.extend(lab_evidence(lab) for lab in self.pending)
            items.extend(lab_evidence(lab) for lab in self.unreadable)
            if self.outside is not None and self.outside.when is not None:
                when = self.outside.when
                note = f"not within {window.lookback} days before {window.anchor}"
                if when.partial:
                    used = when.earliest if when.earliest < window.lower else when.latest
                    note = f"{counted_as(when, used, 'could fall outside the window')}; {note}"
                items.append(lab_evidence(self.outside, note))
        return items

    def pending_text(self) -> str:
        return pending_text(self.label, self.pending)

    def missing_text(self) -> str:
        if self.outside is not None and self.outside.when is not None:
            return f"{self.label} (latest {on_day(self.outside.when)} is outside the window)"
        return self.label


def _could_be_inside(lab: LabResult, window: BaselineWindow) -> bool:
    when = lab.when
    if when is None:
        return True
    return when.latest >= window.lower and (window.upper is None or when.earliest <= window.upper)


def baseline_item(label: str, series: LabSeries, window: BaselineWindow) -> BaselineItem:
    found: LabResult | None = None
    late: LabResult | None = None
    outside: LabResult | None = None
    upper = window.upper
    for lab in series.usable:  # oldest first
        when = lab.when
        if when is None:  # pragma: no cover - usable results are dated
            continue
        if when.earliest >= window.lower and (upper is None or when.latest <= upper):
            found = lab
        elif upper is not None and when.earliest > upper:
            if late is None:
                late = lab
        else:
            outside = lab
    return BaselineItem(
        label=label,
        found=found,
        late=late,
        # A pending result after the first dose would make a late baseline: await it too.
        pending=tuple(
            lab for lab in series.pending if lab.when is None or lab.when.latest >= window.lower
        ),
        unreadable=tuple(lab for lab in series.unusable if _could_be_inside(lab, window)),
        outside=outside,
    )


class BaselineSeverities(NamedTuple):
    """How serious a missing baseline is (an unreadable one is the rule's `unknown_severity`)."""

    due: Severity
    overdue: Severity


def _phrases(labs: Iterable[LabResult | None]) -> str:
    return "; ".join(lab_phrase(lab) for lab in labs if lab is not None)


def baseline_finding(
    rule: Rule,
    alternatives: Sequence[Sequence[tuple[str, LabSeries]]],
    what: str,
    settings: RuleSettings,
    schedule: TreatmentSchedule,
    action: Action,
    severities: BaselineSeverities,
) -> Finding:
    """ok / ok-late / due / overdue / unknown for "these tests within N days before start".

    Any of `alternatives` (each a list of tests, by label and results, all required)
    satisfies the requirement.
    A test found only after the first dose is a late baseline: the requirement can no
    longer be met as written and there is nothing left to order, so it reads ok and says
    "late". Timing uses usable results only (SPEC §2 "Pending results"): a test with only a
    pending result is still due or overdue, and when every missing test has a pending
    result the action is to await it (no new order). A test that exists only as results
    that could not be interpreted is unknown (review the raw value), not due.
    """
    window = baseline_window(schedule, settings)
    items = [
        [baseline_item(label, series, window) for label, series in alt] for alt in alternatives
    ]
    scored = [(max(item.state for item in alt), alt) for alt in items]
    state, chosen = min(scored, key=lambda pair: pair[0])
    evidence: list[Evidence] = []
    for item in chosen:
        evidence.extend(item.evidence(window))
    if state > ItemState.LATE:
        for _, alt in scored:
            if alt is not chosen:
                for item in alt:
                    evidence.extend(item.evidence(window))
    n = window.lookback

    if state is ItemState.FOUND:
        found = _phrases(item.found for item in chosen)
        detail = f"{sentence(what)} within {n} days before {window.anchor}: {found}."
        return rule.ok(f"{rule.name} done", detail, evidence=evidence)
    if state is ItemState.LATE:
        late = [item.found or item.late for item in chosen]
        detail = (
            f"No {what} within {n} days before {window.anchor}; tested after therapy started "
            f"instead: {_phrases(late)}."
        )
        return rule.ok(f"{rule.name} done late", detail, evidence=evidence)
    if state is ItemState.UNRESOLVED:
        parts = []
        for item in chosen:
            if item.state is ItemState.UNRESOLVED:
                raw = ", ".join(f"'{lab.raw}'" for lab in item.unreadable)
                parts.append(f"{item.label} result could not be interpreted ({raw}): review it")
        found = _phrases(item.found or item.late for item in chosen)
        detail = f"{sentence(what)} within {n} days before {window.anchor}: {'; '.join(parts)}."
        if found:
            detail += f" Found: {found}."
        return rule.finding(
            Status.UNKNOWN,
            rule.unknown_severity,
            f"{rule.name} not yet readable",
            detail,
            evidence=evidence,
        )

    missing = ", ".join(item.missing_text() for item in chosen if item.state is ItemState.MISSING)
    waiting = "; ".join(item.pending_text() for item in chosen if item.state is ItemState.PENDING)
    unreadable = [
        f"{item.label} could not be interpreted ("
        + ", ".join(f"'{lab.raw}'" for lab in item.unreadable)
        + ")"
        for item in chosen
        if item.state is ItemState.UNRESOLVED
    ]
    found = _phrases(item.found or item.late for item in chosen)
    notes = ""
    if missing:
        notes += f" Missing: {missing}."
    if waiting:
        notes += f" {sentence(waiting)}: await it."
    if unreadable:
        notes += f" Also: {'; '.join(unreadable)}."
    if found:
        notes += f" Found: {found}."
    chosen_action = actions.AWAIT_PENDING_RESULT if state is ItemState.PENDING else action
    if window.started and schedule.first is not None:
        detail = (
            f"Therapy started {on_day(schedule.first)} without {what} within the {n} days "
            f"before.{notes}"
        )
        return rule.finding(
            Status.OVERDUE,
            severities.overdue,
            f"{rule.name} overdue",
            detail,
            due=schedule.first.earliest,
            evidence=evidence,
            action=chosen_action,
        )
    detail = f"{sentence(what)} needed within {n} days before {window.anchor}.{notes}"
    return rule.finding(
        Status.DUE,
        severities.due,
        f"{rule.name} due",
        detail,
        due=schedule.reference_date,
        evidence=evidence,
        action=chosen_action,
    )


# --- cbc-baseline ------------------------------------------------------------------------


def cbc_baseline(
    record: PatientRecord, as_of: date, settings: RuleSettings, schedule: TreatmentSchedule
) -> Finding:
    """A CBC (panel, or WBC with lymphocytes) within 365 days before the first dose or the
    reference date. SPEC §3 cbc-baseline; not a USPI 2.1 requirement (clinical practice).
    ok; due (not started, missing); overdue (started, missing); with a pending result the
    action is to await it (no new order); unknown when a result could not be read.
    """
    panel = ("CBC panel (or WBC with lymphocytes)", schedule.lab_series(LabKind.CBC_PANEL))
    wbc = ("WBC", schedule.lab_series(LabKind.WBC))
    lymphocytes = ("lymphocytes", schedule.lab_series(LabKind.LYMPHOCYTES))
    return baseline_finding(
        CBC_BASELINE,
        [[panel], [wbc, lymphocytes]],
        "CBC (panel, or WBC with lymphocytes)",
        settings,
        schedule,
        actions.ORDER_CBC,
        BaselineSeverities(due=Severity.LOW, overdue=Severity.MODERATE),
    )


CBC_BASELINE = baseline_rule(
    id="cbc-baseline",
    name="CBC baseline",
    short_name="CBC",
    text=(
        "A CBC (panel, or WBC with lymphocytes) within {baseline_lookback_days} days before "
        "the first dose (or the planned start)."
    ),
    citation="SPEC §3 cbc-baseline (clinical practice before anti-CD20 therapy; not in USPI 2.1)",
    unknown_severity=Severity.LOW,
    evaluate=cbc_baseline,
)
