"""Write-back against a real HAPI FHIR server (fixture `hapi_base`, tests/conftest.py).

Each test builds its own patient with a unique id (no demo cohort), reads it back the way
the app does (`patient_service.fetch_patient` + `summarize_fetched`), and writes with
`smartapp.writeback`. What is proven here and not in the unit tests: the server accepts
our bundles; re-runs and concurrent runs leave one CarePlan and one Task per identifier;
a failed entry writes nothing; a stale If-Match loses nothing; an arriving lab completes
its Task; an acknowledgement reads back as one; and what we wrote reads back valid.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirclient.models.fhirelementfactory import FHIRElementFactory

from domain.findings import Status, Summary
from domain.records import PatientRecord
from fhir_mappings.canonical import CAREPLAN_IDENTIFIER_SYSTEM, TASK_IDENTIFIER_SYSTEM
from fhir_mappings.site import load_mappings
from fhir_mappings.write.writeback import WriteContext, WritePlan, build_writeback
from smartapp import patient_service
from smartapp.fhir import FhirClient
from smartapp.rules.settings import RuleSettings
from smartapp.worklist.tasks import create_tasks
from smartapp.writeback import (
    UNCHANGED_MESSAGE,
    WriteResult,
    acknowledge,
    plan_for_patient,
    write_plan,
    writeback_patient,
)
from tests.fhir_mappings import fhirdata as fd
from tests.support.threads import run_together

pytestmark = pytest.mark.integration

TODAY = date.today()
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


@pytest.fixture
def client(hapi_base: str) -> Iterator[FhirClient]:
    with FhirClient(hapi_base) as fhir:
        yield fhir


@pytest.fixture
def pid() -> str:
    return f"wb-{uuid.uuid4().hex[:12]}"


def ctx(**kw: Any) -> WriteContext:
    return WriteContext(now=datetime.now(UTC), **kw)


# -- building a patient on the server ------------------------------------------------------


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def put(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "resource": resource,
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
    }


def subject(pid: str) -> dict[str, str]:
    return {"reference": f"Patient/{pid}"}


def patient(pid: str) -> dict[str, Any]:
    return fd.patient(
        pid, name=[{"family": "Writeback", "given": ["Test"]}], birthDate="1985-04-02"
    )


def ms_condition(pid: str) -> dict[str, Any]:
    """Relapsing remitting MS, active and confirmed."""
    return fd.condition(fd.SNOMED, "426373005", cid=f"{pid}-ms", subject=subject(pid))


def dose(pid: str, n: int, offset: int) -> dict[str, Any]:
    """Kesimpta 20 mg given (no route recorded)."""
    return fd.administration(
        fd.kesimpta_atc(), aid=f"{pid}-dose{n}", when=day(offset), route=None, subject=subject(pid)
    )


def immunoglobulin(pid: str, code: str, value: float, offset: int) -> dict[str, Any]:
    return fd.observation(
        code,
        oid=f"{pid}-{code}",
        when=day(offset),
        subject=subject(pid),
        category=[fd.concept(OBSERVATION_CATEGORY, "laboratory")],
        valueQuantity=fd.quantity(value, "mg/dL"),
    )


def igg_igm(pid: str, offset: int = -3) -> list[dict[str, Any]]:
    return [immunoglobulin(pid, fd.IGG, 1050, offset), immunoglobulin(pid, fd.IGM, 110, offset)]


def seed(client: FhirClient, *resources: dict[str, Any]) -> None:
    client.transaction(
        {"resourceType": "Bundle", "type": "transaction", "entry": [put(r) for r in resources]}
    )


def on_therapy(client: FhirClient, pid: str) -> None:
    """Four doses, the last 40 days ago (the next is overdue); no baseline labs, no MRI."""
    seed(
        client,
        patient(pid),
        ms_condition(pid),
        dose(pid, 1, -110),
        dose(pid, 2, -103),
        dose(pid, 3, -96),
        dose(pid, 4, -68),
    )


# -- reading it back the app's way -----------------------------------------------------------


def evaluate(client: FhirClient, pid: str) -> tuple[PatientRecord, Summary]:
    mappings = load_mappings(None)
    fetched = patient_service.fetch_patient(client, pid, mappings)
    assert not fetched.incomplete, fetched.problems
    return patient_service.summarize_fetched(fetched, pid, TODAY, mappings, RuleSettings())


def written_once(client: FhirClient, pid: str) -> tuple[PatientRecord, Summary]:
    """A patient with nothing else on record whose first write-back is saved (its Tasks ask
    for the baselines); returns the app's read after it."""
    seed(client, patient(pid))
    record, summary = evaluate(client, pid)
    assert write_plan(client, build_writeback(summary, record, ctx())).ok
    return evaluate(client, pid)


