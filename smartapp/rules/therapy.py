"""What "on therapy" means, defined once (SPEC §2 "Therapy recorded outside the clinic",
"Discontinued"; §3 phase, "Doses are counted per day").

`therapy_of(record, as_of, settings)` turns a patient's Kesimpta records — administrations,
dispenses, statements, orders — into the one course every screen uses: the dashboard and
the CLI (through the rules), the write-back and the worklist population. Nothing else
decides whether a patient has started, when the first and last doses were, when the next
is due, or whether therapy was discontinued.

- Doses are counted per day: several administration records on one day are one dose.
- A dispense adds pens. An administration on or after a dispense uses one of its pens (a
  dispense and an administration on the same day are one dose). The other pens are placed
  on the schedule's next due dates (7, 7, 14, then every 28 days after the previous dose),
  never before their dispense day; a first dispense with no earlier dose starts the course
  on its day. Pens placed on or before as_of are doses; later ones are supply in hand.
- An `active` statement shows therapy from its start (no dates for the schedule). A
  `completed` statement is a stop at its end; `intended` is only a planned start.
- Discontinued: the newest order or statement stopped it, none is active or on-hold, and
  nothing was given or dispensed after its stop date.

Where the spec is silent (docs/home-therapy.md): an `on-hold` statement shows therapy like
an active one; discontinuation needs evidence that therapy was ever given (a stopped order
before any dose leaves the patient pre-treatment); pens are never placed after a known stop
date; on the same day an order or statement that keeps therapy going wins over a stop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from operator import attrgetter

from domain.findings import (
    Discontinuation,
    NextDueBasis,
    Phase,
    Therapy,
    stopped_by_statement,
)
from domain.records import (
    ClinicalDate,
    ClinicalDateKind,
    Dispense,
    Dose,
    DoseKind,
    MedicationOrder,
    PatientRecord,
    SourceRef,
    TherapyStatement,
    day_text,
)
from smartapp.rules.dates import plus_days
from smartapp.rules.settings import RuleSettings

#: Statuses that never count, whatever the record (SPEC §2 "Discontinued").
NEVER_COUNT = frozenset({"cancelled", "entered-in-error"})
#: An order or statement with one of these keeps therapy going (no discontinuation).
ONGOING = frozenset({"active", "on-hold"})
#: Statuses that stop therapy: a stopped order; a stopped or completed statement. A
#: `completed` MedicationRequest is a fulfilled prescription, not a stop.
ORDER_STOPS = frozenset({"stopped"})
STATEMENT_STOPS = frozenset({"stopped", "completed"})
#: Statements that show the patient is taking Kesimpta now.
STATEMENT_SHOWS_THERAPY = frozenset({"active", "on-hold"})
#: Statements that are only a plan (like an active order: a planned start).
STATEMENT_PLANNED = frozenset({"intended"})

_ADMINISTRATION = DoseKind.ADMINISTRATION
_PEN = DoseKind.PEN
_FULL_DAY = ClinicalDateKind.DAY  # bound once: reading it off the Enum class is slow in 3.11
_dose_key: Callable[[Dose], tuple[date, date, str]] = attrgetter(
    "when.earliest", "when.latest", "source.reference"
)
_dispense_key: Callable[[Dispense], tuple[date, date, str]] = attrgetter(
    "when.earliest", "when.latest", "source.reference"
)


def next_interval_days(count: int, settings: RuleSettings) -> int:
    """Days from the `count`-th dose to the next (USPI 2.2: weeks 0, 1, 2, then every 4
    weeks from week 4)."""
    if count < 3:
        return settings.loading_interval_days
    if count == 3:
        return settings.first_maintenance_after_third_days
    return settings.maintenance_interval_days


def _day(value: date, text: str | None = None) -> ClinicalDate:
    return ClinicalDate(value, value, text or day_text(value))


def _record_day(record: MedicationOrder | TherapyStatement) -> date:
    """When an order or statement was made, for "the newest": authoredOn / dateAsserted,
    else its end, else its start (latest reading of a partial date); date.min if undated."""
    if isinstance(record, MedicationOrder):
        dates = (record.authored, record.start, record.end)
    else:
        dates = (record.asserted, record.end, record.start)
    found = [when.latest for when in dates if when is not None]
    return max(found) if found else date.min


def _is_stop(record: MedicationOrder | TherapyStatement) -> bool:
    if isinstance(record, MedicationOrder):
        return record.status in ORDER_STOPS
    return record.status in STATEMENT_STOPS


def _counts(record: MedicationOrder | TherapyStatement) -> bool:
    if record.status in NEVER_COUNT:
        return False
    return not (isinstance(record, TherapyStatement) and record.status == "not-taken")


def discontinuation(record: PatientRecord, as_of: date) -> Discontinuation | None:
    """SPEC §2 "Discontinued": the newest Kesimpta order or statement is stopped (or a
    statement completed), none is active or on-hold, and no dose or dispense is dated after
    its stop date (when no stop date is given, that condition holds). Therapy must have
    been given at all: a dose or dispense on or before as_of, or a statement that stopped.

    A record dated after as_of is ignored (evaluating a past day). A dose whose partial
    date may fall after the stop date keeps therapy going (the safer reading).
    """
    records: list[MedicationOrder | TherapyStatement] = [*record.orders, *record.statements]
    candidates = [item for item in records if _counts(item) and _record_day(item) <= as_of]
    if not candidates or any(item.status in ONGOING for item in candidates):
        return None
    # The newest; on the same day a record that keeps therapy going wins over a stop.
    newest = max(
        candidates,
        key=lambda item: (_record_day(item), not _is_stop(item), item.source.reference),
    )
    if not _is_stop(newest):
        return None
    stop = newest.end
    given = [d.when for d in record.doses if d.when.earliest <= as_of]
    given += [d.when for d in record.dispenses if d.when.earliest <= as_of]
    if not given and not isinstance(newest, TherapyStatement):
        return None  # stopped before it ever started: still pre-treatment
    if stop is not None and any(when.latest > stop.earliest for when in given):
        return None
    return Discontinuation(newest, stop)


@dataclass
class _Batch:
    """The pens of one dispense not yet placed, and the first day one may be placed."""

    dispense: Dispense
    left: int
    not_before: date
    used: int = 0


def _waiting_order(batch: _Batch) -> tuple[date, tuple[date, date, str]]:
    return batch.not_before, _dispense_key(batch.dispense)


def _wait(waiting: list[_Batch], batch: _Batch) -> None:
    """Queue a dispense's pens (if any is left), the one allowed earliest first."""
    if batch.left > 0:
        waiting.append(batch)
        if len(waiting) > 1:  # one batch is in order already: no key to work out
            waiting.sort(key=_waiting_order)


