"""The worklist as the CLI prints it: JSON (a list of `check` summaries) and a text table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smartapp.report import summary_json
from smartapp.worklist.rows import WorklistRow

#: Icon and word for each row status (never colour alone, SPEC §4 Web).
STATUS_LABELS = {
    "alert": ("!", "Alert"),
    "overdue": ("✕", "Overdue"),
    "due": ("▸", "Due"),
    "unknown": ("?", "Unknown"),
    "ok": ("✓", "OK"),
}


def row_json(row: WorklistRow, summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """SPEC §4 `check` JSON of the patient, plus a `worklist` part (extra keys only add).

    `summary`: the stored `check` JSON of a row read back from a snapshot."""
    if summary is not None:
        doc = dict(summary)
    elif row.summary is not None:
        doc = summary_json(row.summary)
    else:
        raise ValueError(f"no summary for worklist row {row.patient_id}")
    doc["worklist"] = {
        "status": row.status,
        "highest_severity": row.highest_severity,
        "overdue": [item.check for item in row.overdue],
        "due": [item.check for item in row.due],
        "alerts": [item.check for item in row.alerts],
        "unknown": [item.check for item in row.unknown],
        "open_tasks": [
            {
                "check": task.check,
                "status": task.status,
                "owner": task.owner,
                "due": task.due.isoformat() if task.due else None,
                "reference": task.reference,
            }
            for task in row.open_tasks
        ],
        "membership": list(row.membership),
    }
    return doc


def worklist_json(rows: Iterable[WorklistRow]) -> list[dict[str, Any]]:
    return [row_json(row) for row in rows]


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def worklist_text(rows: Iterable[WorklistRow]) -> str:
    """A fixed-width table: status, patient, phase, next dose, overdue/due, open Tasks."""
    lines = [
        f"{'STATUS':<11} {'PATIENT':<32} {'PHASE':<13} {'NEXT DOSE':<10}  "
        f"{'SEVERITY':<8}  OVERDUE / DUE / ALERTS; OPEN TASKS"
    ]
    for row in rows:
        icon, word = STATUS_LABELS[row.status]
        items = [f"overdue {i.label()}" for i in row.overdue]
        items += [f"due {i.label()}" for i in row.due]
        items += [f"alert {i.check}" for i in row.alerts]
        items += [f"unknown {i.check}" for i in row.unknown]
        tasks = [task.label() for task in row.open_tasks]
        detail = ", ".join(items) or "-"
        if tasks:
            detail += "; tasks: " + " | ".join(tasks)
        if row.incomplete:
            detail += " [data incomplete]"
        patient = _cell(f"{row.name} ({row.patient_id})", 32)
        next_due = row.next_due.isoformat() if row.next_due else "-"
        lines.append(
            f"{icon} {word:<9} {patient:<32} {row.phase:<13} {next_due:<10}  "
            f"{row.highest_severity or '-':<8}  {detail}"
        )
    return "\n".join(lines)
