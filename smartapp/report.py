"""A Summary as the JSON of SPEC §4 (CLI `check`, `/api/patient/<id>`) and as terminal text."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.findings import Finding, Status, Summary

#: How each status reads in a terminal: an icon AND a word, never colour alone (SPEC §4 Web).
STATUS_MARKS: dict[Status, str] = {
    Status.ALERT: "[!] ALERT",
    Status.OVERDUE: "[x] OVERDUE",
    Status.DUE: "[>] DUE",
    Status.UNKNOWN: "[?] UNKNOWN",
    Status.OK: "[ok] OK",
    Status.NOT_APPLICABLE: "[-] N/A",
}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def finding_json(finding: Finding) -> dict[str, Any]:
    ack = finding.acknowledgement
    return {
        "check": finding.check,
        "status": finding.status.value,
        "severity": finding.severity.value,
        "title": finding.title,
        "detail": finding.detail,
        "due": _iso(finding.due),
        "evidence": [
            {
                "reference": item.reference,
                "date": item.date,
                "display": item.display,
                "matched_by": item.matched_by,
            }
            for item in finding.evidence
        ],
        "action": (
            {"code": finding.action.code, "display": finding.action.display}
            if finding.action
            else None
        ),
        "citation": finding.citation,
        "acknowledgement": ({"by": ack.by, "on": ack.on, "reason": ack.reason} if ack else None),
    }


def summary_json(summary: Summary) -> dict[str, Any]:
    """The `check` JSON of SPEC §4; extra keys (problems, incomplete) only add detail."""
    schedule = summary.schedule
    window = schedule.vaccine_window
    patient = summary.patient
    return {
        "patient": {
            "id": patient.id,
            "name": patient.name,
            "birthDate": _iso(patient.birth_date),
            "gender": patient.gender,
        },
        "as_of": summary.as_of.isoformat(),
        "phase": summary.phase.value,
        "schedule": {
            "first_dose": _iso(schedule.first_dose),
            "last_dose": _iso(schedule.last_dose),
            "doses": schedule.doses,
            "next_due": _iso(schedule.next_due),
            "vaccine_window": [window[0].isoformat(), window[1].isoformat()] if window else None,
            "earliest_start": _iso(schedule.earliest_start),
            # Home therapy (SPEC §2): how the next due date was found, pens in hand.
            "next_due_from": schedule.next_due_basis.value if schedule.next_due_basis else None,
            "pens_in_hand": schedule.pens_in_hand,
            "supply_until": _iso(schedule.supply_until),
        },
        "findings": [finding_json(item) for item in summary.findings],
        "data": {
            "read": summary.data.read,
            "skipped": summary.data.skipped,
            "uninterpretable": summary.data.uninterpretable,
            "incomplete": sorted(summary.data.incomplete),
            "problems": list(summary.data.problems),
        },
    }


def summary_text(summary: Summary) -> str:
    """What a clinician wants to read in a terminal: who, where in the course, what to do."""
    patient = summary.patient
    schedule = summary.schedule
    born = patient.birth_date.isoformat() if patient.birth_date else "birth date unknown"
    lines = [
        f"{patient.name} ({patient.gender or 'sex unknown'}, born {born}) - Patient/{patient.id}",
        f"As of {summary.as_of.isoformat()}: phase {summary.phase.value}, "
        f"{schedule.doses} dose(s) counted",
    ]
    if schedule.first_dose:
        lines.append(
            f"  first dose {schedule.first_dose.isoformat()}, "
            f"last dose {_iso(schedule.last_dose) or 'none recorded'}, "
            f"next due {_iso(schedule.next_due) or '-'}"
            + (
                " (at the earliest: the dose record is incomplete)"
                if summary.next_due_is_earliest
                else ""
            )
        )
    if schedule.next_due_basis is not None and schedule.next_due_basis.value != "schedule":
        supply = f"  next due date by {schedule.next_due_basis.value}"
        if schedule.pens_in_hand:
            supply += f": {schedule.pens_in_hand} pen(s) in hand"
        if schedule.supply_until:
            supply += f", supply until {schedule.supply_until.isoformat()} (refill due)"
        lines.append(supply)
    if schedule.vaccine_window:
        start, end = schedule.vaccine_window
        lines.append(f"  next non-live vaccine window {start.isoformat()} to {end.isoformat()}")
    if schedule.earliest_start:
        lines.append(f"  earliest safe start {schedule.earliest_start.isoformat()}")
    data = summary.data
    if data.incomplete:
        lines.append(
            f"  DATA INCOMPLETE ({', '.join(sorted(data.incomplete))}): affected checks say unknown"
        )
    lines.append("")
    for finding in summary.findings:
        due = f" (due {finding.due.isoformat()})" if finding.due else ""
        lines.append(
            f"{STATUS_MARKS[finding.status]:<12} {finding.severity.value:<8} "
            f"{finding.check}: {finding.title}{due}"
        )
        lines.append(f"             {finding.detail}")
        if finding.acknowledgement:
            ack = finding.acknowledgement
            lines.append(f"             acknowledged by {ack.by} on {ack.on}: {ack.reason}")
        for item in finding.evidence:
            lines.append(f"             - {item.reference} {item.date or ''} {item.display}")
    lines.append("")
    lines.append(
        f"Data: {data.read} resources read, {data.skipped} could not be read, "
        f"{data.uninterpretable} uninterpretable"
    )
    lines.extend(f"  - {problem}" for problem in data.problems)
    return "\n".join(lines)
