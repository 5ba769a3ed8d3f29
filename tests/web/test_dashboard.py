"""`/patient`: the dashboard's content, order, safety and failure behaviour (SPEC §4, §5).

FHIR is mocked with `responses` by `FakeFhir`, which answers the app's batch read from
demo patients the way a FHIR server would.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from fhir_mappings.site import load_mappings
from smartapp import patient_service
from smartapp.config import ConfigError, load_config
from smartapp.rules.settings import RuleSettings
from smartapp.web import create_app
from tests.launch.launch_fakes import ISS, make_config
from tests.support.fake_fhir import FakeFhir, fail_types
from tests.support.navigation import TYPED
from tests.support.pages import article, demo, elements, finding_cards, page

SECTION_ORDER = [
    'id="patient-banner"',
    'id="data-incomplete"',
    'id="alerts"',
    'id="timeline"',
    'id="labs"',
    'id="vaccines"',
    'id="plan"',
    'id="findings"',
    'id="data"',
]
SEVERITY_RANK = {"critical": 0, "high": 1, "moderate": 2, "low": 3, "info": 4}
VALUESETS = Path(__file__).resolve().parents[2] / "fhir_mappings" / "valuesets"


def infection_condition(patient_id: str) -> dict:
    """An active infection Condition coded from the shipped value set."""
    code = json.loads((VALUESETS / "condition-infection.json").read_text())["codes"][0]
    return {
        "resourceType": "Condition",
        "id": f"{patient_id}-infection",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {"coding": [{"system": code["system"], "code": code["code"]}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "onsetDateTime": date.today().isoformat(),
    }


def app_task(patient_id: str, check: str, due: str, status: str, **extra: object) -> dict:
    from fhir_mappings.canonical import TASK_IDENTIFIER_SYSTEM

    return {
        "resourceType": "Task",
        "id": f"task-{check}-{status}",
        "identifier": [{"system": TASK_IDENTIFIER_SYSTEM, "value": f"{patient_id}:{check}:{due}"}],
        "status": status,
        "intent": "order",
        "for": {"reference": f"Patient/{patient_id}"},
        **extra,
    }


def expected_summary(resources: list[dict]):
    record = patient_service.record_from_resources(resources, mappings=load_mappings(None))
    return patient_service.summarize(record, date.today(), RuleSettings())


# -- content and order ---------------------------------------------------------------------


def test_sections_follow_the_contract_order(client, open_patient):
    open_patient(demo("pregnant"), "pregnant", fail=fail_types(Immunization=500))
    status, html, _ = page(client)
    assert status == 200
    positions = [html.index(marker) for marker in SECTION_ORDER]
    assert positions == sorted(positions)


def test_alerts_come_first_and_critical_first(client, open_patient):
    resources = [*demo("pml"), infection_condition("pml")]
    open_patient(resources, "pml")
    _, html, _ = page(client)
    cards = finding_cards(html, "alerts")
    assert [card["data-status"] for card in cards] == ["alert"] * len(cards)
    severities = [SEVERITY_RANK[card["data-severity"]] for card in cards]
    assert len(cards) >= 2 and severities == sorted(severities)
    assert cards[0]["data-severity"] == "critical"
    assert {card["data-check"] for card in cards} >= {"pml", "infection-active"}
    # Alerts come before every other finding on the page.
    assert html.index('id="alerts"') < html.index('id="findings"')
    summary = expected_summary(resources)
    alert_checks = [f.check for f in summary.findings if f.status.value == "alert"]
    assert [card["data-check"] for card in cards] == alert_checks


def test_every_status_is_shown_as_an_icon_and_a_word(client, open_patient):
    open_patient(demo("pregnant"), "pregnant")
    _, html, _ = page(client)
    words = {
        "alert": "Alert",
        "overdue": "Overdue",
        "due": "Due",
        "unknown": "Unknown",
        "ok": "OK",
        "not-applicable": "Not applicable",
    }
    icons = {
        "alert": "icon-alert",
        "overdue": "icon-overdue",
        "due": "icon-due",
        "unknown": "icon-unknown",
        "ok": "icon-ok",
        "not-applicable": "icon-na",
    }
    checks = [attrs["data-check"] for tag, attrs in elements(html) if tag == "article"]
    assert len(checks) == 16
    for check in checks:
        card = article(html, check)
        status = re.search(r'data-status="([a-z-]+)"', card).group(1)
        assert f'<use href="#{icons[status]}">' in card, check
        assert f'<span class="status-word">{words[status]}</span>' in card, check
    # The icons the cards use exist on the page.
    ids = {attrs.get("id") for tag, attrs in elements(html) if tag == "symbol"}
    assert set(icons.values()) <= ids


def test_every_finding_opens_its_evidence_and_rule_with_citation(client, open_patient):
    resources = demo("recurrent-infections")
    open_patient(resources, "recurrent-infections")
    _, html, _ = page(client)
    summary = expected_summary(resources)
    for finding in summary.findings:
        card = article(html, finding.check)
        assert '<details class="evidence">' in card
        assert "<summary>Evidence and rule" in card
        assert f"<code>{finding.check}</code>" in card
        citation = finding.citation.replace("&", "&amp;").replace("'", "&#39;")
        assert citation.replace('"', "&#34;") in card, finding.check
        for item in finding.evidence:
            assert item.reference in card
        if finding.evidence:
            assert '<th scope="col">How matched</th>' in card


def test_timeline_labs_vaccines_and_tasks_are_shown(client, open_patient):
    task = app_task(
        "nonlive-vaccine-outside-window",
        "vaccine-window",
        "2026-01-01",
        "requested",
        owner={"display": "Dr <b>Owner</b>"},
    )
    resources = [*demo("nonlive-vaccine-outside-window"), task]
    open_patient(resources, "nonlive-vaccine-outside-window")
    _, html, _ = page(client)
    timeline = html[html.index('id="timeline"') : html.index('id="labs"')]
    assert 'aria-labelledby="chart-doses-title chart-doses-desc"' in timeline
    assert timeline.count('class="dose"') >= 1
    assert "Next dose due" in timeline and "Non-live vaccine window" in timeline
    labs = html[html.index('id="labs"') : html.index('id="vaccines"')]
    for key in ("igg", "igm"):
        assert f'<title id="chart-{key}-title">' in labs
        assert f'<desc id="chart-{key}-desc">' in labs
    assert 'class="limit-line"' in labs
    assert "mg/dL" in labs and "Hepatitis B results" in labs and "HBsAg" in labs
    vaccines = html[html.index('id="vaccines"') : html.index('id="plan"')]
    assert "Influenza" in vaccines and '<span class="status-word">Non-live</span>' in vaccines
    plan = html[html.index('id="plan"') : html.index('id="findings"')]
    assert "requested" in plan and "2026-01-01" in plan
    assert "Dr &lt;b&gt;Owner&lt;/b&gt;" in plan
    # Tables have header cells with scope.
    assert '<th scope="col">' in labs and '<th scope="row">' in vaccines


def test_data_panel_lists_queries_problems_and_mappings(client, open_patient):
    open_patient(demo("messy-data"), "messy-data")
    _, html, _ = page(client)
    panel = html[html.index('id="data"') :]
    assert "<details" in panel and "FHIR requests made" in panel
    assert "batch of 15 searches" in panel
    assert "Observation?patient=messy-data" in panel
    assert "Arzerra" in panel  # a problem the reader reported
    assert "hbsag" in panel and "Mappings in force" in panel
    assert "uninterpretable" in panel
    # Resources that could not be interpreted are mentioned near the top too.
    assert html.index('id="data-note"') < html.index('id="alerts"')


# -- safety --------------------------------------------------------------------------------


def test_hostile_patient_name_is_escaped(client, open_patient):
    open_patient(demo("escaping"), "escaping")
    status, html, _ = page(client)
    assert status == 200
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_no_inline_script_style_or_event_handlers(client, open_patient):
    open_patient(demo("escaping"), "escaping")
    _, html, headers = page(client)
    tags = elements(html)
    assert not [tag for tag, _ in tags if tag in ("script", "style")]
    assert not [attrs for _, attrs in tags if "style" in attrs]
    assert not [name for _, attrs in tags for name in attrs if name.startswith("on")]
    assert "javascript:" not in html.lower()
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp


def test_server_timing_header_and_render_time_in_the_data_panel(client, open_patient):
    open_patient(demo("ig-low"), "ig-low")
    _, html, headers = page(client)
    timing = headers["Server-Timing"]
    assert re.fullmatch(r"fhir;dur=\d+\.\d, rules;dur=\d+\.\d, render;dur=\d+\.\d", timing)
    render_ms = re.search(r"render;dur=([\d.]+)", timing).group(1)
    assert f'<span id="render-ms">{render_ms}</span>' in html
    assert "render-ms-" not in html


def test_patient_banner_shows_name_birth_date_gender_and_id(client, open_patient):
    open_patient(demo("ig-low"), "ig-low")
    _, html, _ = page(client)
    banner = html[html.index('id="patient-banner"') : html.index("</section>")]
    assert "Demo Ig-Low" in banner
    summary = expected_summary(demo("ig-low"))
    assert summary.patient.birth_date.isoformat() in banner
    assert "female" in banner and "ig-low" in banner


# -- failures ------------------------------------------------------------------------------


def test_failed_search_shows_the_incomplete_banner_and_unknown_checks(client, open_patient):
    open_patient(demo("all-ok-maintenance"), "all-ok-maintenance", fail=fail_types(Observation=503))
    status, html, _ = page(client)
    assert status == 200
    banner = html[html.index('id="data-incomplete"') - 80 : html.index('id="alerts"')]
    assert 'role="alert"' in banner and "Data incomplete" in banner and "labs" in banner
    assert 'data-status="unknown"' in article(html, "hbv-serology")
    assert 'data-status="ok"' not in article(html, "ig-low")


def test_server_down_still_renders_the_page_with_every_area_incomplete(client, open_patient):
    open_patient(demo("ig-low"), "ig-low", fail_all=503)
    status, html, _ = page(client)
    assert status == 200
    assert 'id="data-incomplete"' in html
    assert "Traceback" not in html
    for area in ("labs", "doses", "patient"):
        assert area in html[html.index('id="data-incomplete"') : html.index('id="alerts"')]
    assert 'data-status="ok"' not in html


def test_missing_patient_renders_incomplete_not_an_error(client, open_patient):
    open_patient(demo("ig-low"), "someone-else")
    status, html, _ = page(client)
    assert status == 200
    assert "patient" in html[html.index('id="data-incomplete"') : html.index('id="alerts"')]


def test_without_a_launch_the_page_says_how_to_launch(client):
    status, html, _ = page(client)
    assert status == 401
    assert "Launch the app from your EHR or from launch.html" in html
    assert 'href="/launch.html"' in html


def test_open_server_without_patient_explains(client, rsps):
    from tests.launch.launch_fakes import OPEN_ISS

    client.get("/open", query_string={"iss": OPEN_ISS}, headers=TYPED)
    status, html, _ = page(client)
    assert status == 400
    assert "No patient selected" in html


def test_expired_token_without_refresh_shows_the_relaunch_page(client, ehr, rsps):
    ehr.patient = "ig-low"
    ehr.sign_in(client)
    fake = FakeFhir(demo("ig-low"), base=ISS, fail_all=401).install(rsps)
    status, html, _ = page(client)
    assert status == 401
    assert "relaunch" in html.lower()
    assert "Traceback" not in html
    assert len(fake.batches) == 0  # the 401 came before any batch was answered


# -- launch context: banner and write rights ---------------------------------------------


def test_read_only_launch_shows_the_banner_and_no_save_button(client, ehr, rsps):
    ehr.patient = "ig-low"
    ehr.granted_scope = "launch openid fhirUser patient/*.rs"
    ehr.sign_in(client)
    FakeFhir(demo("ig-low"), base=ISS).install(rsps)
    status, html, _ = page(client)
    assert status == 200
    assert 'id="read-only"' in html
    assert "Read-only: the EHR did not grant write access" in html
    assert "plan-actions" not in html
    assert "<button" not in html and 'type="submit"' not in html and "<form" not in html


def test_write_scopes_open_the_plan_hook(client, open_patient):
    open_patient(demo("ig-low"), "ig-low")
    _, html, _ = page(client)
    assert 'id="read-only"' not in html
    assert 'id="plan-actions"' in html


def test_need_patient_banner_false_hides_the_banner(client, ehr, rsps):
    ehr.patient = "ig-low"  # the fake EHR sends need_patient_banner: false
    ehr.sign_in(client)
    FakeFhir(demo("ig-low"), base=ISS).install(rsps)
    status, html, _ = page(client)
    assert status == 200
    assert 'id="patient-banner"' not in html
    assert 'id="alerts"' in html


def test_the_fhir_read_is_one_batch_round_trip(client, open_patient):
    fake = open_patient(demo("ig-low"), "ig-low")
    page(client)
    assert len(fake.batches) == 1


# -- start-up --------------------------------------------------------------------------------


def test_a_bad_mappings_file_stops_start_up_with_one_line(tmp_path):
    bad = tmp_path / "mappings.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="SMARTAPP_MAPPINGS"):
        create_app(load_config({"SMARTAPP_MAPPINGS": str(bad)}))


def test_the_app_uses_the_mappings_the_configuration_parsed(tmp_path):
    from smartapp.web.fhir_access import app_mappings

    site = tmp_path / "mappings.json"
    site.write_text('{"settings": {"ig_interval_days": 180}}')
    config = replace(make_config(), mappings=load_config({"SMARTAPP_MAPPINGS": str(site)}).mappings)
    app = create_app(config)
    with app.app_context():
        assert app_mappings() is config.mappings


def test_the_write_back_template_plugs_into_the_plan_section(app, client, open_patient):
    from jinja2 import ChoiceLoader, DictLoader

    hook = (
        '<form method="post" id="save-plan">'
        '<input name="launch_id" value="{{ view.launch_id }}"></form>'
    )
    app.jinja_env.loader = ChoiceLoader(
        [DictLoader({"writeback/plan_actions.html": hook}), app.jinja_env.loader]
    )
    open_patient(demo("ig-low"), "ig-low")
    _, html, _ = page(client)
    plan = html[html.index('id="plan"') : html.index('id="findings"')]
    assert 'id="save-plan"' in plan
    assert re.search(r'name="launch_id" value="[A-Za-z0-9_-]+"', plan)


# -- accessibility ---------------------------------------------------------------------------


def test_headings_never_skip_a_level_and_ids_are_unique(client, open_patient):
    open_patient(
        demo("recurrent-infections"), "recurrent-infections", fail=fail_types(Immunization=503)
    )
    _, html, _ = page(client)
    tags = elements(html)
    levels = [int(tag[1]) for tag, _ in tags if re.fullmatch(r"h[1-6]", tag)]
    assert levels[0] == 1 and levels.count(1) == 1
    for previous, current in itertools.pairwise(levels):
        assert current <= previous + 1, levels
    ids = [attrs["id"] for _, attrs in tags if "id" in attrs]
    assert len(ids) == len(set(ids))
    # Every aria-labelledby and in-page link points at an element that exists.
    for _, attrs in tags:
        for target in attrs.get("aria-labelledby", "").split():
            assert target in ids, target
        href = attrs.get("href", "")
        if href.startswith("#") and href != "#":
            assert href[1:] in ids, href
    assert '<html lang="en">' in html
    assert [tag for tag, _ in tags].count("main") == 1 and "nav" in [tag for tag, _ in tags]
    assert 'class="skip-link" href="#main"' in html
    # Every table header cell says what it heads.
    assert all("scope" in attrs for tag, attrs in tags if tag == "th")
