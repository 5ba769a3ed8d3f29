"""Worklist filters and sort orders, kept in the URL so a link reproduces the view.

Query parameters (all optional; repeat a parameter or separate values by commas for OR):

    status   overdue | due | alert | unknown | ok   patients with a finding in that status
    check    a check id (ig-monitoring, dose-schedule, …)  restricts `status` to these checks;
             alone: patients whose check needs attention (alert/overdue/due/unknown)
    phase    pre-treatment | loading | maintenance | interrupted | discontinued
    owner    text in an open Task's owner; `unassigned` = an open Task without owner
    tasks    open | none                            patients with / without open app Tasks
    q        text in the patient's name or id
    sort     default | name | phase | next_due | severity | overdue | tasks
    dir      asc | desc
    as_of    YYYY-MM-DD (evaluate as of that day; default today)
    page     1, 2, … (the screen shows one page of the filtered rows; the CSV all of them)
    size     rows per page: 25 | 50 | 100 | 200 (default 50)

The default order is overdue first, then highest severity, then next dose due, then
name (SPEC §4 Web). Unknown values are dropped and reported in `errors`, never fatal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlencode

from smartapp.rules.registry import CHECKS_BY_ID
from smartapp.worklist.rows import ATTENTION, PHASE_ORDER, WorklistRow

STATUSES = ("overdue", "due", "alert", "unknown", "ok")
TASK_FILTERS = ("open", "none")
SORTS = ("default", "name", "phase", "next_due", "severity", "overdue", "tasks")
DIRECTIONS = ("asc", "desc")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
UNASSIGNED = "unassigned"
_ATTENTION = frozenset(status.value for status in ATTENTION)
_MAX_TEXT = 100


def _values(query: Mapping[str, Any], name: str) -> list[str]:
    """All values of a parameter: repeated (`getlist`) and/or comma-separated."""
    raw: Iterable[Any]
    getlist = getattr(query, "getlist", None)
    if callable(getlist):
        raw = getlist(name)
    else:
        value = query.get(name)
        raw = value if isinstance(value, list | tuple) else ([] if value is None else [value])
    found: list[str] = []
    for item in raw:
        for part in str(item).split(","):
            part = part.strip()
            if part and part not in found:
                found.append(part)
    return found


def _one(query: Mapping[str, Any], name: str) -> str:
    values = _values(query, name) if name not in ("q", "owner") else _text_values(query, name)
    return values[0] if values else ""


def _text_values(query: Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(query, "getlist", None)
    raw = getlist(name) if callable(getlist) else [query.get(name)]
    return [" ".join(str(v).split())[:_MAX_TEXT] for v in raw if v is not None and str(v).strip()]


@dataclass(frozen=True)
class WorklistFilters:
    statuses: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    owner: str = ""
    tasks: str = ""
    q: str = ""
    sort: str = "default"
    direction: str = "asc"
    as_of: date | None = None
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE
    #: What could not be used from the query, one sentence each (shown above the table).
    errors: tuple[str, ...] = field(default=(), compare=False)

    # -- the URL ----------------------------------------------------------------------

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> WorklistFilters:
        """Filters from URL query parameters (a Flask `request.args` or a plain dict)."""
        errors: list[str] = []

        def pick(name: str, allowed: Sequence[str], label: str) -> tuple[str, ...]:
            kept = []
            for value in _values(query, name):
                if value in allowed:
                    kept.append(value)
                else:
                    errors.append(f"Unknown {label} '{value[:_MAX_TEXT]}' was ignored.")
            return tuple(kept)

        as_of = None
        as_of_text = _one(query, "as_of")
        if as_of_text:
            try:
                as_of = date.fromisoformat(as_of_text)
            except ValueError:
                errors.append(f"'{as_of_text[:_MAX_TEXT]}' is not a date (YYYY-MM-DD); today used.")
        sort = _one(query, "sort") or "default"
        if sort not in SORTS:
            errors.append(f"Unknown sort '{sort[:_MAX_TEXT]}' was ignored.")
            sort = "default"
        direction = _one(query, "dir") or "asc"
        if direction not in DIRECTIONS:
            errors.append(f"Unknown sort direction '{direction[:_MAX_TEXT]}' was ignored.")
            direction = "asc"
        tasks = _one(query, "tasks")
        if tasks and tasks not in TASK_FILTERS:
            errors.append(f"Unknown tasks filter '{tasks[:_MAX_TEXT]}' was ignored.")
            tasks = ""
        page_text, size_text = _one(query, "page"), _one(query, "size")
        page = int(page_text) if page_text.isdigit() and 0 < int(page_text) < 10**6 else 1
        if page_text and str(page) != page_text.lstrip("0"):
            errors.append(f"'{page_text[:_MAX_TEXT]}' is not a page number; page 1 shown.")
        size = int(size_text) if size_text.isdigit() else DEFAULT_PAGE_SIZE
        if size not in PAGE_SIZES:
            if size_text:
                errors.append(
                    f"Page size '{size_text[:_MAX_TEXT]}' is not one of "
                    f"{', '.join(map(str, PAGE_SIZES))}; {DEFAULT_PAGE_SIZE} used."
                )
            size = DEFAULT_PAGE_SIZE
        return cls(
            statuses=pick("status", STATUSES, "status"),
            checks=pick("check", tuple(CHECKS_BY_ID), "check"),
            phases=pick("phase", PHASE_ORDER, "phase"),
            owner=_one(query, "owner"),
            tasks=tasks,
            q=_one(query, "q"),
            sort=sort,
            direction=direction,
            as_of=as_of,
            page=page,
            size=size,
            errors=tuple(errors),
        )

    def to_query(self, **changes: Any) -> list[tuple[str, str]]:
        """The canonical query parameters (defaults left out), with `changes` applied."""
        view = self.replace(**changes) if changes else self
        pairs: list[tuple[str, str]] = []
        pairs += [("status", value) for value in view.statuses]
        pairs += [("check", value) for value in view.checks]
        pairs += [("phase", value) for value in view.phases]
        for name, value in (("owner", view.owner), ("tasks", view.tasks), ("q", view.q)):
            if value:
                pairs.append((name, value))
        if view.sort != "default":
            pairs.append(("sort", view.sort))
        if view.direction != "asc":
            pairs.append(("dir", view.direction))
        if view.as_of is not None:
            pairs.append(("as_of", view.as_of.isoformat()))
        if view.size != DEFAULT_PAGE_SIZE:
            pairs.append(("size", str(view.size)))
        if view.page != 1:
            pairs.append(("page", str(view.page)))
        return pairs

    def query_string(self, **changes: Any) -> str:
        return urlencode(self.to_query(**changes))

    def replace(self, **changes: Any) -> WorklistFilters:
        return dataclasses.replace(self, errors=(), **changes)

    def sort_link(self, column: str) -> list[tuple[str, str]]:
        """Query for a column header: sort by it; a second click reverses the order."""
        direction = "desc" if self.sort == column and self.direction == "asc" else "asc"
        return self.to_query(sort=column, direction=direction, page=1)

    @property
    def active(self) -> bool:
        """Any filter (not sort) in force."""
        return bool(
            self.statuses or self.checks or self.phases or self.owner or self.tasks or self.q
        )

    # -- applying them ------------------------------------------------------------------

    def matches(self, row: WorklistRow) -> bool:
        if self.phases and row.phase not in self.phases:
            return False
        if self.q:
            needle = self.q.casefold()
            if needle not in row.name.casefold() and needle not in row.patient_id.casefold():
                return False
        if self.tasks == "open" and not row.open_tasks:
            return False
        if self.tasks == "none" and row.open_tasks:
            return False
        if self.owner and not self._owner_matches(row):
            return False
        return self._status_matches(row)

    def _owner_matches(self, row: WorklistRow) -> bool:
        if self.owner.casefold() == UNASSIGNED:
            return any(task.owner is None for task in row.open_tasks)
        needle = self.owner.casefold()
        return any(task.owner and needle in task.owner.casefold() for task in row.open_tasks)

    def _status_matches(self, row: WorklistRow) -> bool:
        if not self.statuses and not self.checks:
            return True
        findings = [
            status
            for check, status in row.check_statuses
            if not self.checks or check in self.checks
        ]
        wanted = set(self.statuses) or set(_ATTENTION)
        needing = [status for status in findings if status in _ATTENTION]
        if any(status in wanted for status in needing):
            return True
        # "ok": nothing (among the chosen checks) needs attention.
        return "ok" in wanted and not needing and (bool(findings) or not self.checks)

    def apply(self, rows: Iterable[WorklistRow]) -> list[WorklistRow]:
        """The rows that match, in the chosen order (every page)."""
        kept = [row for row in rows if self.matches(row)]
        kept.sort(key=SORT_KEYS[self.sort], reverse=self.direction == "desc")
        return kept

    def paginate(self, rows: Sequence[WorklistRow]) -> Page:
        """This view's page of `rows` (the last page when `page` is beyond the end)."""
        pages = max(1, -(-len(rows) // self.size))
        number = min(self.page, pages)
        start = (number - 1) * self.size
        return Page(list(rows[start : start + self.size]), number, pages, self.size, len(rows))


@dataclass(frozen=True)
class Page:
    rows: list[WorklistRow]
    number: int
    pages: int
    size: int
    #: Rows on all pages (the filtered total).
    total: int

    @property
    def first_index(self) -> int:
        """1-based position of the page's first row (0 when there is none)."""
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.rows) - 1 if self.rows else 0


def _due(day: date | None) -> date:
    return day or date.max


def _phase(row: WorklistRow) -> int:
    return PHASE_ORDER.index(row.phase) if row.phase in PHASE_ORDER else len(PHASE_ORDER)


def _name(row: WorklistRow) -> tuple[str, str]:
    return (row.name.casefold(), row.patient_id)


SORT_KEYS: dict[str, Callable[[WorklistRow], Any]] = {
    # SPEC §4: overdue first, then severity, then next dose due.
    "default": lambda r: (0 if r.overdue else 1, r.severity_rank, _due(r.next_due), _name(r)),
    "name": _name,
    "phase": lambda r: (_phase(r), _name(r)),
    "next_due": lambda r: (_due(r.next_due), _name(r)),
    "severity": lambda r: (r.severity_rank, -len(r.overdue), _name(r)),
    "overdue": lambda r: (-len(r.overdue), r.severity_rank, _name(r)),
    "tasks": lambda r: (-len(r.open_tasks), _name(r)),
}