def _take_pen(waiting: list[_Batch], day: date) -> Dose:
    """The next waiting pen, placed on `day`."""
    batch = waiting[0]
    batch.left -= 1
    batch.used += 1
    if batch.left == 0:
        waiting.pop(0)
    return _pen_dose(batch.dispense, batch.used, day)


def _batches(
    admin_days: list[date], dispenses: Sequence[Dispense]
) -> tuple[list[_Batch], set[date]]:
    """Each dispense's pens after the administrations used theirs: an administration uses a
    pen of the latest dispense on or before its day that has one left (SPEC §2: "an
    administration on or after a dispense uses one of its pens"). The other pens of a
    dispense whose pen an administration used wait until that administration: it, not the
    dispense day, starts the course (the first injection is given under guidance).

    Returns the batches in dispense order and the administration days that used a pen.
    """
    batches = [_Batch(d, d.pens, d.when.earliest) for d in dispenses]
    used: set[date] = set()
    for admin_day in admin_days:
        for batch in reversed(batches):
            if batch.dispense.when.earliest <= admin_day and batch.left > 0:
                if batch.used == 0:
                    batch.not_before = max(batch.not_before, admin_day)
                batch.left -= 1
                batch.used += 1
                used.add(admin_day)
                break
    return batches, used


def _pen_dose(dispense: Dispense, number: int, day: date) -> Dose:
    source, handed = dispense.source, dispense.when
    # `ClinicalDate.describe` and `_day`, inline: this runs for every pen of every patient.
    dispensed = day_text(handed.earliest) if handed.precision is _FULL_DAY else handed.describe()
    text = day_text(day)
    display = (
        f"Kesimpta pen {number} of {dispense.pens} dispensed {dispensed}: "
        f"presumed injected {text}, its due date"
    )
    return Dose(
        ClinicalDate(day, day, text),
        20.0,
        SourceRef(source.reference, display, source.matched_by),
        kind=_PEN,
    )


