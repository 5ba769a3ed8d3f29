"""Chart geometry (smartapp/web/dashboard/charts.py): pure functions, no HTML."""

from __future__ import annotations

from datetime import date, timedelta

from smartapp.web.dashboard.charts import (
    Sample,
    VaccineMark,
    dose_timeline,
    nice_step,
    trend_chart,
)

TODAY = date(2026, 6, 30)


def test_nice_steps_are_1_2_5_multiples():
    assert nice_step(1200) == 500
    assert nice_step(100) == 25
    assert nice_step(9) == 2.5
    assert nice_step(0) == 1.0


def test_trend_points_are_in_date_order_inside_the_frame_and_flag_low_values():
    samples = [
        Sample(date(2026, 5, 1), 650, None, "IgG 650"),
        Sample(date(2025, 6, 1), 1100, 800, "IgG 1100"),
    ]
    chart = trend_chart(samples, as_of=TODAY, default_limit=700)
    assert [p.label for p in chart.points] == ["IgG 1100", "IgG 650"]
    for point in chart.points:
        assert chart.left <= point.x <= chart.right
        assert chart.top <= point.y <= chart.bottom
    assert [p.below_limit for p in chart.points] == [False, True]
    assert chart.line.startswith("M") and " L" in chart.line
    # The lower limit changes from the laboratory's 800 to the default 700: a step.
    assert chart.limit_line.count("L") >= 3
    assert chart.today_x is not None and chart.today_x > chart.points[-1].x
    assert chart.y_ticks[0].label == "0"


def test_higher_values_are_drawn_higher():
    samples = [Sample(TODAY - timedelta(days=100), 500, None, "a"), Sample(TODAY, 1000, None, "b")]
    chart = trend_chart(samples, as_of=TODAY, default_limit=700)
    assert chart.points[1].y < chart.points[0].y


def test_a_single_result_has_no_line_but_a_point_and_a_limit():
    chart = trend_chart([Sample(TODAY, 900, None, "IgG")], as_of=TODAY, default_limit=700)
    assert len(chart.points) == 1 and chart.line == ""
    assert chart.limit_line


def test_no_result_gives_an_empty_chart():
    chart = trend_chart([], as_of=TODAY, default_limit=700)
    assert chart.empty


def test_timeline_places_doses_next_due_window_and_vaccines_in_order():
    doses = [(TODAY - timedelta(days=28 * n), f"dose {n}") for n in range(5, 0, -1)]
    window = (TODAY - timedelta(days=14), TODAY + timedelta(days=14))
    vaccines = [VaccineMark(TODAY - timedelta(days=10), "Flu (Non-live)", "non_live")]
    timeline = dose_timeline(
        doses,
        as_of=TODAY,
        next_due=TODAY + timedelta(days=5),
        window=window,
        vaccines=vaccines,
    )
    xs = [marker.x for marker in timeline.doses]
    assert xs == sorted(xs) and len(xs) == 5
    assert timeline.next_due is not None and timeline.next_due.kind == "next-due"
    assert timeline.next_due.x > xs[-1]
    assert (
        timeline.window is not None and timeline.window.x1 < timeline.today_x < timeline.window.x2
    )
    assert timeline.vaccines[0].kind == "vaccine-non-live"
    for marker in (*timeline.doses, *timeline.vaccines, timeline.next_due):
        assert timeline.left <= marker.x <= timeline.right
    assert timeline.ticks


def test_timeline_marks_a_late_next_dose_and_hides_doses_older_than_a_year():
    doses = [(TODAY - timedelta(days=700), "old"), (TODAY - timedelta(days=60), "recent")]
    timeline = dose_timeline(doses, as_of=TODAY, next_due=TODAY - timedelta(days=30), window=None)
    assert timeline.next_due is not None and timeline.next_due.kind == "next-overdue"
    assert timeline.hidden_doses == 1
    assert [m.label for m in timeline.doses] == ["recent"]


def test_timeline_before_treatment_shows_the_earliest_start():
    timeline = dose_timeline(
        [],
        as_of=TODAY,
        next_due=None,
        window=None,
        earliest_start=TODAY + timedelta(days=20),
        vaccines=[VaccineMark(TODAY - timedelta(days=8), "MMR (Live)", "live")],
    )
    assert timeline.doses == ()
    assert timeline.earliest_start is not None
    assert timeline.earliest_start.x > timeline.today_x
    assert timeline.vaccines[0].kind == "vaccine-live"


def test_bounds_are_marked_as_bounds_and_low_only_when_the_bound_settles_it():
    from smartapp.web.dashboard.charts import PendingMark

    samples = [
        Sample(date(2026, 1, 1), 30, None, "IgM <30", "<"),
        Sample(date(2026, 3, 1), 50, None, "IgM <50", "<"),
        Sample(date(2026, 5, 1), 300, None, "IgM >300", ">"),
        Sample(date(2026, 6, 1), 35, None, "IgM 35"),
    ]
    pending = [PendingMark(date(2026, 6, 20), "IgM pending since 2026-06-20")]
    chart = trend_chart(samples, as_of=TODAY, default_limit=40, pending=pending)
    assert [p.bound for p in chart.points] == ["below", "below", "above", ""]
    assert [p.below_limit for p in chart.points] == [True, False, False, True]
    (mark,) = chart.pending
    assert chart.points[-1].x < mark.x <= chart.today_x