def plan_for(client: FhirClient, pid: str, context: WriteContext | None = None) -> WritePlan:
    record, summary = evaluate(client, pid)
    return build_writeback(summary, record, context or ctx(fhir_base=client.base))


def search(client: FhirClient, url: str) -> list[dict[str, Any]]:
    result = client.search_all(url)
    assert result.complete, result.problem
    return list(result.resources)


def app_tasks(client: FhirClient, pid: str) -> list[dict[str, Any]]:
    return search(client, f"Task?patient={pid}&identifier={TASK_IDENTIFIER_SYSTEM}|&_count=200")


def careplans(client: FhirClient, pid: str) -> list[dict[str, Any]]:
    return search(client, f"CarePlan?patient={pid}&_count=50")


def provenances(client: FhirClient, pid: str) -> list[dict[str, Any]]:
    refs = [f"CarePlan/{c['id']}" for c in careplans(client, pid)]
    refs += [f"Task/{t['id']}" for t in app_tasks(client, pid)]
    if not refs:
        return []
    return search(client, f"Provenance?target={','.join(refs)}&_count=200")


def identifiers(tasks: list[dict[str, Any]]) -> Counter[str]:
    return Counter(
        i["value"] for t in tasks for i in t["identifier"] if i["system"] == TASK_IDENTIFIER_SYSTEM
    )


def statuses(tasks: list[dict[str, Any]]) -> dict[str, str]:
    return {
        i["value"].split(":")[1]: t["status"]
        for t in tasks
        for i in t["identifier"]
        if i["system"] == TASK_IDENTIFIER_SYSTEM
    }


def ten_at_once(
    hapi_base: str, pid: str, write: Callable[[FhirClient], WriteResult]
) -> list[dict[str, Any]]:
    """`write` ten times at once, each on a connection of its own; every write succeeds and
    the server holds one CarePlan and each Task once. Returns the Tasks."""
    results: list[WriteResult] = []
    barrier = threading.Barrier(10)

    def run() -> None:
        with FhirClient(hapi_base) as own:
            barrier.wait()
            results.append(write(own))

    run_together([run] * 10)

    assert all(r.ok for r in results), [r.message for r in results if not r.ok]
    with FhirClient(hapi_base) as check:
        assert len(careplans(check, pid)) == 1
        tasks = app_tasks(check, pid)
        assert set(identifiers(tasks).values()) == {1}
    return tasks


# -- the tests ---------------------------------------------------------------------------------


def test_writing_twice_leaves_one_careplan_and_the_same_tasks(client: FhirClient, pid: str) -> None:
    on_therapy(client, pid)
    first = plan_for(client, pid)
    assert first.count("create") >= 2, first.describe()
    result = write_plan(client, first)
    assert result.ok, result.message
    assert {e.outcome for e in result.entries} == {"created"}

    tasks = app_tasks(client, pid)
    assert len(tasks) == first.count("create")
    assert max(identifiers(tasks).values()) == 1
    (careplan,) = careplans(client, pid)
    assert careplan["identifier"] == [{"system": CAREPLAN_IDENTIFIER_SYSTEM, "value": pid}]
    assert careplan["addresses"] == [{"reference": f"Condition/{pid}-ms"}]
    for task in tasks:
        assert task["basedOn"] == [{"reference": f"CarePlan/{careplan['id']}"}]
        assert task["for"] == {"reference": f"Patient/{pid}"}

    # Saving the same plan again writes nothing: no transaction, no second Provenance.
    second = plan_for(client, pid)
    assert second.unchanged and second.count("create") == 0, second.describe()
    before = client.round_trips
    again = write_plan(client, second)
    assert again.ok and again.message == UNCHANGED_MESSAGE
    assert client.round_trips == before
    assert len(careplans(client, pid)) == 1
    assert sorted(t["id"] for t in app_tasks(client, pid)) == sorted(t["id"] for t in tasks)
    assert len(provenances(client, pid)) == 1


