"""The sandbox EHR as a CDS Hooks client, in headless Chromium against the real app and HAPI:
cards for a chart and for orders (ofatumumab, MMR, Shingrix), a Task created by accepting a
suggestion (and not suggested again), an override with a reason in the report, and CORS as
a browser sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.e2e import stack as smart

pytestmark = pytest.mark.e2e

smart_stack = smart.smart_stack
demo_cohort = smart.demo_cohort


def call(
    page: Any,
    stack: smart.SmartStack,
    patient_id: str,
    *,
    hook: str,
    order: str = "none",
    data: str = "prefetch",
) -> list[dict[str, str]]:
    page.goto(f"{stack.sandbox}/cds")
    page.fill("#cds-patient-id", patient_id)
    page.check(f"#cds-hook-{hook}")
    page.select_option("#cds-order", order)
    page.check(f"#cds-data-{data}")
    page.click("#cds-submit")
    page.wait_for_selector("#cds-call-summary")
    return page.eval_on_selector_all(
        ".cds-card",
        "cards => cards.map(c => ({check: c.dataset.check, indicator: c.dataset.indicator,"
        " summary: c.querySelector('.cds-summary').textContent}))",
    )


@pytest.fixture
def cards_for(
    browser_page: Any, smart_stack: smart.SmartStack, demo_cohort: smart.DemoCohort
) -> Callable[..., list[dict[str, str]]]:
    """`cards_for(situation, hook=…, order=…, data=…)`: the cards the sandbox EHR shows for
    that demo patient."""

    def cards(situation: str, **options: str) -> list[dict[str, str]]:
        return call(browser_page, smart_stack, demo_cohort.patient_ids[situation], **options)

    return cards


def test_chart_cards_with_fhir_access(
    browser_errors: list[str], cards_for: Callable[..., list[dict[str, str]]]
) -> None:
    cards = cards_for("recurrent-infections", hook="patient-view", data="fhir")
    assert [c["check"] for c in cards] == ["ig-low", "infection-active", "ig-monitoring"]
    assert all(c["indicator"] == "warning" for c in cards)
    # The same cards with the EHR's prefetch.
    again = cards_for("recurrent-infections", hook="patient-view", data="prefetch")
    assert again == cards
    assert browser_errors == []


def test_live_vaccine_order_is_critical_and_an_override_is_reported(
    browser_page: Any, browser_errors: list[str], cards_for: Callable[..., list[dict[str, str]]]
) -> None:
    cards = cards_for("recurrent-infections", hook="order-sign", order="mmr")
    live = [c for c in cards if c["check"] == "vaccine-live-on-therapy"]
    assert [c["indicator"] for c in live] == ["critical"]
    card = browser_page.locator('.cds-card[data-check="vaccine-live-on-therapy"]')
    assert (
        "Remove the MMR vaccine order (recommended)" in card.locator(".cds-suggestion").inner_text()
    )
    card.locator(".cds-reason").select_option("patient-decision")
    card.locator(".cds-comment").fill("informed decision")
    card.locator(".cds-dismiss").click()
    browser_page.wait_for_selector("#cds-feedback-result")
    assert browser_page.inner_text("#cds-feedback-status") == "200"
    shingrix = cards_for("recurrent-infections", hook="order-sign", order="shingrix")
    assert "vaccine-live-on-therapy" not in [c["check"] for c in shingrix]
    assert browser_errors == []


def test_ofatumumab_order_and_a_task_accepted_from_the_card(
    browser_page: Any,
    browser_errors: list[str],
    smart_stack: smart.SmartStack,
    demo_cohort: smart.DemoCohort,
) -> None:
    patient_id = demo_cohort.patient_ids["hbsag-positive"]
    cards = call(
        browser_page, smart_stack, patient_id, hook="order-select", order="ofatumumab", data="fhir"
    )
    assert ("hbv-serology", "critical") in [(c["check"], c["indicator"]) for c in cards]
    card = browser_page.locator('.cds-card[data-check="hbv-serology"]')
    card.locator(".cds-suggestion").first.click()
    browser_page.wait_for_selector("#cds-feedback-result")
    assert "created Task (HTTP 201)" in browser_page.inner_text("#cds-applied")
    # The Task now exists with the write-back's identifier: no card offers it again.
    after = call(browser_page, smart_stack, patient_id, hook="patient-view")
    assert "hbv-serology" in [c["check"] for c in after]
    serology = browser_page.locator('.cds-card[data-check="hbv-serology"]')
    assert serology.locator(".cds-suggestion").count() == 0
    tasks = requests.get(
        f"{smart_stack.hapi}/Task",
        params={
            "patient": patient_id,
            "identifier": "https://ofatumumab-smartapp.example.org/fhir/task|",
        },
        timeout=30,
    ).json()
    values = [i["value"] for e in tasks.get("entry", []) for i in e["resource"]["identifier"]]
    assert values.count(f"{patient_id}:hbv-serology:none") == 1
    assert browser_errors == []


def test_cors_as_a_browser_sees_it(browser_page: Any, smart_stack: smart.SmartStack) -> None:
    # A page on another origin (the sandbox's JSON health page has no CSP to get in the way).
    browser_page.goto(f"{smart_stack.sandbox}/healthz")
    result = browser_page.evaluate(
        """async (app) => {
            const discovery = await fetch(app + '/cds-services');
            const services = (await discovery.json()).services.map(s => s.id);
            const refused = await fetch(app + '/cds-services/ofatumumab-patient-view', {
                method: 'POST',
                headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer nope'},
                body: JSON.stringify(
                    {hook: 'patient-view', hookInstance: 'x', context: {patientId: 'p'}}),
            });
            return {services, status: refused.status, body: await refused.json()};
        }""",
        smart_stack.app,
    )
    assert result["services"] == [
        "ofatumumab-patient-view",
        "ofatumumab-order-select",
        "ofatumumab-order-sign",
    ]
    assert result["status"] == 401
    assert result["body"]["error"] == "unauthorized"
