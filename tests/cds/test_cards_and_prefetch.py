"""Card text and prefetch templates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from fhir_mappings.search.queries import patient_searches
from fhir_mappings.site import load_mappings
from fhir_mappings.write.writeback import WriteContext, build_writeback
from smartapp import patient_service
from smartapp.cds import views
from smartapp.cds.cards import SUMMARY_MAX, md, summary_line
from smartapp.cds.prefetch import PATIENT_TOKEN, prefetch_templates, read_prefetch
from smartapp.cds.views import CdsState
from smartapp.demo.situations import DEMO_SLUGS, build_situation
from smartapp.rules.settings import RuleSettings
from tests.cds.cds_fakes import APP, bearer, hook_body, prefetch_from

SERVICE = "ofatumumab-patient-view"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def test_prefetch_templates_are_the_dashboards_read() -> None:
    mappings = load_mappings(None)
    templates = prefetch_templates(mappings)
    searches = patient_searches("pat-1.x", mappings)
    assert [t.search_for("pat-1.x") for t in templates] == searches
    assert all(PATIENT_TOKEN in t.template for t in templates)
    assert all("CDSHOOKS" not in t.template for t in templates)
    assert len({t.key for t in templates}) == len(templates)


def test_discovery_publishes_the_templates(client: FlaskClient, cds: CdsState) -> None:
    services = client.get("/cds-services").get_json()["services"]
    expected = {t.key: t.template for t in cds.templates}
    assert all(service["prefetch"] == expected for service in services)
    assert expected["patient"] == "Patient/{{context.patientId}}"


def test_null_prefetch_means_no_data_and_absent_means_read_it() -> None:
    templates = prefetch_templates(load_mappings(None))
    result = read_prefetch(
        {"patient": {"resourceType": "Patient", "id": "p"}, "conditions-Condition": None}, templates
    )
    assert set(result.satisfied) == {"patient", "conditions-Condition"}
    assert len(result.missing) == len(templates) - 2
    assert result.resources == [{"resourceType": "Patient", "id": "p"}]


def test_markdown_from_records_cannot_make_links_or_html() -> None:
    assert md("<img src=x onerror=alert(1)>") == "\\<img src=x onerror=alert(1)\\>"
    assert md("[click](https://evil.example)") == "\\[click\\](https:\\//evil.example)"
    assert (
        md("**bold** _it_ `code` ~~s~~ a|b &amp;")
        == "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\~\\~s\\~\\~ a\\|b \\&amp;"
    )
    assert md("# heading") == "\\# heading"
    assert md("1. item") == "1\\. item"
    assert md("line\nbreak") == "line break"


def test_summary_is_under_140_characters() -> None:
    text = "x" * 300
    assert len(summary_line(text)) == SUMMARY_MAX
    assert summary_line("short") == "short"


def test_every_demo_card_is_well_formed(client: FlaskClient, cds: CdsState) -> None:
    for slug in DEMO_SLUGS:
        resources = build_situation(slug, date.today())
        body = hook_body(SERVICE, slug, prefetch=prefetch_from(resources, cds.templates))
        for card in client.post(
            f"/cds-services/{SERVICE}", json=body, headers=bearer(SERVICE)
        ).get_json()["cards"]:
            assert len(card["summary"]) < 140
            assert card["indicator"] in ("info", "warning", "critical")
            assert (
                card["source"]["label"] and card["source"]["url"] == f"{APP}/docs/clinical-rules.md"
            )
            assert card["links"] == [
                {
                    "label": "Open the ofatumumab safety dashboard",
                    "url": f"{APP}/launch",
                    "type": "smart",
                }
            ]
            assert "**Rule:**" in card["detail"] and "**Evidence**" in card["detail"]
            assert ("overrideReasons" in card) == (card["indicator"] == "critical")
            if "suggestions" in card:
                assert card["selectionBehavior"] in ("at-most-one", "any")
                for suggestion in card["suggestions"]:
                    assert suggestion["uuid"] and suggestion["label"]
            for key, value in card.items():
                assert value not in (None, "", [], {}), (slug, key)


def test_escaping_patient_text_stays_text(client: FlaskClient, cds: CdsState) -> None:
    resources = build_situation("escaping", date.today())
    infection = {
        "resourceType": "Condition",
        "id": "evil-infection",
        "subject": {"reference": "Patient/escaping"},
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
        "code": {
            "coding": [{"system": "http://snomed.info/sct", "code": "68566005"}],
            "text": "<script>alert(1)</script> [x](javascript:alert(1))",
        },
        "onsetDateTime": date.today().isoformat(),
    }
    body = hook_body(
        SERVICE, "escaping", prefetch=prefetch_from([*resources, infection], cds.templates)
    )
    cards = client.post(f"/cds-services/{SERVICE}", json=body, headers=bearer(SERVICE)).get_json()[
        "cards"
    ]
    details = "\n".join(card["detail"] for card in cards)
    assert "\\<script\\>" in details  # shown, as text
    assert "<script>" not in details
    assert re.search(r"(?<!\\)\]\(javascript", details) is None  # no live link


def test_task_suggestion_uses_the_write_back_identifier_and_no_id(
    client: FlaskClient, cds: CdsState
) -> None:
    resources = build_situation("mri-overdue", date.today())
    body = hook_body(SERVICE, "mri-overdue", prefetch=prefetch_from(resources, cds.templates))
    (card,) = client.post(
        f"/cds-services/{SERVICE}", json=body, headers=bearer(SERVICE)
    ).get_json()["cards"]
    (suggestion,) = card["suggestions"]
    (action,) = suggestion["actions"]
    task = action["resource"]
    assert action["type"] == "create"
    assert "id" not in task and "basedOn" not in task  # no app CarePlan yet
    assert task["identifier"][0]["system"].endswith("/task")
    assert task["identifier"][0]["value"].startswith("mri-overdue:mri-monitoring:")
    assert task["for"] == {"reference": "Patient/mri-overdue"}
    assert "requester" not in task  # the EHR records who accepted it
    assert task["status"] == "requested" and task["intent"] == "order"


def test_the_rules_document_cards_link_to_is_served(
    client: FlaskClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = tmp_path / "clinical-rules.md"
    monkeypatch.setattr(views, "RULES_PATHS", (document,))
    missing = client.get("/docs/clinical-rules.md")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "not_found"
    document.write_text("# Clinical rules\n\n## hbv-screening\n", encoding="utf-8")
    served = client.get("/docs/clinical-rules.md")
    assert served.status_code == 200
    assert served.mimetype == "text/plain"
    assert "## hbv-screening" in served.get_data(as_text=True)


def test_suggested_task_is_based_on_the_apps_careplan_when_it_exists(
    client: FlaskClient, cds: CdsState
) -> None:
    resources = build_situation("mri-overdue", date.today())
    fetched = patient_service.FetchedPatient(resources=resources)
    _, record, summary = patient_service.evaluate_fetched(
        fetched, "mri-overdue", date.today(), load_mappings(None), RuleSettings()
    )
    plan = build_writeback(summary, record, WriteContext(now=datetime.now(UTC)))
    careplan = next(
        e["resource"] for e in plan.bundle["entry"] if e["resource"]["resourceType"] == "CarePlan"
    )
    body = hook_body(
        SERVICE, "mri-overdue", prefetch=prefetch_from([*resources, careplan], cds.templates)
    )
    reply = client.post(f"/cds-services/{SERVICE}", json=body, headers=bearer(SERVICE))
    (card,) = reply.get_json()["cards"]
    task = card["suggestions"][0]["actions"][0]["resource"]
    assert task["basedOn"] == [{"reference": f"CarePlan/{careplan['id']}"}]