@dataclass(frozen=True)
class Placed:
    """Where the doses and pens fall (`place_pens`)."""

    course: tuple[Dose, ...]
    supply: tuple[Dose, ...]
    unused: int
    #: The due date after the last pen placed or used by an administration (None when no
    #: pen was dispensed): the supply runs out then.
    supply_until: date | None


class _Course:
    """The doses placed so far and when the next one falls due."""

    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings
        self.doses: list[Dose] = []
        self.last_pen: tuple[date, int] | None = None  # (day, doses counted by then)
        #: The day the next dose falls due (None before the first): kept as doses are added
        #: rather than worked out each time the placing loop asks.
        self.next_due: date | None = None

    def placement(self, pen_day: date) -> date:
        """The day a pen allowed from `pen_day` is placed: the next due day, not before."""
        due = self.next_due
        return due if due is not None and due > pen_day else pen_day

    def add(self, dose: Dose, pen: bool) -> None:
        doses = self.doses
        doses.append(dose)
        day, count = dose.when.earliest, len(doses)
        if pen:
            self.last_pen = (day, count)
        self.next_due = plus_days(day, next_interval_days(count, self.settings))

    def supply_until(self) -> date | None:
        if self.last_pen is None:
            return None
        day, count = self.last_pen
        return plus_days(day, next_interval_days(count, self.settings))


def place_pens(
    administrations: Sequence[Dose],
    dispenses: Sequence[Dispense],
    until: date,
    settings: RuleSettings,
    *,
    supply_after: bool = True,
) -> Placed:
    """The course up to `until`: one dose per administration day, dispensed pens not used
    by an administration placed on the schedule's due dates after the previous dose (module
    doc). With `supply_after`, the pens left are placed after `until` as supply in hand;
    otherwise they are counted as unused. Both sequences come sorted (by day, then source),
    as `therapy_of` sorts them."""
    by_day: dict[date, Dose] = {}
    for dose in administrations:
        by_day.setdefault(dose.when.earliest, dose)  # several records, one dose
    admin_days = sorted(by_day)
    if not dispenses:
        # No pen to place (most clinic patients): the course is one dose per administration
        # day, as the loop below would add them, with no supply.
        return Placed(tuple([by_day[day] for day in admin_days]), (), 0, None)
    arrivals, used_pen = _batches(admin_days, dispenses)
    waiting: list[_Batch] = []  # dispensed pens not yet placed, allowed earliest first
    course = _Course(settings)
    a = s = 0
    admin_count, arrival_count = len(admin_days), len(arrivals)
    while True:
        # The earliest of the next dispense, administration and placed pen; on the same day
        # the dispense first, then the administration, then a placed pen (rank 0, 1, 2).
        rank = -1
        if s < arrival_count:
            day, rank = arrivals[s].dispense.when.earliest, 0
        if a < admin_count and (rank < 0 or admin_days[a] < day):
            day, rank = admin_days[a], 1
        if waiting:
            placement = course.placement(waiting[0].not_before)
            if rank < 0 or placement < day:
                day, rank = placement, 2
        if rank < 0:
            break
        if rank == 0:
            _wait(waiting, arrivals[s])
            s += 1
        elif rank == 1:
            course.add(by_day[day], day in used_pen)
            a += 1
        elif day > until:
            break
        else:
            course.add(_take_pen(waiting, day), True)
    placed = tuple(course.doses)
    if not supply_after:
        return Placed(placed, (), sum(batch.left for batch in waiting), course.supply_until())
    while waiting:
        course.add(_take_pen(waiting, course.placement(waiting[0].not_before)), True)
    supply = tuple(course.doses[len(placed) :])
    return Placed(placed, supply, 0, course.supply_until())


