"""Geometry of the dashboard's server-rendered SVG charts (no drawing, no HTML here).

The templates (`templates/dashboard/_charts.html`) draw what these functions compute, so
every piece of FHIR text reaches the SVG through Jinja's autoescaping. Coordinates are in
the SVG's own user space (`viewBox`); CSS scales the SVG to its column, so no `style=`
attribute is ever needed (the CSP forbids inline styles).

Two charts:
- `trend_chart`: one lab over time (IgG or IgM, mg/dL) with its lower limit drawn as a
  dashed step line (each result's own reference range, else the default limit) and a
  "today" marker, so a stale last result is visible at a glance.
- `dose_timeline`: the doses given, the next dose due, the next non-live vaccine window,
  vaccines given and today, over the last year of the course.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from smartapp.rules.evidence import number
from smartapp.rules.results import below

#: Chart frame in user units; CSS scales it (width 100%, height auto).
TREND_WIDTH = 460
TREND_HEIGHT = 190
TIMELINE_WIDTH = 940
TIMELINE_HEIGHT = 120
#: The timeline shows at most this many days before today (older doses are listed only).
TIMELINE_LOOKBACK_DAYS = 365


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class TrendPoint:
    x: float
    y: float
    label: str
    below_limit: bool
    #: "below" for a value known only as an upper bound ("<30"), "above" for a lower bound
    #: (">500"), "" for a measured value: a bound is drawn as a bar with an arrow, not a dot.
    bound: str = ""


@dataclass(frozen=True)
class PendingMark:
    """A result not final yet: a mark on the time axis at its day, never a value."""

    day: date
    label: str


@dataclass(frozen=True)
class PendingPoint:
    x: float
    label: str


@dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: tuple[TrendPoint, ...]
    #: SVG path data of the value line ("" with fewer than two points).
    line: str
    #: SVG path data of the lower-limit step line ("" when no limit is known).
    limit_line: str
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    today_x: float | None
    pending: tuple[PendingPoint, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.points


@dataclass(frozen=True)
class Sample:
    """One plotted result: its day, value and lower limit (both in the chart's unit)."""

    day: date
    value: float
    lower_limit: float | None
    label: str
    #: The value's comparator ("<", "<=", ">", ">=") when it is known only as a bound.
    comparator: str = ""


class _TimeScale:
    def __init__(self, start: date, end: date, left: float, right: float) -> None:
        self.start = start
        self.days = max((end - start).days, 1)
        self.left = left
        self.span = right - left

    def __call__(self, day: date) -> float:
        return round(self.left + self.span * (day - self.start).days / self.days, 1)


def nice_step(span: float, target_ticks: int = 4) -> float:
    """A 1-2-5 step that divides `span` into about `target_ticks` intervals."""
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _month_ticks(start: date, end: date, scale: _TimeScale, max_ticks: int) -> tuple[Tick, ...]:
    """Ticks on the first of months between start and end, thinned to at most max_ticks."""
    months: list[date] = []
    cursor = date(start.year, start.month, 1)
    if cursor < start:
        cursor = _next_month(cursor)
    while cursor <= end:
        months.append(cursor)
        cursor = _next_month(cursor)
    if not months:
        return ()
    every = max(1, math.ceil(len(months) / max_ticks))
    ticks: list[Tick] = []
    for index, month in enumerate(months):
        # A label centred on a tick too close to the frame would be cut off.
        if index % every or not scale.left + 20 <= scale(month) <= scale.left + scale.span - 20:
            continue
        with_year = month.month == 1 or not ticks
        ticks.append(Tick(scale(month), month.strftime("%b %Y" if with_year else "%b")))
    return tuple(ticks)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def trend_chart(
    samples: Sequence[Sample],
    *,
    as_of: date,
    default_limit: float | None,
    width: int = TREND_WIDTH,
    height: int = TREND_HEIGHT,
    pending: Sequence[PendingMark] = (),
) -> TrendChart:
    """A line chart of `samples` (any order) from the first result to `as_of`, with
    `pending` results marked on the time axis (they have no value to plot).

    The y axis starts at 0 (an honest picture of how far below the limit a value is).
    """
    left, right, top, bottom = 48.0, width - 12.0, 12.0, height - 28.0
    ordered = sorted(samples, key=lambda s: s.day)
    if not ordered:
        return TrendChart(width, height, left, right, top, bottom, (), "", "", (), (), None)
    first = min([ordered[0].day, *(mark.day for mark in pending)])
    last = max(ordered[-1].day, as_of)
    # A little room on both sides so a point never sits on the frame.
    pad = max(7, (last - first).days // 20)
    start, end = first - timedelta(days=pad), last + timedelta(days=pad)
    xscale = _TimeScale(start, end, left, right)

    limits = [s.lower_limit if s.lower_limit is not None else default_limit for s in ordered]
    highest = max([s.value for s in ordered] + [limit for limit in limits if limit is not None])
    step = nice_step(highest * 1.1 if highest > 0 else 1.0)
    top_value = step * math.ceil((highest * 1.1 if highest > 0 else 1.0) / step)

    def yscale(value: float) -> float:
        return round(bottom - (bottom - top) * max(value, 0.0) / top_value, 1)

    points = tuple(
        TrendPoint(
            xscale(sample.day),
            yscale(sample.value),
            sample.label,
            limit is not None and below(sample.value, sample.comparator, limit) is True,
            _BOUNDS.get(sample.comparator, ""),
        )
        for sample, limit in zip(ordered, limits, strict=True)
    )
    line = ""
    if len(points) > 1:
        line = "M" + " L".join(f"{p.x} {p.y}" for p in points)

    limit_line = _step_line(
        [(p.x, limit) for p, limit in zip(points, limits, strict=True)], left, right, yscale
    )
    y_ticks = tuple(
        Tick(yscale(step * index), number(step * index))
        for index in range(round(top_value / step) + 1)
    )
    x_ticks = _month_ticks(start, end, xscale, max_ticks=5)
    today_x = xscale(as_of)
    marks = tuple(PendingPoint(xscale(mark.day), mark.label) for mark in pending)
    return TrendChart(
        width,
        height,
        left,
        right,
        top,
        bottom,
        points,
        line,
        limit_line,
        y_ticks,
        x_ticks,
        today_x,
        marks,
    )


#: How a comparator is drawn: an upper bound points down, a lower bound up.
_BOUNDS = {"<": "below", "<=": "below", ">": "above", ">=": "above"}


def _step_line(
    limits: Sequence[tuple[float, float | None]],
    left: float,
    right: float,
    yscale: Callable[[float], float],
) -> str:
    """A step path through each point's limit: the limit in force changes at each result."""
    known = [(x, limit) for x, limit in limits if limit is not None]
    if not known:
        return ""
    parts = [f"M{left} {yscale(known[0][1])}"]
    current = known[0][1]
    for x, limit in known[1:]:
        if limit != current:
            parts.append(f"L{x} {yscale(current)} L{x} {yscale(limit)}")
            current = limit
    parts.append(f"L{right} {yscale(current)}")
    return " ".join(parts)


# -- the dose timeline -----------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    x: float
    label: str
    #: A CSS class suffix: dose, dose-early, next-due, next-overdue, vaccine-live, …
    kind: str


@dataclass(frozen=True)
class Band:
    x1: float
    x2: float
    label: str


@dataclass(frozen=True)
class Span:
    """A period on the dose timeline: the pens a dispense covers, or a statement's span."""

    x1: float
    x2: float
    label: str
    #: dispense or statement (a CSS class suffix and the legend's word).
    kind: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    left: float
    right: float
    axis_y: float
    doses: tuple[Marker, ...]
    vaccines: tuple[Marker, ...]
    next_due: Marker | None
    earliest_start: Marker | None
    window: Band | None
    today_x: float
    ticks: tuple[Tick, ...]
    #: Doses before the shown period (listed in the table, not drawn).
    hidden_doses: int
    start: date
    end: date
    #: Dispensed pens counted as doses (presumed injected on their due dates).
    pens: tuple[Marker, ...] = ()
    #: Dispensed pens not yet due (supply in hand).
    supply: tuple[Marker, ...] = ()
    #: Dispenses (the days their pens cover) and statements (the days they say therapy ran).
    spans: tuple[Span, ...] = ()


@dataclass(frozen=True)
class VaccineMark:
    day: date
    label: str
    #: live, non_live or ambiguous.
    vaccine_class: str


def dose_timeline(
    doses: Sequence[tuple[date, str]],
    *,
    as_of: date,
    next_due: date | None,
    window: tuple[date, date] | None,
    vaccines: Sequence[VaccineMark] = (),
    earliest_start: date | None = None,
    pens: Sequence[tuple[date, str]] = (),
    supply: Sequence[tuple[date, str]] = (),
    spans: Sequence[tuple[date, date, str, str]] = (),
    width: int = TIMELINE_WIDTH,
    height: int = TIMELINE_HEIGHT,
) -> Timeline:
    """Injections (`doses`: day, label), dispensed pens counted as doses (`pens`), pens in
    hand (`supply`), dispense and statement periods (`spans`: start, end, label, kind), the
    next dose due, the vaccine window, vaccines and today on one axis.

    The period runs from the first dose (at most a year before `as_of`) to a little after
    the later of today, the next due date, the supply in hand and the window's end.
    """
    left, right = 16.0, width - 16.0
    axis_y = round(height * 0.55, 1)
    earliest_shown = as_of - timedelta(days=TIMELINE_LOOKBACK_DAYS)
    dose_days = sorted(day for day, _ in (*doses, *pens))
    interesting = [as_of]
    if dose_days:
        interesting.append(max(dose_days[0], earliest_shown))
    interesting += [d for d in (next_due, earliest_start) if d is not None]
    interesting += [day for day, _ in supply]
    interesting += [max(first, earliest_shown) for first, _, _, _ in spans]
    if window:
        interesting += list(window)
    interesting += [v.day for v in vaccines if v.day >= earliest_shown]
    first, last = min(interesting), max(interesting)
    span = max((last - first).days, 56)
    pad = max(7, span // 25)
    start, end = first - timedelta(days=pad), last + timedelta(days=pad)
    if (end - start).days < 70:
        end = start + timedelta(days=70)
    scale = _TimeScale(start, end, left, right)

    shown = [(day, label) for day, label in sorted(doses) if day >= start]
    shown_pens = [(day, label) for day, label in sorted(pens) if day >= start]
    hidden = len(doses) + len(pens) - len(shown) - len(shown_pens)
    dose_markers = tuple(Marker(scale(day), label, "dose") for day, label in shown)
    pen_markers = tuple(Marker(scale(day), label, "pen") for day, label in shown_pens)
    supply_markers = tuple(
        Marker(scale(day), label, "pen-in-hand") for day, label in sorted(supply) if day <= end
    )
    span_bars = tuple(
        Span(
            scale(max(first, start)),
            max(scale(min(last, end)), scale(max(first, start)) + 2),
            label,
            kind,
        )
        for first, last, label, kind in spans
        if last >= start and first <= end
    )
    vaccine_markers = tuple(
        Marker(scale(v.day), v.label, f"vaccine-{v.vaccine_class.replace('_', '-')}")
        for v in vaccines
        if start <= v.day <= end
    )
    next_marker = None
    if next_due is not None:
        kind = "next-overdue" if next_due < as_of else "next-due"
        next_marker = Marker(scale(next_due), f"Next dose due {next_due.isoformat()}", kind)
    start_marker = None
    if earliest_start is not None:
        start_marker = Marker(
            scale(earliest_start),
            f"Vaccine intervals allow a start from {earliest_start.isoformat()}",
            "earliest-start",
        )
    band = None
    if window is not None:
        band = Band(
            scale(window[0]),
            max(scale(window[1]), scale(window[0]) + 2),
            f"Non-live vaccine window {window[0].isoformat()} to {window[1].isoformat()}",
        )
    return Timeline(
        width=width,
        height=height,
        left=left,
        right=right,
        axis_y=axis_y,
        doses=dose_markers,
        vaccines=vaccine_markers,
        next_due=next_marker,
        earliest_start=start_marker,
        window=band,
        today_x=scale(as_of),
        ticks=_month_ticks(start, end, scale, max_ticks=13),
        hidden_doses=hidden,
        start=start,
        end=end,
        pens=pen_markers,
        supply=supply_markers,
        spans=span_bars,
    )
