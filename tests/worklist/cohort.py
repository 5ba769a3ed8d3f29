"""Patients for the worklist tests: generated ones (on Kesimpta) and a few special cases."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fhir_mappings.site import Mappings
from smartapp.demo.fhir_builders import ATC, NDC
from smartapp.demo.generator import generate_patient_resources
from smartapp.fhir import FhirClient
from smartapp.rules.settings import RuleSettings
from smartapp.worklist import Worklist, WorklistOptions, build_worklist

AS_OF = date(2026, 11, 24)
Resource = dict[str, Any]


def build(
    client: FhirClient,
    mappings: Mappings,
    settings: RuleSettings,
    options: WorklistOptions | None = None,
    *,
    as_of: date = AS_OF,
) -> Worklist:
    """`build_worklist` as of the cohort's day (default options: one worker)."""
    return build_worklist(
        client,
        mappings=mappings,
        settings=settings,
        as_of=as_of,
        options=options if options is not None else WorklistOptions(workers=1),
    )


def build_at(
    base: str,
    mappings: Mappings,
    settings: RuleSettings,
    options: WorklistOptions | None = None,
    **client_options: Any,
) -> Worklist:
    """`build` with a client of the server at `base` that never sleeps between retries."""
    with FhirClient(base, sleep=lambda _s: None, **client_options) as client:
        return build(client, mappings, settings, options)


def generated(n: int, *, seed: int = 3) -> list[Resource]:
    """`n` generated patients (every one has Kesimpta doses and an order)."""
    return [r for i in range(n) for r in generate_patient_resources(i, AS_OF, seed=seed)]


def patient(pid: str, name: str = "Test Person", *, family: str | None = None) -> Resource:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"given": [name.split()[0]], "family": family or name.split()[-1]}],
        "gender": "female",
        "birthDate": "1985-04-02",
    }


def subject(pid: str) -> dict[str, str]:
    return {"reference": f"Patient/{pid}"}


def order(
    pid: str, medication: Resource, *, status: str = "active", rid: str = "mrq", **fields: Any
) -> Resource:
    """The patient's order `{pid}-{rid}` of the medication (a CodeableConcept)."""
    return {
        "resourceType": "MedicationRequest",
        "id": f"{pid}-{rid}",
        "status": status,
        "intent": "order",
        "subject": subject(pid),
        "medicationCodeableConcept": medication,
        **fields,
    }


def coded(system: str, code: str) -> Resource:
    return {"coding": [{"system": system, "code": code}]}


def other_drug_patient(pid: str = "not-on-kesimpta") -> list[Resource]:
    """On another drug only: found by no search, and never on the worklist."""
    return [
        patient(pid, "Other Drug"),
        order(pid, coded(ATC, "L04AA27")),
    ]


def stopped_order_patient(pid: str = "stopped-before-start") -> list[Resource]:
    """A Kesimpta order that was stopped before any dose: found, but not on the worklist."""
    return [
        patient(pid, "Stopped Early"),
        order(pid, coded(ATC, "L04AG12"), status="stopped", authoredOn="2026-06-01"),
    ]


def planned_patient(pid: str = "planned-start") -> list[Resource]:
    """Pre-treatment with an active order (NDC in 11-digit form): on the worklist."""
    return [
        patient(pid, "Planned Start"),
        order(
            pid,
            coded(NDC, "00078100768"),
            authoredOn="2026-11-01",
            dispenseRequest={"validityPeriod": {"start": "2026-12-10"}},
        ),
    ]


def text_only_patient(pid: str = "text-only") -> list[Resource]:
    """An order that only says "Kesimpta" in text, with a subcutaneous 20 mg dose."""
    return [
        patient(pid, "Text Only"),
        order(
            pid,
            {"text": "Kesimpta pen"},
            authoredOn="2026-10-01",
            dosageInstruction=[
                {
                    "route": {"text": "subcutaneous"},
                    "doseAndRate": [
                        {
                            "doseQuantity": {
                                "value": 20,
                                "unit": "mg",
                                "code": "mg",
                                "system": "http://unitsofmeasure.org",
                            }
                        }
                    ],
                }
            ],
        ),
    ]


def statement_patient(pid: str = "self-reported") -> list[Resource]:
    """Only a Kesimpta MedicationStatement (self-injected at home since 2026-09-01): on the
    worklist, in maintenance by the statement (SPEC §2)."""
    return [
        patient(pid, "Home Injector"),
        {
            "resourceType": "MedicationStatement",
            "id": f"{pid}-mst",
            "status": "active",
            "subject": subject(pid),
            "effectivePeriod": {"start": "2026-09-01"},
            "medicationCodeableConcept": coded(ATC, "L04AG12"),
        },
    ]


def group(gid: str, members: list[str], *, inactive: tuple[str, ...] = ()) -> Resource:
    return {
        "resourceType": "Group",
        "id": gid,
        "type": "person",
        "actual": True,
        "member": [
            {
                "entity": {"reference": f"Patient/{pid}"},
                **({"inactive": True} if pid in inactive else {}),
            }
            for pid in members
        ],
    }


def app_task(
    pid: str, check: str, due: str, *, owner: str | None = None, status: str = "requested"
) -> Resource:
    task: Resource = {
        "resourceType": "Task",
        "id": f"task-{pid}-{check}",
        "status": status,
        "intent": "order",
        "for": subject(pid),
        "identifier": [
            {
                "system": "https://ofatumumab-smartapp.example.org/fhir/task",
                "value": f"{pid}:{check}:{due}",
            }
        ],
        "meta": {"versionId": "1", "lastUpdated": "2026-11-01T10:00:00Z"},
    }
    if owner:
        task["owner"] = {"display": owner}
    return task


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC, as servers write meta.lastUpdated."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stamped(resources: list[dict[str, Any]], when: datetime) -> list[dict[str, Any]]:
    """The resources, each last updated at `when`."""
    for resource in resources:
        resource["meta"] = {"lastUpdated": instant(when)}
    return resources