def test_ten_concurrent_writebacks_leave_no_duplicates(hapi_base: str, pid: str) -> None:
    """The worst case: ten write-backs all built from the same empty read, posted at once,
    without the in-process lock (as from ten processes). Deterministic ids make them one."""
    with FhirClient(hapi_base) as setup:
        on_therapy(setup, pid)
        plan = plan_for(setup, pid)
    tasks = ten_at_once(
        hapi_base, pid, lambda own: write_plan(own, plan, serialize=False, attempts=5)
    )
    assert len(tasks) == plan.count("create")


def test_ten_concurrent_clicks_through_the_app_path(hapi_base: str, pid: str) -> None:
    """Ten clicks, each reading and building its own plan, then writing (with the lock)."""
    with FhirClient(hapi_base) as setup:
        on_therapy(setup, pid)
    ten_at_once(hapi_base, pid, lambda own: write_plan(own, plan_for(own, pid)))


def test_task_is_completed_when_its_lab_arrives(client: FhirClient, pid: str) -> None:
    seed(client, patient(pid), ms_condition(pid))  # pre-treatment: baselines are due
    record, summary = evaluate(client, pid)
    ig = next(f for f in summary.findings if f.check == "ig-baseline")
    assert ig.status is Status.DUE and ig.action is not None
    assert write_plan(client, build_writeback(summary, record, ctx())).ok
    assert statuses(app_tasks(client, pid))["ig-baseline"] == "requested"

    seed(client, *igg_igm(pid))
    record, summary = evaluate(client, pid)
    assert next(f for f in summary.findings if f.check == "ig-baseline").status is Status.OK
    plan = build_writeback(summary, record, ctx())
    completions = [i for i in plan.preview if i.action == "complete"]
    assert [i.check for i in completions] == ["ig-baseline"]
    result = write_plan(client, plan)
    assert result.ok, result.message
    assert [e.outcome for e in result.entries if e.item.check == "ig-baseline"] == ["completed"]

    task = next(t for t in app_tasks(client, pid) if ":ig-baseline:" in t["identifier"][0]["value"])
    assert task["status"] == "completed"
    assert task["statusReason"]["text"].startswith("Requirement met: ")
    assert "lastModified" in task
    other = statuses(app_tasks(client, pid))
    assert other["hbv-screening"] == "requested"  # still missing: left open


def test_a_transaction_with_one_invalid_entry_writes_nothing(client: FhirClient, pid: str) -> None:
    on_therapy(client, pid)
    plan = plan_for(client, pid)
    bad_task = dict(plan.bundle["entry"][1])
    bad_task["resource"] = {
        **bad_task["resource"],
        "id": "ofa-task-invalid",
        "for": {"reference": f"Patient/{pid}-does-not-exist"},
    }
    bad_task["request"] = {"method": "PUT", "url": "Task/ofa-task-invalid"}
    broken = WritePlan(
        plan.patient_id,
        {**plan.bundle, "entry": [*plan.bundle["entry"], bad_task]},
        (*plan.preview, plan.preview[1]),
    )
    result = write_plan(client, broken)
    assert not result.ok
    assert result.message.startswith("Nothing was written")
    assert result.entries == ()
    assert careplans(client, pid) == []
    assert app_tasks(client, pid) == []


