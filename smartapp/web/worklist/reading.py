"""The worklist's FHIR access and stored state for one request: a client with the
request's access (Backend Services or the launch's token, renewed once on a 401), the
background refresh a page view or a button starts, and the stored rows it shows."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

from flask import current_app

from fhir_mappings.write.writeback import WriteContext
from smartapp.fhir import FhirClient, ReadLimits
from smartapp.launch.context import fhir_client_for
from smartapp.launch.errors import LaunchError
from smartapp.launch.population import job_token, population_token
from smartapp.launch.state import launch_state
from smartapp.web.access import WorklistAccess, launch_ended, worklist_access
from smartapp.web.fhir_access import app_mappings, rule_settings, run_with
from smartapp.web.worklist.store import (
    ClientMaker,
    StoredState,
    reader_of,
    refresher_of,
    start_refresh,
    stored_rows,
    stored_state,
    target_for,
)
from smartapp.web.writeback.author import write_context
from smartapp.worklist import WorklistFilters, WorklistOptions
from smartapp.worklist.refresh import RefreshTarget
from smartapp.worklist.rows import WorklistRow

#: A refresh that failed is not started again by page views for this long ("try again").
RETRY_S = 600

T = TypeVar("T")


class WorklistUnreadable(LaunchError):
    """Every population search failed: an empty table would claim "no patients"."""

    status = 502
    title = "The worklist could not be read"


def _client(access: WorklistAccess, limits: ReadLimits) -> FhirClient:
    """A client that renews a refused token once (Backend Services or the launch's)."""
    timeout = launch_state().config.fhir_timeout_s
    if access.mode == "backend":
        _, token = population_token()
        return FhirClient(
            access.fhir_base,
            token=token.access_token,
            timeout=timeout,
            dialect=launch_state().config.dialect_for(access.fhir_base),
            limits=limits,
            reauthorize=lambda: population_token(force=True)[1].access_token,
        )
    if access.context is None:
        raise launch_ended()
    return fhir_client_for(access.context, limits=limits)


def _worklist_limits() -> ReadLimits:
    """The population read has its own, longer deadline (SMARTAPP_WORKLIST_DEADLINE)."""
    config = launch_state().config
    return ReadLimits.start(config.worklist_deadline_s, config.fhir_max_bytes)


def with_fhir(access: WorklistAccess, work: Callable[[FhirClient], T]) -> T:
    """Run `work` with a client (which renews a refused token once)."""
    return run_with(_client(access, _worklist_limits()), work)


# -- building (and briefly keeping) the worklist --------------------------------------------


def _options(access: WorklistAccess) -> WorklistOptions:
    config = launch_state().config
    return WorklistOptions(
        group=config.worklist_group,
        group_only=config.worklist_group_only,
        readable=access.readable,
        timeout_s=max(config.fhir_timeout_s, 120.0),
    )


def refresh_target(access: WorklistAccess) -> RefreshTarget:
    fhir_user = access.context.fhir_user if access.context is not None else None
    reader = reader_of(access.mode, fhir_user, access.launch_id)
    return target_for(access.fhir_base, reader, _options(access))


def _client_maker(access: WorklistAccess) -> ClientMaker:
    """FHIR clients for a background refresh, with this request's access (module doc).
    The refresh's reads share one clock, SMARTAPP_WORKLIST_DEADLINE, like the population
    read it replaced: a slow or hostile server cannot hold a web thread for ever."""
    limits = _worklist_limits()
    config = launch_state().config
    if access.mode == "backend":

        def backend() -> FhirClient:
            return FhirClient(
                access.fhir_base,
                token=job_token().access_token,
                timeout=config.fhir_timeout_s,
                dialect=config.dialect_for(access.fhir_base),
                limits=limits,
                reauthorize=lambda: job_token(force=True).access_token,
            )

        return backend
    context = access.context
    if context is None:
        raise launch_ended()
    return lambda: fhir_client_for(context, limits=limits)


def refresh_in_background(
    access: WorklistAccess, target: RefreshTarget, *, full: bool = False
) -> bool:
    return start_refresh(
        target,
        _client_maker(access),
        mappings=app_mappings(),
        settings=rule_settings(),
        as_of=today(),
        full=full,
    )


def _should_start(state: StoredState, today: date) -> bool:
    """Start a refresh on a page view: nothing stored yet, or stored on an earlier day —
    unless one runs, or one failed a short while ago (the page offers "try again")."""
    if state.running is not None:
        return False
    if state.failure is not None and time.time() - (state.failure.finished_at or 0) < RETRY_S:
        return False
    return state.latest is None or state.latest.as_of < today


@dataclass(frozen=True)
class WorklistView:
    access: WorklistAccess
    target: RefreshTarget
    state: StoredState
    as_of: date
    #: Every row of the stored worklist for `as_of` (unfiltered).
    rows: list[WorklistRow]
    #: A refresh runs, or this request has just started one (it may not show yet).
    refreshing: bool = False


def today() -> date:
    return date.today()


def build_view(filters: WorklistFilters) -> WorklistView:
    access = worklist_access()
    target = refresh_target(access)
    state = stored_state(target)
    day = today()
    started = _should_start(state, day) and refresh_in_background(access, target)
    if started:
        state = stored_state(target)
    as_of = filters.as_of or day
    rows: list[WorklistRow] = []
    if state.latest is not None:
        rows = stored_rows(state.latest, as_of, mappings=app_mappings(), settings=rule_settings())
    refreshing = (
        started or state.running is not None or refresher_of(current_app).running(target.key)
    )
    return WorklistView(access, target, state, as_of, rows, refreshing)


def unreadable(state: StoredState) -> WorklistUnreadable:
    return WorklistUnreadable(
        f"{state.failure.error if state.failure else ''} Try again in a few minutes; if it "
        "keeps happening, tell your administrator."
    )


def author_context(client: FhirClient, access: WorklistAccess) -> WriteContext:
    now = datetime.now(UTC)
    if access.context is not None:
        return write_context(client, access.context, now)
    # Population mode: the person who signed in to the app is the author (by name; the
    # identity provider's user is not a FHIR resource).
    display = f"{access.user.display} (signed in to the app)" if access.user else None
    return WriteContext(now=now, fhir_base=access.fhir_base, author_display=display)
