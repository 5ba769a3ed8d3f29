"""The timing every periodic monitoring check shares (ig-monitoring, mri-monitoring).

A test repeated every so many days is overdue (moderate) after its due day, due (low) from
`monitoring_due_window_days` before it, and ok (info, carrying the next due day) earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from domain.findings import Action, Evidence, Finding, Severity, Status
from smartapp.rules.base import Rule
from smartapp.rules.evidence import day
from smartapp.rules.settings import RuleSettings


def monitoring_finding(
    rule: Rule,
    subject: str,
    text: str,
    due: date,
    as_of: date,
    settings: RuleSettings,
    evidence: Sequence[Evidence],
    action: Action,
    note: str = "",
) -> Finding:
    """`subject` names the test in the titles ("Brain MRI overdue"); `text` opens every
    detail; `note` ends a due or overdue one (a pending result to await)."""
    if as_of > due:
        return rule.finding(
            Status.OVERDUE,
            Severity.MODERATE,
            f"{subject} overdue",
            f"{text}due on {day(due)}, {(as_of - due).days} days ago.{note}",
            due=due,
            evidence=evidence,
            action=action,
        )
    if (due - as_of).days <= settings.monitoring_due_window_days:
        return rule.finding(
            Status.DUE,
            Severity.LOW,
            f"{subject} due",
            f"{text}due on {day(due)}.{note}",
            due=due,
            evidence=evidence,
            action=action,
        )
    return rule.ok(
        f"{subject} up to date", f"{text}next due on {day(due)}.", due=due, evidence=evidence
    )