def test_a_stale_version_fails_the_whole_write_and_loses_nothing(
    client: FhirClient, pid: str
) -> None:
    record, summary = written_once(client, pid)
    task = next(t for t in record.tasks if t.check == "ig-baseline")
    task_ref = task.source.reference.split("/_history/")[0]

    # A clinician changes the Task (version 2) after our read of version 1.
    stored = client.read(task_ref)
    client.update(task_ref, {**stored, "status": "in-progress", "note": [{"text": "drawn"}]})

    seed(client, *igg_igm(pid))
    record, summary = evaluate(client, pid)
    stale = replace(task, source=replace(task.source, reference=f"{task_ref}/_history/1"))
    record = replace(
        record,
        tasks=tuple(stale if t.identifier == task.identifier else t for t in record.tasks),
    )
    plan = build_writeback(summary, record, ctx())
    assert any(e["request"].get("ifMatch") == 'W/"1"' for e in plan.bundle["entry"])
    result = write_plan(client, plan)
    assert not result.ok
    assert result.status in (409, 412)
    after = client.read(task_ref)
    assert after["status"] == "in-progress"
    assert after["note"] == [{"text": "drawn"}]
    assert len(provenances(client, pid)) == 1  # only the first write's


def test_acknowledgement_closes_the_task_and_the_rules_show_it(
    client: FhirClient, pid: str
) -> None:
    record, summary = written_once(client, pid)

    result = acknowledge(
        client,
        record,
        "cbc-baseline",
        "CBC done at the outside lab last week",
        "Dr Who",
        datetime.now(UTC),
        summary=summary,
    )
    assert result.ok, result.message

    record, summary = evaluate(client, pid)
    cbc = next(f for f in summary.findings if f.check == "cbc-baseline")
    assert cbc.acknowledgement is not None
    assert cbc.acknowledgement.reason == "CBC done at the outside lab last week"
    task = next(
        t for t in app_tasks(client, pid) if ":cbc-baseline:" in t["identifier"][0]["value"]
    )
    assert task["status"] == "cancelled"
    assert task["note"][-1]["text"].startswith("Acknowledged by Dr Who on ")
    assert task["note"][-1]["authorString"] == "Dr Who"
    again = build_writeback(summary, record, ctx())
    assert not [i for i in again.preview if i.check == "cbc-baseline"]


def test_what_we_wrote_reads_back_valid_and_unchanged(client: FhirClient, pid: str) -> None:
    on_therapy(client, pid)
    plan = plan_for(client, pid, ctx(author_reference=f"Patient/{pid}", fhir_base=client.base))
    result = write_plan(client, plan)
    assert result.ok, result.message
    sent = {
        e["request"]["url"]: e["resource"]
        for e in plan.bundle["entry"]
        if e["request"]["method"] == "PUT"
    }
    written = [e.reference for e in result.entries]
    assert all(written)
    for reference in written:
        assert reference is not None
        stored = client.read(reference)
        without_meta = {k: v for k, v in stored.items() if k != "meta"}
        model = get_fhir_model_class(stored["resourceType"]).model_validate(stored)
        dumped = model.model_dump(mode="json", exclude_none=True)
        # pydantic writes the instant meta.lastUpdated with "Z"; everything else is identical
        assert {k: v for k, v in dumped.items() if k != "meta"} == without_meta
        r4 = FHIRElementFactory.instantiate(stored["resourceType"], stored)
        assert r4.as_json() == stored
        if reference in sent:
            assert without_meta == sent[reference]
    provenance = client.read(written[-1] or "")
    assert {t["reference"] for t in provenance["target"]} == set(sent)


def test_conditional_strategy_is_idempotent_too(client: FhirClient, pid: str) -> None:
    on_therapy(client, pid)
    conditional = ctx(id_strategy="conditional")
    first = write_plan(client, plan_for(client, pid, conditional))
    assert first.ok, first.message
    second = write_plan(client, plan_for(client, pid, conditional))
    assert second.ok, second.message
    assert len(careplans(client, pid)) == 1
    assert set(identifiers(app_tasks(client, pid)).values()) == {1}


