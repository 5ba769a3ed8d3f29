"""What a worklist snapshot stores, and reading it back: compact, compressed JSON.

- the screen's rows (`encode_rows` / `decode_rows`): every `WorklistRow` field but the
  Summary object, so `/worklist` filters, sorts, pages and exports CSV from one blob;
- each patient's `check` summary JSON (`encode_json` / `decode_json`) for the JSON outputs;
- each patient's data as read (`encode_patient_data` / `decode_patient_data`), so an
  unchanged patient is evaluated again on a later day without reading the server.

A version number leads every blob; one the code does not know raises `StoredFormatError`
(the refresh then reads the server again rather than guess).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import orjson

from smartapp.worklist.bulk import PatientData
from smartapp.worklist.rows import FindingItem, OpenTask, WorklistRow

FORMAT = 1
_LEVEL = 1  # zlib: fast; JSON still shrinks about 8-fold


class StoredFormatError(ValueError):
    """A stored blob this version of the app cannot read."""


def _pack(value: Any) -> bytes:
    return zlib.compress(orjson.dumps({"v": FORMAT, "d": value}), _LEVEL)


def _unpack(blob: bytes) -> Any:
    try:
        wrapper = orjson.loads(zlib.decompress(blob))
    except (zlib.error, orjson.JSONDecodeError) as err:
        raise StoredFormatError("the stored data cannot be read") from err
    if not isinstance(wrapper, dict) or wrapper.get("v") != FORMAT:
        raise StoredFormatError("the stored data has another format version")
    return wrapper["d"]


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def _item(item: FindingItem) -> list[Any]:
    return [item.check, item.status, item.severity, item.title, _day(item.due)]


def _items(values: Any) -> tuple[FindingItem, ...]:
    return tuple(FindingItem(v[0], v[1], v[2], v[3], _date(v[4])) for v in values)


def row_record(row: WorklistRow) -> dict[str, Any]:
    return {
        "id": row.patient_id,
        "name": row.name,
        "birth": _day(row.birth_date),
        "gender": row.gender,
        "phase": row.phase,
        "next": _day(row.next_due),
        "overdue": [_item(i) for i in row.overdue],
        "due": [_item(i) for i in row.due],
        "alerts": [_item(i) for i in row.alerts],
        "unknown": [_item(i) for i in row.unknown],
        "severity": row.highest_severity,
        "tasks": [[t.check, t.status, t.owner, _day(t.due), t.reference] for t in row.open_tasks],
        "incomplete": row.incomplete,
        "membership": list(row.membership),
        "checks": [list(pair) for pair in row.check_statuses],
    }


def row_from_record(record: dict[str, Any]) -> WorklistRow:
    return WorklistRow(
        patient_id=record["id"],
        name=record["name"],
        birth_date=_date(record["birth"]),
        gender=record["gender"],
        phase=record["phase"],
        next_due=_date(record["next"]),
        overdue=_items(record["overdue"]),
        due=_items(record["due"]),
        alerts=_items(record["alerts"]),
        unknown=_items(record["unknown"]),
        highest_severity=record["severity"],
        open_tasks=tuple(OpenTask(t[0], t[1], t[2], _date(t[3]), t[4]) for t in record["tasks"]),
        incomplete=bool(record["incomplete"]),
        membership=tuple(record["membership"]),
        check_statuses=tuple((pair[0], pair[1]) for pair in record["checks"]),
    )


def encode_rows(rows: Iterable[WorklistRow]) -> bytes:
    return _pack([row_record(row) for row in rows])


def decode_rows(blob: bytes) -> list[WorklistRow]:
    return [row_from_record(record) for record in _unpack(blob)]


def encode_json(doc: dict[str, Any]) -> bytes:
    return _pack(doc)


def decode_json(blob: bytes) -> dict[str, Any]:
    doc = _unpack(blob)
    if not isinstance(doc, dict):
        raise StoredFormatError("the stored summary is not a JSON object")
    return doc


def encode_patient_data(data: PatientData) -> bytes:
    return _pack(
        {
            "resources": data.resources,
            "incomplete": sorted(data.incomplete),
            "problems": list(data.problems),
        }
    )


def decode_patient_data(patient_id: str, blob: bytes) -> PatientData:
    stored = _unpack(blob)
    return PatientData(
        patient_id,
        stored["resources"],
        frozenset(stored["incomplete"]),
        tuple(stored["problems"]),
    )


def resource_keys(resources: Sequence[dict[str, Any]]) -> list[str]:
    """`Type/id` of each resource (how a history read names a deleted one)."""
    keys: list[str] = []
    for resource in resources:
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if isinstance(rtype, str) and isinstance(rid, str):
            keys.append(f"{rtype}/{rid}")
    return keys