def _statement_showing_therapy(record: PatientRecord, as_of: date) -> TherapyStatement | None:
    """The active (or on-hold) statement with the earliest start on or before as_of."""
    found = [
        (s.start.earliest, s.source.reference, s)
        for s in record.statements
        if s.status in STATEMENT_SHOWS_THERAPY and s.start is not None and s.start.earliest <= as_of
    ]
    return min(found, key=lambda item: item[:2])[2] if found else None


def _statement_stand_in(statement: TherapyStatement, as_of: date) -> ClinicalDate | None:
    """The last day a statement shows therapy: as_of while it is taken; a stopped one's end
    (else when it was asserted, else its start)."""
    if statement.status in STATEMENT_SHOWS_THERAPY:
        return _day(as_of, f"{as_of.isoformat()} (statement: still taken)")
    for when in (statement.end, statement.asserted, statement.start):
        if when is not None and when.earliest <= as_of:
            return when
    return None


def phase_of(
    course: tuple[Dose, ...],
    statement: TherapyStatement | None,
    discontinued: Discontinuation | None,
    as_of: date,
    settings: RuleSettings,
) -> Phase:
    """SPEC §3 phase: discontinued (§2); else by the doses and placed pens counted per day
    (1-2 loading, 3 or more maintenance, interrupted after more than 84 days without one);
    else by an active statement (maintenance from 28 days after its start, else loading)."""
    if discontinued is not None:
        return Phase.DISCONTINUED
    count = len(course)
    if count == 0:
        if statement is None or statement.start is None:
            return Phase.PRE_TREATMENT
        # Week 4, the first monthly dose: 7 + 7 + 14 days after the start.
        week_4 = 2 * settings.loading_interval_days + settings.first_maintenance_after_third_days
        days = (as_of - statement.start.earliest).days
        return Phase.MAINTENANCE if days >= week_4 else Phase.LOADING
    if (as_of - course[-1].when.earliest).days > settings.interrupted_after_days:
        return Phase.INTERRUPTED
    return Phase.LOADING if count < 3 else Phase.MAINTENANCE


