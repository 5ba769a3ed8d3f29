"""The dose timeline and doses table for therapy recorded at home (SPEC §4 Web, issue:
"administrations, dispenses and statements distinctly, shape + word, not colour alone")."""

from __future__ import annotations

from tests.support.pages import demo, page


def timeline_of(client, open_patient, slug: str) -> str:
    open_patient(demo(slug), slug)
    status, html, _ = page(client)
    assert status == 200
    return html[html.index('id="timeline"') : html.index('id="labs"')]


def test_dispensed_pens_supply_and_refill_are_drawn_and_named(client, open_patient):
    timeline = timeline_of(client, open_patient, "home-early-refill")
    chart = timeline[timeline.index('<svg class="chart chart-timeline"') :]
    chart = chart[: chart.index("</svg>")]
    # Pens presumed injected and the pen in hand: their own shapes, their own words.
    assert chart.count('class="pen"') >= 3
    assert chart.count('class="pen-in-hand"') == 1
    assert 'class="span span-dispense"' in timeline
    for words in (
        "dispensed pen, presumed injected",
        "pen in hand, not yet due",
        "dispensed (the days its pens cover)",
    ):
        assert words in timeline, words
    assert "by dispensed supply: the next pen in hand" in timeline
    assert "Dispensed supply" in timeline and "1 pen(s) in hand" in timeline
    # No injection was charted: no circle for one, nor its legend word.
    assert 'class="dose"' not in timeline and "injection charted" not in timeline
    # The doses table says where each dose comes from.
    assert '<th scope="col">Source</th>' in timeline
    assert "dispensed pen, presumed injected on its due date" in timeline
    assert "MedicationDispense/home-early-refill-mdp-" in timeline


def test_an_injection_and_a_dispense_keep_their_own_shapes(client, open_patient):
    timeline = timeline_of(client, open_patient, "home-dispense-and-injection-same-day")
    assert 'class="dose"' in timeline and "injection charted" in timeline
    assert 'class="pen"' not in timeline  # the dispensed pen was the charted injection
    assert "Dispenses and patient statements" in timeline


def test_a_statement_is_drawn_as_a_span_and_listed(client, open_patient):
    timeline = timeline_of(client, open_patient, "home-statement-live-vaccine")
    assert 'class="span span-statement"' in timeline
    assert "patient statement (taking Kesimpta)" in timeline
    assert "Patient statement: Kesimpta statement (active)" in timeline
    assert "a patient statement says Kesimpta is taken at home" in timeline


def test_a_supply_that_ran_out_says_refill_or_confirm_injection(client, open_patient):
    timeline = timeline_of(client, open_patient, "home-supply-ran-out")
    assert "by dispensed supply: refill or confirm injection" in timeline
    assert "refill due" in timeline


def test_the_discontinued_phase_is_shown_in_words(client, open_patient):
    open_patient(demo("stopped-live-vaccine-too-soon"), "stopped-live-vaccine-too-soon")
    _, html, _ = page(client)
    assert "Discontinued (therapy stopped; precautions continue)" in html


def test_a_date_from_an_incomplete_dose_record_is_the_earliest(client, open_patient):
    """An unreadable dispense: the next dose's date is shown as the earliest it can be, at a
    glance and in the timeline, next to the next-dose check's unknown."""
    open_patient(demo("home-dispense-unreadable-quantity"), "home-dispense-unreadable-quantity")
    _, html, _ = page(client)
    glance = html[
        html.index('class="glance-next"') : html.index("</li>", html.index("glance-next"))
    ]
    assert "at the earliest: the dose record is incomplete" in glance
    timeline = html[html.index('id="timeline"') : html.index('id="labs"')]
    assert "at the earliest: the dose record is incomplete" in timeline
    open_patient(demo("home-supply-ran-out"), "home-supply-ran-out")
    _, html, _ = page(client)
    assert "at the earliest" not in html
