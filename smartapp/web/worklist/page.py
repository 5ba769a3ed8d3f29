"""What the worklist page shows: its links (a link reproduces the view), the sortable
columns, how old the list is, and the status labels the templates use."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import url_for

from smartapp.rules.registry import CHECKS_BY_ID
from smartapp.web.worklist.reading import WorklistView
from smartapp.worklist import WorklistFilters
from smartapp.worklist.filters import PAGE_SIZES, STATUSES, TASK_FILTERS
from smartapp.worklist.labels import check_label
from smartapp.worklist.report import STATUS_LABELS
from smartapp.worklist.rows import PHASE_ORDER
from smartapp.worklist.tasks import MAX_PATIENTS


def url(endpoint: str, query: str) -> str:
    base = url_for(endpoint)
    return f"{base}?{query}" if query else base


SORTABLE = (
    ("name", "Patient"),
    ("phase", "Phase"),
    ("next_due", "Next dose due"),
    ("overdue", "Overdue"),
    ("severity", "Highest severity"),
    ("tasks", "Open Tasks"),
)


def age(seconds: float) -> str:
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "less than a minute ago"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    return f"{minutes // 60} hours ago"


def index_values(filters: WorklistFilters, view: WorklistView) -> dict[str, Any]:
    """The values of `worklist/index.html` for one page of the stored worklist."""
    state = view.state
    shown = filters.apply(view.rows)
    page = filters.paginate(shown)
    query = filters.query_string()
    latest = state.latest
    stats = latest.stats if latest is not None else {}
    read_at = datetime.fromtimestamp(
        (latest.finished_at or latest.started_at) if latest else time.time(), UTC
    )
    failed_at = datetime.fromtimestamp(
        (state.failure.finished_at or state.failure.started_at) if state.failure else 0, UTC
    )
    return dict(
        access=view.access,
        state=state,
        refreshing=view.refreshing,
        page=page,
        all_count=len(view.rows),
        stats=stats,
        problems=list(stats.get("problems", [])),
        notes=list(stats.get("notes", [])),
        filters=filters,
        as_of=view.as_of,
        read_at=read_at,
        read_age=age(time.time() - read_at.timestamp()),
        failed_at=failed_at,
        permalink=url("worklist.index", query),
        csv_url=url("worklist.csv_export", filters.query_string(page=1)),
        status_url=url_for("worklist.refresh_status"),
        return_query=query,
        sort_links={
            column: url("worklist.index", urlencode(filters.sort_link(column)))
            for column, _ in SORTABLE
        },
        page_links={
            name: url("worklist.index", filters.query_string(page=number))
            for name, number in (
                ("first", 1),
                ("previous", page.number - 1),
                ("next", page.number + 1),
                ("last", page.pages),
            )
        },
        statuses=STATUSES,
        status_labels=STATUS_LABELS,
        checks=[(check_id, check_label(check_id)) for check_id in CHECKS_BY_ID],
        phases=PHASE_ORDER,
        task_filters=TASK_FILTERS,
        page_sizes=PAGE_SIZES,
        max_patients=MAX_PATIENTS,
    )


def worklist_status(status: str) -> dict[str, Any]:
    icon, word = STATUS_LABELS.get(status, ("?", status))
    return {"icon": icon, "word": word, "key": status}