def test_app_confirm_path_with_a_user_the_server_does_not_hold(
    client: FhirClient, pid: str
) -> None:
    """`writeback_patient` (the dashboard's confirm): preview fingerprint honoured, and a
    fhirUser HAPI does not hold (sandbox EHR users) is recorded by name, not refused."""
    on_therapy(client, pid)
    context = ctx(
        author_reference=f"{client.base}/Practitioner/not-on-this-server",
        author_display="Nora Neuro, MD",
        fhir_base=client.base,
    )
    mappings = load_mappings(None)
    preview = plan_for_patient(
        client, pid, context, mappings=mappings, settings=RuleSettings(), as_of=TODAY
    )

    def confirm() -> WriteResult:
        return writeback_patient(
            client,
            pid,
            context,
            mappings=mappings,
            settings=RuleSettings(),
            as_of=TODAY,
            expected_fingerprint=preview.fingerprint,
        )

    result = confirm()
    assert result.ok, result.message
    provenance = client.read(result.entries[-1].reference or "")
    assert provenance["agent"][0]["who"] == {"display": "Nora Neuro, MD"}

    stale = confirm()  # the same fingerprint: the plan has changed since, tasks exist
    assert not stale.ok
    assert stale.changed


def infection(pid: str, name: str, onset: int) -> dict[str, Any]:
    resource = fd.condition(
        fd.SNOMED, "40733004", cid=f"{pid}-{name}", subject=subject(pid), onsetDateTime=day(onset)
    )
    resource["code"] = fd.concept(fd.SNOMED, "40733004", "Infectious disease", text=name)
    return resource


def test_a_new_infection_is_not_hidden_by_the_acknowledgement_of_an_earlier_one(
    client: FhirClient, pid: str
) -> None:
    on_therapy(client, pid)
    seed(client, infection(pid, "uti", -20))
    record, summary = evaluate(client, pid)
    assert write_plan(client, build_writeback(summary, record, ctx(fhir_base=client.base))).ok
    record, summary = evaluate(client, pid)
    reason = "Treated by GP; dose given after antibiotics"
    result = acknowledge(
        client, record, "infection-active", reason, "Dr Who", datetime.now(UTC), summary=summary
    )
    assert result.ok, result.message
    record, summary = evaluate(client, pid)
    alert = next(f for f in summary.findings if f.check == "infection-active")
    assert alert.acknowledgement is not None

    # A second, different infection: the same check, the same `…:none` Task identifier.
    seed(client, infection(pid, "pneumonia", -2))
    record, summary = evaluate(client, pid)
    alert = next(f for f in summary.findings if f.check == "infection-active")
    assert alert.status is Status.ALERT
    assert alert.acknowledgement is None  # March's acknowledgement does not cover it

    plan = build_writeback(summary, record, ctx(fhir_base=client.base))
    assert [i.action for i in plan.preview if i.check == "infection-active"] == ["update"]
    # Written the coordinator's way (worklist "create Tasks"): HAPI applies the reopen patch.
    (result,) = create_tasks(
        client,
        [pid],
        ctx(fhir_base=client.base),
        mappings=load_mappings(None),
        settings=RuleSettings(),
        as_of=TODAY,
    )
    assert result.ok, result.message
    assert result.reopened == 1
    assert "1 task(s) updated" in result.message
    (task,) = [
        t for t in app_tasks(client, pid) if ":infection-active:" in t["identifier"][0]["value"]
    ]
    assert task["status"] == "requested"
    assert "statusReason" not in task
    cited = {i["valueReference"]["reference"] for i in task.get("input", [])}
    cited.add(task["reasonReference"]["reference"])
    assert f"Condition/{pid}-pneumonia" in cited and f"Condition/{pid}-uti" in cited
    assert task["note"][0]["text"].startswith("Acknowledged by Dr Who")  # history kept
    assert task["note"][-1]["text"].startswith("Reopened: the alert now also rests on")

    # Acknowledged again, it stays acknowledged, and a further write-back changes nothing.
    record, summary = evaluate(client, pid)
    assert acknowledge(
        client, record, "infection-active", reason, "Dr Who", datetime.now(UTC), summary=summary
    ).ok
    record, summary = evaluate(client, pid)
    alert = next(f for f in summary.findings if f.check == "infection-active")
    assert alert.acknowledgement is not None
    again = build_writeback(summary, record, ctx(fhir_base=client.base))
    assert not [i for i in again.preview if i.check == "infection-active"]