def therapy_of(record: PatientRecord, as_of: date, settings: RuleSettings) -> Therapy:
    """The course of therapy as of a day (module doc). Pure; any input order."""
    discontinued = discontinuation(record, as_of)
    administrations = tuple(
        sorted([d for d in record.doses if d.when.earliest <= as_of], key=_dose_key)
    )
    dispenses = tuple(
        sorted([d for d in record.dispenses if d.when.earliest <= as_of], key=_dispense_key)
    )
    stop = discontinued.stop if discontinued is not None else None
    until = min(as_of, stop.latest) if stop is not None else as_of
    placed = place_pens(
        administrations, dispenses, until, settings, supply_after=discontinued is None
    )
    course = placed.course
    statement = _statement_showing_therapy(record, as_of)
    phase = phase_of(course, statement, discontinued, as_of, settings)

    first_candidates: list[ClinicalDate] = [course[0].when] if course else []
    last_candidates: list[ClinicalDate] = [course[-1].when] if course else []
    if statement is not None and statement.start is not None:
        first_candidates.append(statement.start)
        stand_in = _statement_stand_in(statement, as_of)
        if stand_in is not None:
            last_candidates.append(stand_in)
    if discontinued is not None and isinstance(discontinued.record, TherapyStatement):
        stopped = discontinued.record
        if stopped.start is not None and stopped.start.earliest <= as_of:
            first_candidates.append(stopped.start)
        stand_in = _statement_stand_in(stopped, as_of)
        if stand_in is not None:
            last_candidates.append(stand_in)
    first = min(first_candidates, key=attrgetter("earliest")) if first_candidates else None
    last = max(last_candidates, key=attrgetter("latest")) if last_candidates else None
    if first is None and discontinued is not None:
        first = last  # a stopped statement with only an end date: its end stands in

    next_due: date | None = None
    basis: NextDueBasis | None = None
    if discontinued is None and course:
        if placed.supply:
            next_due, basis = placed.supply[0].when.earliest, NextDueBasis.PEN_IN_HAND
        else:
            last_day = course[-1].when.earliest
            next_due = plus_days(last_day, next_interval_days(len(course), settings))
            basis = NextDueBasis.SUPPLY_END if course[-1].kind is _PEN else NextDueBasis.SCHEDULE
    return Therapy(
        as_of=as_of,
        course=course,
        administrations=administrations,
        dispenses=dispenses,
        supply=placed.supply,
        supply_until=placed.supply_until if discontinued is None else None,
        unused_pens=placed.unused,
        statement=statement,
        first=first,
        last_dose=course[-1].when if course else None,
        last=last,
        discontinued=discontinued,
        phase=phase,
        next_due=next_due,
        next_due_basis=basis,
    )


def planned_starts(record: PatientRecord) -> list[tuple[ClinicalDate, MedicationOrder | None]]:
    """Planned starts: active orders' and intended statements' start dates (SPEC §3
    "reference date"), with the order when it is one."""
    found: list[tuple[ClinicalDate, MedicationOrder | None]] = [
        (order.start, order)
        for order in record.orders
        if order.status == "active" and order.start is not None
    ]
    found += [
        (statement.start, None)
        for statement in record.statements
        if statement.status in STATEMENT_PLANNED and statement.start is not None
    ]
    return found


#: Why a patient's own records put them on the worklist (`therapy_reasons`).
REASON_DOSES = "Kesimpta doses"
REASON_DISPENSES = "Kesimpta dispenses"
REASON_STATEMENT = "Kesimpta statement"
REASON_ORDER = "Kesimpta order"
#: Orders that keep a patient on the worklist before any dose: planned, running, or a
#: fulfilled prescription (its dispenses may live in another system).
ORDER_KEEPS_ON_LIST = frozenset({"active", "on-hold", "draft", "completed", "unknown"})


def therapy_reasons(record: PatientRecord, therapy: Therapy) -> tuple[str, ...]:
    """Why the patient's therapy records put them on the worklist (empty: they do not).

    The worklist's own definition of "on ofatumumab", so it can never disagree with the
    phase: every patient whose phase is not pre-treatment has a reason here (a counted dose
    or pen, a statement showing or stopping therapy), and so has everyone with a planned
    start (an order that is not stopped or cancelled, an intended statement) or an active
    statement too vague to date (its patient is on therapy, the data are incomplete).
    """
    reasons: list[str] = []
    if therapy.administrations:
        reasons.append(REASON_DOSES)
    if therapy.dispenses:
        reasons.append(REASON_DISPENSES)
    current = STATEMENT_SHOWS_THERAPY | STATEMENT_PLANNED
    if stopped_by_statement(therapy.discontinued) or any(
        s.status in current for s in record.statements
    ):
        reasons.append(REASON_STATEMENT)
    if any(order.status in ORDER_KEEPS_ON_LIST for order in record.orders):
        reasons.append(REASON_ORDER)
    return tuple(reasons)
