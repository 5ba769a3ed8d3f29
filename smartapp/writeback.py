"""Post a write-back (CarePlan, Tasks, Provenance) as one transaction, and acknowledgements.

    plan = build_writeback(summary, record, ctx)         # fhir_mappings.write.writeback: pure
    result = write_plan(client, plan)                    # one POST; WriteResult, never raises
    result.ok, result.message, result.entries            # for the page / the CLI

The dashboard's flow: show `plan_for_patient(...)`'s preview; on the user's confirmation
call `writeback_patient(..., expected_fingerprint=plan.fingerprint)`, which reads the
record again, rebuilds the plan, and writes only if the user saw what will be written.

Atomicity: the Bundle is a FHIR transaction — the server applies every entry or none — so
a failure (FhirError) means nothing was written, and the result says so.

Concurrency (ten clicks at once must leave one CarePlan and no duplicate Task). Three
layers, each enough for a different case:
1. Ids derived from identifiers (`fhir_mappings.write.writeback`, `id_strategy="client"`): every
   create is `PUT {type}/{id}`, so however many write-backs race — in other processes,
   other gunicorn workers, other app instances — one id can only ever be one resource.
2. Racing creates of the same new id can make the losers fail as a whole (HAPI: 409
   "client-assigned ID constraint failure"). Such a failure wrote nothing; `write_plan`
   retries on 409 (and on 412 when it can rebuild the plan from a fresh read), and the
   retry is a plain update of identical content.
3. A per-patient lock in this process serialises write-backs of one patient from one
   worker, so double clicks do not even reach the server at the same time.
Conditional create/update alone (SPEC §4 as written) cannot give this guarantee: two
transactions can both see "no match" and both create (see fhir_mappings/write/writeback.py).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from domain.findings import Summary
from domain.records import PatientRecord
from fhir_mappings.write.common import local_reference
from fhir_mappings.write.writeback import (
    PlanItem,
    WritebackBlocked,
    WriteContext,
    WritePlan,
    build_acknowledgement,
    build_writeback,
)
from smartapp.fhir import FhirClient, FhirError, ServerUnavailable, TokenExpired


class PatientUnreadable(WritebackBlocked):
    """The read returned no usable Patient (server down or refusing): nothing to write."""


log = logging.getLogger("smartapp.writeback")

#: Statuses worth another attempt: 409 is a lost race to create an id (nothing was written);
#: 412 (and HAPI's 409 for a stale If-Match) need a fresh read, so only with `rebuild`.
_RETRY_ALWAYS = frozenset({409})
_RETRY_WITH_REBUILD = frozenset({409, 412})
#: What saving an unchanged plan says (nothing is sent: no transaction, no Provenance).
UNCHANGED_MESSAGE = "Nothing to save: the monitoring plan and its Tasks are already up to date."
#: HAPI tags each transaction-response entry with a storage outcome code.
_NO_CHANGE = "SUCCESSFUL_UPDATE_NO_CHANGE"


@dataclass(frozen=True)
class WrittenEntry:
    """What the server did with one entry of the transaction."""

    item: PlanItem
    #: HTTP status of the entry (`response.status`), None if the server did not say.
    status: int | None
    #: `response.location`, e.g. `Task/ofa-task-…/_history/2`.
    location: str | None
    #: created | updated | unchanged | already existed | completed | cancelled | unknown
    outcome: str

    @property
    def reference(self) -> str | None:
        """`Type/id` of the written resource."""
        source = self.location or self.item.reference
        if not source:
            return None
        parts = source.split("/_history/")[0].rstrip("/").split("/")
        return f"{parts[-2]}/{parts[-1]}" if len(parts) >= 2 else None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.item.to_json(),
            "status": self.status,
            "location": self.location,
            "outcome": self.outcome,
            "written": self.reference,
        }


@dataclass(frozen=True)
class WriteResult:
    """The outcome of a write. `ok` False means nothing was written (transaction)."""

    ok: bool
    message: str
    entries: tuple[WrittenEntry, ...] = ()
    #: HTTP status of the failed transaction (None when ok or when no answer came back).
    status: int | None = None
    attempts: int = 1
    #: The plan that was written (or last attempted); after a rebuild, the rebuilt one.
    plan: WritePlan | None = field(default=None, compare=False, repr=False)
    #: True when nothing was written because the record changed since the preview.
    changed: bool = False

    def with_outcome(self, outcome: str, resource_type: str = "Task") -> list[WrittenEntry]:
        return [
            e
            for e in self.entries
            if e.outcome == outcome and e.item.resource_type == resource_type
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "message": self.message,
            "status": self.status,
            "attempts": self.attempts,
            "changed": self.changed,
            "entries": [entry.to_json() for entry in self.entries],
        }


# -- the per-patient lock ----------------------------------------------------------------


class _PatientLock:
    def __init__(self) -> None:
        self.lock = threading.Lock()


_locks: weakref.WeakValueDictionary[tuple[str, str], _PatientLock] = weakref.WeakValueDictionary()
_locks_guard = threading.Lock()


def _patient_lock(base: str, patient_id: str) -> _PatientLock:
    with _locks_guard:
        lock = _locks.get((base, patient_id))
        if lock is None:
            lock = _PatientLock()
            _locks[(base, patient_id)] = lock
        return lock


# -- writing -----------------------------------------------------------------------------


def _status_code(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    head = text.strip().split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def _storage_code(response: Mapping[str, Any]) -> str | None:
    outcome = response.get("outcome")
    if not isinstance(outcome, Mapping):
        return None
    for issue in outcome.get("issue") or []:
        details = issue.get("details") if isinstance(issue, Mapping) else None
        for coding in (details or {}).get("coding") or []:
            if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return None


def _outcome(item: PlanItem, method: str, status: int | None, storage: str | None) -> str:
    if status is None:
        return "unknown"
    if storage == _NO_CHANGE:
        return "unchanged"
    if method == "PATCH":
        return {"complete": "completed", "cancel": "cancelled"}.get(item.action, "updated")
    if method == "POST":
        # A conditional create that matched answers 200 with the existing resource.
        return "created" if status == 201 else "already existed"
    return "created" if status == 201 else "updated"


def parse_response(plan: WritePlan, response: Mapping[str, Any]) -> tuple[WrittenEntry, ...]:
    """Pair each transaction-response entry with the plan entry it answers (same order)."""
    answers = response.get("entry") if response.get("type") == "transaction-response" else None
    answers = answers if isinstance(answers, list) else []
    written = []
    for index, (item, entry) in enumerate(zip(plan.preview, plan.bundle["entry"], strict=True)):
        answer = answers[index] if index < len(answers) else None
        reply = answer.get("response") if isinstance(answer, Mapping) else None
        reply = reply if isinstance(reply, Mapping) else {}
        status = _status_code(reply.get("status"))
        location = reply.get("location") if isinstance(reply.get("location"), str) else None
        outcome = _outcome(item, entry["request"]["method"], status, _storage_code(reply))
        written.append(WrittenEntry(item, status, location, outcome))
    return tuple(written)


def _summary_message(entries: tuple[WrittenEntry, ...]) -> str:
    careplan = next((e for e in entries if e.item.resource_type == "CarePlan"), None)
    parts = []
    if careplan is not None:
        parts.append(f"monitoring plan {careplan.outcome}")
    counts: dict[str, int] = {}
    for entry in entries:
        if entry.item.resource_type == "Task":
            counts[entry.outcome] = counts.get(entry.outcome, 0) + 1
    for outcome in ("created", "already existed", "completed", "cancelled", "updated", "unchanged"):
        if counts.get(outcome):
            parts.append(f"{counts[outcome]} task(s) {outcome}")
    if not any(e.item.resource_type == "Task" for e in entries):
        parts.append("no task changes")
    return "Saved: " + ", ".join(parts) + "."


def _failure_message(err: FhirError) -> str:
    if isinstance(err, ServerUnavailable):
        return (
            "The FHIR server did not answer, so the plan may or may not have been saved; "
            f"saving again is safe ({err})"
        )
    if err.status in (409, 412):
        return (
            "Nothing was written: a task or the plan was changed at the same time "
            f"(by someone else or another click); reload and try again ({err})"
        )
    return f"Nothing was written: {err}"


def write_plan(
    client: FhirClient,
    plan: WritePlan,
    *,
    rebuild: Callable[[], WritePlan] | None = None,
    attempts: int = 3,
    serialize: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> WriteResult:
    """POST the plan's transaction; parse what was created, updated, completed, cancelled.

    Never raises for a failed write (FhirError) — the result has `ok=False` and a message
    a person can act on — except TokenExpired, which the caller must handle (refresh the
    token or ask for a relaunch). `rebuild` (re-read the record and build the plan again)
    lets a conflict (409/412: a Task changed since it was read) be retried with fresh
    data. `serialize=False` skips the in-process per-patient lock (tests use it to prove
    the server-side guarantee on its own).
    """
    if plan.unchanged:
        log.info("write-back: nothing changed; no transaction sent")
        return WriteResult(True, UNCHANGED_MESSAGE, attempts=0, plan=plan)
    lock = _patient_lock(client.base, plan.patient_id)
    if serialize:
        with lock.lock:
            return _write(client, plan, rebuild, max(1, attempts), sleep)
    return _write(client, plan, rebuild, max(1, attempts), sleep)


def _write(
    client: FhirClient,
    plan: WritePlan,
    rebuild: Callable[[], WritePlan] | None,
    attempts: int,
    sleep: Callable[[float], None],
) -> WriteResult:
    attempt = 0
    while True:
        attempt += 1
        try:
            response = client.transaction(plan.bundle)
        except TokenExpired:
            raise
        except FhirError as err:
            retryable = _RETRY_WITH_REBUILD if rebuild else _RETRY_ALWAYS
            if attempt < attempts and err.status in retryable:
                log.info(
                    "write-back conflict (HTTP %s); attempt %d of %d",
                    err.status,
                    attempt + 1,
                    attempts,
                )
                sleep(random.uniform(0.05, 0.25) * attempt)  # noqa: S311 - jitter, not crypto
                if rebuild is not None:
                    try:
                        plan = rebuild()
                    except TokenExpired:
                        raise
                    except WritebackBlocked as blocked:
                        return WriteResult(
                            False, f"Nothing was written: {blocked}", attempts=attempt, plan=plan
                        )
                    except FhirError as read_err:
                        return WriteResult(
                            False,
                            _failure_message(read_err),
                            status=read_err.status,
                            attempts=attempt,
                            plan=plan,
                        )
                continue
            log.info("write-back failed: HTTP %s", err.status)
            log.debug("write-back failure detail: %s", err)
            return WriteResult(
                False, _failure_message(err), status=err.status, attempts=attempt, plan=plan
            )
        entries = parse_response(plan, response)
        log.info("write-back written: %d entries, attempt %d", len(entries), attempt)
        return WriteResult(True, _summary_message(entries), entries, attempts=attempt, plan=plan)


# -- the user -----------------------------------------------------------------------------


def with_verified_author(client: FhirClient, ctx: WriteContext) -> WriteContext:
    """The context with the user's reference only if the server has that resource.

    A server that enforces referential integrity (HAPI's default) refuses the whole
    transaction when Task.requester or Provenance.agent.who points at a resource it does
    not hold (HAPI-1094) — e.g. a sandbox EHR's fhirUser that was never loaded. Then the
    user is kept by name only (`display`). One GET; a 403 (patient scopes may not read
    Practitioner) or any other failure keeps the reference, as real EHRs hold their users.
    """
    reference = local_reference(ctx.author_reference, ctx.fhir_base or client.base)
    if reference is None:
        return ctx
    try:
        client.read(reference)
    except TokenExpired:
        raise
    except FhirError as err:
        if err.status in (404, 410):
            log.info("fhirUser not on the FHIR server (HTTP %s): recorded by name only", err.status)
            return replace(
                ctx, author_reference=None, author_display=ctx.author_display or reference
            )
    return ctx


# -- acknowledgements --------------------------------------------------------------------


def acknowledge(
    client: FhirClient,
    record: PatientRecord,
    check: str,
    reason: str,
    by: str,
    now: datetime,
    *,
    summary: Summary | None = None,
    context: WriteContext | None = None,
) -> WriteResult:
    """Close the open app Task for `check` with the clinician's reason (SPEC §3), with a
    Provenance, in one transaction. `by` is the person's display name (it goes into the
    note "Acknowledged by {by} on {date}: {reason}"); `context` supplies the fhirUser for
    the Provenance (its `now` is replaced by `now`). With `summary`, a finding that has no
    Task for its current due date gets one, created already cancelled with the reason.
    """
    ctx = (
        replace(context, now=now)
        if context is not None
        else WriteContext(now=now, fhir_base=client.base)
    )
    try:
        ctx = with_verified_author(client, ctx)
        plan = build_acknowledgement(record, check, reason, by, ctx, summary=summary)
    except WritebackBlocked as err:
        return WriteResult(False, f"Nothing was written: {err}", attempts=0)
    except TokenExpired:
        raise
    except FhirError as err:
        return WriteResult(False, _failure_message(err), status=err.status, attempts=0)
    result = write_plan(client, plan)
    if result.ok:
        closed = len(result.with_outcome("cancelled")) + len(result.with_outcome("created"))
        result = replace(result, message=f"Acknowledged: {closed} task(s) closed with the reason.")
    return result


# -- read, evaluate, build, write: the whole flow for the web app and the CLI -------------


@dataclass(frozen=True)
class PatientPlan:
    record: PatientRecord
    summary: Summary
    plan: WritePlan

    @property
    def fingerprint(self) -> str:
        return self.plan.fingerprint


def plan_for_patient(
    client: FhirClient,
    patient_id: str,
    ctx: WriteContext,
    *,
    mappings: Any,
    settings: Any,
    as_of: date,
) -> PatientPlan:
    """Read the patient (one batch), evaluate, build the write-back: the preview to show.

    Raises FhirError on a server error, WritebackBlocked when the patient or the app's
    Tasks could not be read completely.
    """
    from fhir_mappings.read.record import UnusableInput
    from smartapp import patient_service

    fetched = patient_service.fetch_patient(client, patient_id, mappings)
    try:
        record, summary = patient_service.summarize_fetched(
            fetched, patient_id, as_of, mappings, settings
        )
    except UnusableInput as err:
        # The whole read failed (no Patient came back): there is nothing safe to write.
        problems = "; ".join(fetched.problems) or str(err)
        raise PatientUnreadable(f"the patient's record could not be read ({problems})") from err
    return PatientPlan(record, summary, build_writeback(summary, record, ctx))


def writeback_patient(
    client: FhirClient,
    patient_id: str,
    ctx: WriteContext,
    *,
    mappings: Any,
    settings: Any,
    as_of: date,
    expected_fingerprint: str | None = None,
) -> WriteResult:
    """The confirm step: read again, rebuild, and write — unless the plan differs from the
    one the user confirmed (`expected_fingerprint`), in which case nothing is written and
    `changed` is True (show the new preview). Conflicts are retried with a fresh read.
    """

    def build() -> WritePlan:
        return plan_for_patient(
            client, patient_id, ctx, mappings=mappings, settings=settings, as_of=as_of
        ).plan

    try:
        ctx = with_verified_author(client, ctx)
        plan = build()
    except WritebackBlocked as err:
        return WriteResult(False, f"Nothing was written: {err}", attempts=0)
    except TokenExpired:
        raise
    except FhirError as err:
        return WriteResult(False, f"Nothing was written: {err}", status=err.status, attempts=0)
    if expected_fingerprint is not None and plan.fingerprint != expected_fingerprint:
        return WriteResult(
            False,
            "Nothing was written: the record changed since you reviewed the plan; "
            "review the new plan and confirm again",
            attempts=0,
            plan=plan,
            changed=True,
        )
    return write_plan(client, plan, rebuild=build)
