"""order-select and order-sign: draft orders count as given on their date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from domain.findings import Finding, Phase, Severity, Status, Summary
from fhir_mappings.canonical import TASK_IDENTIFIER_SYSTEM
from fhir_mappings.site import load_mappings
from fhir_mappings.write.writeback import WriteContext, build_acknowledgement
from smartapp import patient_service
from smartapp.cds.cards import INDICATOR, ORDER_NOT_CHECKED
from smartapp.cds.views import CdsState
from smartapp.demo.fhir_builders import ATC, CVX, SNOMED
from smartapp.demo.situations import DEMO_SLUGS, build_situation
from smartapp.rules import CHECKS_BY_ID
from smartapp.rules.settings import RuleSettings
from tests.cds.cds_fakes import bearer, card_checks, hook_body, prefetch_from

SIGN = "ofatumumab-order-sign"
#: Moving the demo's anchor back is ordering that many days later (as in test_patient_view).
DAYS_LATER = (0, 45, 300)
SELECT = "ofatumumab-order-select"
KESIMPTA = {
    "coding": [{"system": ATC, "code": "L04AG12", "display": "ofatumumab"}],
    "text": "Kesimpta 20 mg/0.4 mL pen",
}
SC_ROUTE = {"coding": [{"system": SNOMED, "code": "34206005", "display": "Subcutaneous route"}]}
MG20 = {"value": 20, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}


@dataclass(frozen=True)
class Situation:
    """A demo patient as built `later` days ago (so its dates have moved on since)."""

    slug: str
    anchor: date
    resources: list[dict[str, Any]]


@pytest.fixture(
    params=[(slug, later) for slug in DEMO_SLUGS for later in DAYS_LATER],
    ids=lambda param: f"{param[0]}-{param[1]}",
)
def situation(request: pytest.FixtureRequest) -> Situation:
    slug, later = request.param
    anchor = date.today() - timedelta(days=later)
    return Situation(slug, anchor, build_situation(slug, anchor))


def kesimpta_draft(draft_id: str = "draft-ofa", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": draft_id,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": KESIMPTA,
        "dosageInstruction": [{"route": SC_ROUTE, "doseAndRate": [{"doseQuantity": MG20}]}],
        **extra,
    }


def vaccine_draft(
    cvx: str, text: str, draft_id: str = "draft-vax", kind: str = "MedicationRequest"
) -> dict[str, Any]:
    concept = {"coding": [{"system": CVX, "code": cvx}], "text": text}
    draft: dict[str, Any] = {
        "resourceType": kind,
        "id": draft_id,
        "status": "draft",
        "intent": "order",
    }
    if kind == "ServiceRequest":
        draft["code"] = concept
    else:
        draft["medicationCodeableConcept"] = concept
    return draft


MMR = vaccine_draft("03", "MMR vaccine")
SHINGRIX = vaccine_draft("187", "Shingrix")


def sign_orders(
    client: FlaskClient,
    cds: CdsState,
    slug: str,
    drafts: list[dict[str, Any]],
    *,
    service: str = SIGN,
    anchor: date | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    resources = build_situation(slug, anchor or date.today())
    body = hook_body(
        service,
        slug,
        prefetch=prefetch_from(resources, cds.templates),
        draft_orders=drafts,
        **kwargs,
    )
    reply = client.post(f"/cds-services/{service}", json=body, headers=bearer(service))
    assert reply.status_code == 200, reply.get_data(as_text=True)
    cards: list[dict[str, Any]] = reply.get_json()["cards"]
    return cards


def dashboard(resources: list[dict[str, Any]], slug: str) -> Summary:
    fetched = patient_service.FetchedPatient(resources=resources)
    _, _, summary = patient_service.evaluate_fetched(
        fetched, slug, date.today(), load_mappings(None), RuleSettings()
    )
    return summary


#: Where a completed record names its patient and the day it was given.
_GIVEN_FIELDS = {
    "MedicationAdministration": ("subject", "effectiveDateTime"),
    "Immunization": ("patient", "occurrenceDateTime"),
}


def given_today(resource_type: str, slug: str, **details: Any) -> dict[str, Any]:
    """What a draft becomes once given today: a real, completed record of `slug`."""
    patient, when = _GIVEN_FIELDS[resource_type]
    return {
        "resourceType": resource_type,
        "id": "given-today",
        "status": "completed",
        patient: {"reference": f"Patient/{slug}"},
        when: date.today().isoformat(),
        **details,
    }


def given_dose(slug: str) -> dict[str, Any]:
    dosage = {"route": SC_ROUTE, "dose": MG20}
    return given_today(
        "MedicationAdministration", slug, medicationCodeableConcept=KESIMPTA, dosage=dosage
    )


def given_vaccine(slug: str) -> dict[str, Any]:
    concept = {"coding": [{"system": CVX, "code": "03"}], "text": "MMR vaccine"}
    return given_today("Immunization", slug, vaccineCode=concept)


def expected_indicator(finding: Finding) -> str:
    if finding.status is Status.ALERT and finding.severity in (Severity.CRITICAL, Severity.HIGH):
        return "critical"
    return INDICATOR[finding.severity]


def test_ofatumumab_order_cards_are_the_dashboard_findings_once_the_dose_is_given(
    client: FlaskClient, cds: CdsState, situation: Situation
) -> None:
    slug, anchor, resources = situation.slug, situation.anchor, situation.resources
    after = dashboard([*resources, given_dose(slug)], slug)
    expected = [
        f for f in after.findings if f.status in (Status.ALERT, Status.OVERDUE, Status.UNKNOWN)
    ]
    cards = sign_orders(client, cds, slug, [kesimpta_draft()], anchor=anchor)
    assert card_checks(cards) == [f.check for f in expected]
    for card, finding in zip(cards, expected, strict=True):
        assert card["summary"] == finding.title
        if finding.acknowledgement is None:
            assert card["indicator"] == expected_indicator(finding)
        assert ("overrideReasons" in card) == (card["indicator"] == "critical")


def test_live_vaccine_order_cards_are_the_vaccine_findings_it_changes(
    client: FlaskClient, cds: CdsState, situation: Situation
) -> None:
    slug, anchor, resources = situation.slug, situation.anchor, situation.resources
    before = dashboard(resources, slug)
    after = dashboard([*resources, given_vaccine(slug)], slug)
    on_drug = before.phase is not Phase.PRE_TREATMENT or any(
        r["resourceType"] in ("MedicationAdministration", "MedicationRequest", "Task")
        for r in resources
    )
    was = {f.check: f for f in before.findings}
    expected = []
    for finding in after.findings:
        old = was[finding.check]
        changed = (old.status, old.severity, old.due) != (
            finding.status,
            finding.severity,
            finding.due,
        )
        cites = any(item.reference == "Immunization/given-today" for item in finding.evidence)
        reads_vaccines = "vaccinations" in CHECKS_BY_ID[finding.check].areas
        if (
            on_drug
            and reads_vaccines
            and finding.status in (Status.ALERT, Status.OVERDUE, Status.DUE, Status.UNKNOWN)
            and (changed or cites or finding.status is Status.UNKNOWN)
        ):
            expected.append(finding)
    cards = sign_orders(client, cds, slug, [MMR], anchor=anchor)
    assert card_checks(cards) == [f.check for f in expected]


def test_mmr_for_a_patient_on_therapy_is_critical_with_removal_suggested(
    client: FlaskClient, cds: CdsState
) -> None:
    cards = sign_orders(client, cds, "all-ok-maintenance", [MMR])
    assert card_checks(cards) == ["vaccine-live-on-therapy"]
    card = cards[0]
    assert card["indicator"] == "critical"
    assert card["overrideReasons"] and all(reason["display"] for reason in card["overrideReasons"])
    assert "This draft order: MMR vaccine (MedicationRequest/draft-vax)" in card["detail"].replace(
        "\\", ""
    )
    removal = card["suggestions"][0]
    assert removal["isRecommended"] is True
    assert removal["actions"] == [
        {
            "type": "delete",
            "description": "Remove the draft order MMR vaccine (MedicationRequest/draft-vax)",
            "resourceId": "MedicationRequest/draft-vax",
        }
    ]
    assert card["selectionBehavior"] == "at-most-one"


@pytest.mark.parametrize("kind", ["ServiceRequest", "Immunization"])
def test_live_vaccine_as_service_request_or_immunization(
    client: FlaskClient, cds: CdsState, kind: str
) -> None:
    draft = vaccine_draft("03", "MMR", kind=kind)
    if kind == "Immunization":
        draft = {
            "resourceType": "Immunization",
            "id": "imm-draft",
            "status": "completed",
            "vaccineCode": {"coding": [{"system": CVX, "code": "03"}]},
            "patient": {"reference": "Patient/all-ok-maintenance"},
        }
    cards = sign_orders(client, cds, "all-ok-maintenance", [draft])
    assert [(c["source"]["topic"]["code"], c["indicator"]) for c in cards] == [
        ("vaccine-live-on-therapy", "critical")
    ]


def test_shingrix_is_not_a_live_vaccine_card(client: FlaskClient, cds: CdsState) -> None:
    cards = sign_orders(client, cds, "all-ok-maintenance", [SHINGRIX])
    assert "vaccine-live-on-therapy" not in card_checks(cards)
    assert all(card["indicator"] != "critical" for card in cards)


def test_vaccine_for_a_patient_never_on_ofatumumab_gets_no_card(
    client: FlaskClient, cds: CdsState
) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1980-01-01"}
    body = hook_body(
        SIGN, "p1", prefetch=prefetch_from([patient], cds.templates), draft_orders=[MMR]
    )
    reply = client.post(f"/cds-services/{SIGN}", json=body, headers=bearer(SIGN))
    assert reply.get_json()["cards"] == []


def test_unrelated_orders_get_no_cards(client: FlaskClient, cds: CdsState) -> None:
    lab = {
        "resourceType": "ServiceRequest",
        "id": "lab",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://loinc.org", "code": "5196-1"}]},
    }
    aspirin = {
        "resourceType": "MedicationRequest",
        "id": "asa",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": ATC, "code": "B01AC06"}],
            "text": "aspirin",
        },
    }
    assert sign_orders(client, cds, "hbsag-positive", [lab, aspirin]) == []


def test_hbsag_positive_and_an_ofatumumab_order_is_a_critical_contraindication(
    client: FlaskClient, cds: CdsState
) -> None:
    cards = sign_orders(client, cds, "hbsag-positive", [kesimpta_draft()])
    assert card_checks(cards) == ["hbv-serology"]
    assert cards[0]["indicator"] == "critical"
    assert cards[0]["overrideReasons"]


def test_missing_hbv_screening_suggests_the_dashboards_task(
    client: FlaskClient, cds: CdsState
) -> None:
    cards = sign_orders(client, cds, "pre-treatment-missing-hbv", [kesimpta_draft()])
    screening = next(card for card in cards if card["source"]["topic"]["code"] == "hbv-screening")
    assert "Overdue" in screening["detail"]
    (suggestion,) = screening["suggestions"]
    task = suggestion["actions"][0]["resource"]
    resources = build_situation("pre-treatment-missing-hbv", date.today())
    due = next(
        f
        for f in dashboard(resources, "pre-treatment-missing-hbv").findings
        if f.check == "hbv-screening"
    ).due
    assert task["identifier"] == [
        {
            "system": TASK_IDENTIFIER_SYSTEM,
            "value": f"pre-treatment-missing-hbv:hbv-screening:{due or 'none'}",
        }
    ]


def test_order_select_looks_at_the_selected_order_only(client: FlaskClient, cds: CdsState) -> None:
    drafts = [kesimpta_draft(), MMR]
    only_vaccine = sign_orders(
        client,
        cds,
        "hbsag-positive",
        drafts,
        service=SELECT,
        selections=["MedicationRequest/draft-vax"],
    )
    only_drug = sign_orders(
        client,
        cds,
        "hbsag-positive",
        drafts,
        service=SELECT,
        selections=["MedicationRequest/draft-ofa"],
    )
    assert "hbv-serology" not in card_checks(only_vaccine)
    assert "hbv-serology" in card_checks(only_drug)


def test_a_planned_date_in_the_order_is_the_day_it_counts_as_given(
    client: FlaskClient, cds: CdsState
) -> None:
    today = sign_orders(client, cds, "all-ok-maintenance", [kesimpta_draft()])
    assert card_checks(today) == ["dose-interval"]  # far too soon after the last dose
    resources = build_situation("all-ok-maintenance", date.today())
    due = dashboard(resources, "all-ok-maintenance").schedule.next_due
    assert due is not None
    planned = kesimpta_draft(
        dosageInstruction=[
            {
                "route": SC_ROUTE,
                "doseAndRate": [{"doseQuantity": MG20}],
                "timing": {"event": [due.isoformat()]},
            }
        ]
    )
    assert sign_orders(client, cds, "all-ok-maintenance", [planned]) == []


def test_an_unreadable_ofatumumab_draft_says_it_could_not_be_checked(
    client: FlaskClient, cds: CdsState
) -> None:
    broken = kesimpta_draft(
        dosageInstruction=[
            {"route": SC_ROUTE, "doseAndRate": [{"doseQuantity": {"value": "twenty"}}]}
        ]
    )
    cards = sign_orders(client, cds, "all-ok-maintenance", [broken])
    assert card_checks(cards)[0] == ORDER_NOT_CHECKED
    assert "MedicationRequest/draft-ofa" in cards[0]["detail"].replace("\\", "")


def test_a_draft_medication_on_the_server_that_cannot_be_read_is_named(
    client: FlaskClient, cds: CdsState
) -> None:
    draft = kesimpta_draft()
    del draft["medicationCodeableConcept"]
    draft["medicationReference"] = {"reference": "Medication/not-sent"}
    cards = sign_orders(client, cds, "all-ok-maintenance", [draft])
    assert card_checks(cards) == [ORDER_NOT_CHECKED]
    assert "Medication/not-sent" in cards[0]["detail"].replace("\\", "")


def test_draft_for_another_patient_is_not_used(client: FlaskClient, cds: CdsState) -> None:
    draft = kesimpta_draft(subject={"reference": "Patient/someone-else"})
    assert sign_orders(client, cds, "hbsag-positive", [draft]) == []


def test_withdrawn_drafts_are_ignored(client: FlaskClient, cds: CdsState) -> None:
    assert sign_orders(client, cds, "hbsag-positive", [kesimpta_draft(status="cancelled")]) == []


def test_order_hooks_need_draft_orders(client: FlaskClient) -> None:
    body = {"hook": "order-sign", "hookInstance": "x", "context": {"patientId": "p1"}}
    reply = client.post(f"/cds-services/{SIGN}", json=body, headers=bearer(SIGN))
    assert reply.status_code == 400
    assert "draftOrders" in reply.get_json()["message"]


def acknowledged_task(slug: str, check: str, reason: str) -> dict[str, Any]:
    """The Task the dashboard's "acknowledge" writes for `check` (the app's own builder)."""
    resources = build_situation(slug, date.today())
    fetched = patient_service.FetchedPatient(resources=resources)
    _, record, summary = patient_service.evaluate_fetched(
        fetched, slug, date.today(), load_mappings(None), RuleSettings()
    )
    ctx = WriteContext(now=datetime.now(UTC))
    plan = build_acknowledgement(record, check, reason, "Dr Who", ctx, summary=summary)
    task = next(
        e["resource"] for e in plan.bundle["entry"] if e["resource"]["resourceType"] == "Task"
    )
    return {**task, "id": "ack-1"}


def test_acknowledged_alert_is_info_at_an_order(client: FlaskClient, cds: CdsState) -> None:
    slug = "anti-hbc-positive-only"
    resources = build_situation(slug, date.today())
    task = acknowledged_task(slug, "hbv-serology", "Hepatology follows; prophylaxis started")
    serology = next(
        f for f in dashboard([*resources, task], slug).findings if f.check == "hbv-serology"
    )
    assert serology.acknowledgement is not None
    body = hook_body(
        SIGN,
        slug,
        prefetch=prefetch_from([*resources, task], cds.templates),
        draft_orders=[kesimpta_draft()],
    )
    cards = client.post(f"/cds-services/{SIGN}", json=body, headers=bearer(SIGN)).get_json()[
        "cards"
    ]
    card = next(c for c in cards if c["source"]["topic"]["code"] == "hbv-serology")
    assert card["indicator"] == "info"
    assert "Acknowledged by Dr Who" in card["detail"]
    assert "suggestions" not in card


def test_acknowledged_finding_is_not_a_chart_card(client: FlaskClient, cds: CdsState) -> None:
    slug = "anti-hbc-positive-only"
    resources = build_situation(slug, date.today())
    task = acknowledged_task(slug, "hbv-serology", "Hepatology follows")
    prefetch = prefetch_from([*resources, task], cds.templates)
    service = "ofatumumab-patient-view"
    body = hook_body(service, slug, prefetch=prefetch)
    cards = client.post(f"/cds-services/{service}", json=body, headers=bearer(service)).get_json()[
        "cards"
    ]
    assert "hbv-serology" not in card_checks(cards)
