"""Summary + record → page data (smartapp/web/dashboard/page.py), without Flask."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from domain.findings import Status
from fhir_mappings.site import load_mappings
from smartapp import patient_service
from smartapp.fhir.querylog import QueryLogEntry
from smartapp.rules.registry import CHECKS, CHECKS_BY_ID
from smartapp.rules.settings import RuleSettings
from smartapp.web.dashboard.looks import STATUS_LOOKS, relative_days
from smartapp.web.dashboard.page import build_dashboard
from smartapp.web.dashboard.views import FetchInfo, PageContext
from tests.support.pages import demo

TODAY = date.today()


def dashboard_for(slug: str, **page: object):
    resources = demo(slug, TODAY)
    record = patient_service.record_from_resources(resources, mappings=load_mappings(None))
    summary = patient_service.summarize(record, TODAY, RuleSettings())
    view = build_dashboard(
        summary,
        record,
        settings=RuleSettings(),
        mappings=load_mappings(None),
        page=PageContext(**page),  # type: ignore[arg-type]
    )
    return summary, record, view


def test_every_status_has_an_icon_and_a_word():
    for status in Status:
        look = STATUS_LOOKS[status]
        assert look.word and look.icon.startswith("icon-")
    assert len({look.icon for look in STATUS_LOOKS.values()}) == len(Status)


def test_every_check_has_a_rule_text_that_formats_with_the_settings():
    settings = replace(RuleSettings(), ig_interval_days=180)
    for check in CHECKS:
        assert check.text.strip()
    _, _, view = dashboard_for("ig-monitoring-overdue")
    texts = {
        f.check: f.rule_text for f in (*view.alerts, *(x for g in view.groups for x in g.findings))
    }
    assert "365 days" in texts["ig-monitoring"]
    from smartapp.web.dashboard.page import finding_view

    rule = CHECKS_BY_ID["ig-monitoring"]
    shown = finding_view(rule.not_applicable("-"), date(2026, 1, 1), settings)
    assert "every 180 days" in shown.rule_text


@pytest.mark.parametrize("slug", ["recurrent-infections", "pregnant", "messy-data"])
def test_alerts_and_groups_hold_every_finding_once(slug):
    summary, _, view = dashboard_for(slug)
    shown = [f.check for f in view.alerts] + [f.check for g in view.groups for f in g.findings]
    assert sorted(shown) == sorted(f.check for f in summary.findings)
    assert all(f.status.key == "alert" for f in view.alerts)
    group_keys = [g.status.key for g in view.groups]
    order = ["overdue", "due", "unknown", "ok", "not-applicable"]
    assert group_keys == [k for k in order if k in group_keys]
    attention = {f.check for f in view.attention}
    assert attention == {
        f.check for f in summary.findings if f.status.value in ("overdue", "due", "unknown")
    }


def test_lab_trends_convert_plot_and_flag():
    _, _, view = dashboard_for("ig-low")
    igg = next(t for t in view.trends if t.key == "igg")
    assert igg.unit == "mg/dL"
    assert not igg.chart.empty
    assert any(point.below_limit for point in igg.chart.points)
    assert any(row.flag == "Below lower limit" for row in igg.rows)
    assert "below the lower limit" in igg.description


def test_pending_and_unconvertible_results_are_listed_but_not_plotted():
    _, _, view = dashboard_for("messy-data")
    igg = next(t for t in view.trends if t.key == "igg")
    pending = [row for row in igg.rows if row.flag_key == "pending"]
    assert pending
    assert len(igg.chart.points) == len(igg.rows) - len(pending)
    hbv = [row for row in view.hbv if row.result_key == "unusable"]
    assert hbv and hbv[0].result == "Cannot be interpreted"


def test_vaccines_are_classed_and_timed():
    _, _, view = dashboard_for("nonlive-vaccine-outside-window")
    (row,) = view.vaccines
    assert row.kind.word == "Non-live"
    assert "days after the dose of" in row.timing
    _, _, view = dashboard_for("ambiguous-zoster")
    assert any(row.kind.key == "ambiguous" for row in view.vaccines)


def test_timeline_summarises_the_schedule():
    summary, _, view = dashboard_for("dose-overdue")
    timeline = view.timeline
    assert timeline.doses == summary.schedule.doses
    assert timeline.next_due == summary.schedule.next_due.isoformat()
    assert timeline.next_due_late is True
    assert len(timeline.rows) == summary.schedule.doses
    assert timeline.rows[0].gap == "first dose"


def test_banner_follows_need_patient_banner_and_write_rights_make_read_only():
    _, _, view = dashboard_for("ig-low", need_patient_banner=False)
    assert view.banner is None and view.read_only is True
    _, _, view = dashboard_for("ig-low", need_patient_banner=True, can_write_plan=True)
    assert view.banner is not None and view.banner.name == "Demo Ig-Low"
    assert view.read_only is False


def test_data_panel_describes_queries_and_mappings():
    resources = demo("ig-low", TODAY)
    record = patient_service.record_from_resources(resources, mappings=load_mappings(None))
    summary = patient_service.summarize(record, TODAY, RuleSettings())
    queries = (
        QueryLogEntry("POST", "", 200, 12.3, entries=13),
        QueryLogEntry("GET", "Observation?page=2", None, 20000.0, error="timeout", attempt=2),
    )
    view = build_dashboard(
        summary,
        record,
        settings=RuleSettings(),
        mappings=load_mappings(None),
        fetch=FetchInfo(queries=queries, searches=("Patient/ig-low",) * 13, fhir_ms=40.0),
    )
    first, second = view.data.queries
    assert first.url == "/ (batch of 13 searches)" and first.ok and first.entries == "13"
    assert second.outcome == "timeout" and not second.ok and second.attempt == 2
    assert view.data.round_trips == 2
    assert any(vs.id == "hbsag" for vs in view.data.valuesets)
    assert view.data.site_file is None
    assert ("igg_lower_limit_mg_dl", "700.0") in view.data.settings


def test_relative_days_reads_naturally():
    day = date(2026, 1, 10)
    assert relative_days(day, day) == "today"
    assert relative_days(date(2026, 1, 11), day) == "tomorrow"
    assert relative_days(date(2026, 1, 9), day) == "yesterday"
    assert relative_days(date(2026, 1, 20), day) == "in 10 days"
    assert relative_days(date(2026, 1, 1), day) == "9 days ago"


# -- v2: pending results, bounds, data problems (SPEC §2; issue 10) ------------------------


def test_a_pending_hbsag_is_shown_as_pending_in_the_hbv_table():
    summary, _, view = dashboard_for("hbsag-pending")
    pending = [row for row in view.hbv if row.status == "Pending: not used"]
    assert len(pending) == 1 and pending[0].test == "HBsAg"
    serology = next(f for f in summary.findings if f.check == "hbv-serology")
    assert serology.status is Status.UNKNOWN and "pending since" in serology.detail


def test_a_bound_is_shown_as_written_in_the_table_and_drawn_as_a_bound():
    _, _, view = dashboard_for("igm-below-bound")
    igm = next(t for t in view.trends if t.key == "igm")
    (row,) = [r for r in igm.rows if r.value.startswith("<")]
    assert row.value == "<50" and row.flag_key == "bound" and "<0.5 g/L" in row.recorded
    (point,) = [p for p in igm.chart.points if p.bound]
    assert point.bound == "below" and not point.below_limit
    assert "known only as a bound" in igm.description


def test_an_implausible_unitless_range_says_why_the_default_was_used():
    _, _, view = dashboard_for("unitless-range")
    igg = next(t for t in view.trends if t.key == "igg")
    (row,) = [r for r in igg.rows if r.value == "650"]
    assert row.flag_key == "low" and "has no unit" in row.lower_limit


def test_a_future_dated_result_is_in_the_data_panel_and_marked_not_used():
    _, _, view = dashboard_for("future-dated-result")
    assert any("after the as-of date" in problem for problem in view.data.problems)
    flagged = [row for row in view.hbv if row.status.startswith("Not used: dated")]
    assert len(flagged) == 1 and flagged[0].result == "Positive"


def test_a_pending_igg_is_marked_on_the_trend_time_axis_not_plotted():
    _, _, view = dashboard_for("messy-data")
    igg = next(t for t in view.trends if t.key == "igg")
    assert any(row.flag_key == "pending" for row in igg.rows)
    assert len(igg.chart.pending) == 1
    assert all("pending" not in point.label for point in igg.chart.points)
