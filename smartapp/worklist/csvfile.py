"""The worklist as CSV (one header row, one row per patient), safe to open in a spreadsheet.

CSV injection: a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
is a formula to Excel, LibreOffice and Google Sheets, and FHIR text (a patient's name, a
Task owner) is not ours to trust. Such a cell gets a leading `'` (OWASP "CSV Injection").
A cell that already starts with `'` gets one more, so `read_csv` can undo the escaping
exactly: the export round-trips.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from smartapp.worklist.rows import WorklistRow

COLUMNS: tuple[str, ...] = (
    "patient_id",
    "name",
    "birth_date",
    "gender",
    "phase",
    "next_dose_due",
    "status",
    "highest_severity",
    "overdue",
    "due",
    "alerts",
    "unknown",
    "open_tasks",
    "overdue_count",
    "due_count",
    "alert_count",
    "open_task_count",
    "data_incomplete",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SEPARATOR = "; "


def escape_cell(value: str) -> str:
    """The cell as written: formula-looking text is prefixed with `'` (module doc)."""
    if value.startswith(_FORMULA_START) or value.startswith("'"):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """Undo `escape_cell`."""
    return value[1:] if value.startswith("'") else value


def row_values(row: WorklistRow) -> dict[str, str]:
    """The CSV cells of a row, unescaped (what `read_csv` gives back)."""
    return {
        "patient_id": row.patient_id,
        "name": row.name,
        "birth_date": row.birth_date.isoformat() if row.birth_date else "",
        "gender": row.gender or "",
        "phase": row.phase,
        "next_dose_due": row.next_due.isoformat() if row.next_due else "",
        "status": row.status,
        "highest_severity": row.highest_severity or "",
        "overdue": _SEPARATOR.join(item.label() for item in row.overdue),
        "due": _SEPARATOR.join(item.label() for item in row.due),
        "alerts": _SEPARATOR.join(item.label() for item in row.alerts),
        "unknown": _SEPARATOR.join(item.label() for item in row.unknown),
        "open_tasks": _SEPARATOR.join(task.label() for task in row.open_tasks),
        "overdue_count": str(len(row.overdue)),
        "due_count": str(len(row.due)),
        "alert_count": str(len(row.alerts)),
        "open_task_count": str(len(row.open_tasks)),
        "data_incomplete": "yes" if row.incomplete else "no",
    }


def write_csv(rows: Iterable[WorklistRow]) -> str:
    """The CSV text: header row, then one escaped row per patient (CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for row in rows:
        values = row_values(row)
        writer.writerow([escape_cell(values[column]) for column in COLUMNS])
    return buffer.getvalue()


def read_csv(text: str) -> list[dict[str, str]]:
    """Rows of a worklist CSV, cells unescaped (ValueError if the header is not ours)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header) != COLUMNS:
        raise ValueError("not a worklist CSV (unexpected header row)")
    return [
        {column: unescape_cell(cell) for column, cell in zip(COLUMNS, cells, strict=True)}
        for cells in reader
    ]
