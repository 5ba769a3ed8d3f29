"""Creating the selected patients' Tasks from the worklist, in one action (SPEC §1).

Each selected patient gets the write-back of `fhir_mappings.write.writeback`: one atomic transaction
with the CarePlan, a Task per actionable finding that has none yet, the completion of
Tasks whose finding is now ok, and a Provenance (SPEC §4 "Write-back"). The patients are
read in bulk first (the worklist's multi-patient batches), so selecting 50 patients costs
one read batch, not 50; the writes are one transaction per patient, as the spec requires.
A conflict (409/412) re-reads that one patient and retries (`smartapp.writeback`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.findings import Summary
from domain.records import PatientRecord
from fhir_mappings.site import Mappings
from fhir_mappings.write.careplan import is_taskable
from fhir_mappings.write.common import task_identifier_value
from fhir_mappings.write.writeback import WritebackBlocked, WriteContext, WritePlan, build_writeback
from smartapp.fhir import FhirClient, FhirError, TokenExpired
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings
from smartapp.worklist.bulk import ReadReport, patient_record, read_by_search
from smartapp.writeback import plan_for_patient, write_plan

#: At most this many patients per action (a page of the worklist; keeps a request bounded).
MAX_PATIENTS = 200


@dataclass(frozen=True)
class PatientTasksResult:
    """What the write-back did for one patient."""

    patient_id: str
    name: str
    ok: bool
    created: int = 0
    #: Actionable findings whose Task already existed (never duplicated).
    already_existed: int = 0
    #: Open Tasks completed (finding now ok) or cancelled (superseded, no longer applies).
    closed: int = 0
    message: str = ""
    #: Closed alert Tasks reopened because the alert rests on new evidence.
    reopened: int = 0


def _already_existed(summary: Summary, record: PatientRecord) -> int:
    known = {task.identifier for task in record.tasks}
    return sum(
        1
        for finding in summary.findings
        if is_taskable(finding)
        and finding.acknowledgement is None
        and task_identifier_value(summary.patient.id, finding.check, finding.due) in known
    )


def create_tasks(
    client: FhirClient,
    patient_ids: Sequence[str],
    ctx: WriteContext,
    *,
    mappings: Mappings,
    settings: RuleSettings,
    as_of: date,
    readable: frozenset[str] | None = None,
) -> list[PatientTasksResult]:
    """Write each patient's plan and Tasks (module doc); one result per patient, in order.

    Never raises for a refused write (the patient's result says why); raises
    TokenExpired on 401 and ValueError for more than MAX_PATIENTS patients.
    """
    wanted = list(dict.fromkeys(patient_ids))
    if len(wanted) > MAX_PATIENTS:
        raise ValueError(f"at most {MAX_PATIENTS} patients at a time")
    report = ReadReport.empty()
    results: dict[str, PatientTasksResult] = {}
    for data in read_by_search([client], wanted, mappings, report, readable=readable):
        record = patient_record(data, mappings)
        summary = evaluate(record, as_of, settings)
        results[data.patient_id] = _write_one(
            client, record, summary, ctx, mappings=mappings, settings=settings, as_of=as_of
        )
    for patient_id in report.missing:
        results[patient_id] = PatientTasksResult(
            patient_id, patient_id, False, message="The patient could not be read."
        )
    return [
        results.get(pid)
        or PatientTasksResult(pid, pid, False, message="The patient could not be read.")
        for pid in wanted
    ]


def _write_one(
    client: FhirClient,
    record: PatientRecord,
    summary: Summary,
    ctx: WriteContext,
    **plan_kw: Any,
) -> PatientTasksResult:
    patient_id, name = summary.patient.id, summary.patient.name
    existed = _already_existed(summary, record)
    try:
        plan = build_writeback(summary, record, ctx)
    except WritebackBlocked as err:
        return PatientTasksResult(patient_id, name, False, message=f"Nothing was written: {err}")

    def rebuild() -> WritePlan:
        return plan_for_patient(client, patient_id, ctx, **plan_kw).plan

    try:
        result = write_plan(client, plan, rebuild=rebuild)
    except TokenExpired:
        raise
    except FhirError as err:  # write_plan returns failures; a rebuild's read may raise
        return PatientTasksResult(patient_id, name, False, message=f"Nothing was written: {err}")
    if not result.ok:
        return PatientTasksResult(
            patient_id, name, False, already_existed=existed, message=result.message
        )
    created = len(result.with_outcome("created"))
    existed += len(result.with_outcome("already existed"))
    closed = len(result.with_outcome("completed")) + len(result.with_outcome("cancelled"))
    # A reopened alert Task had an existing identifier, so `_already_existed` counted it.
    reopened = len(result.with_outcome("updated"))
    return PatientTasksResult(
        patient_id,
        name,
        True,
        created=created,
        already_existed=max(0, existed - reopened),
        closed=closed,
        message=result.message,
        reopened=reopened,
    )
