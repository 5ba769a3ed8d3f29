"""Whether a Condition counts as of the as-of day (SPEC §2 "Status filters", "Conditions
without clinicalStatus"; issue 10: abatement and onset are judged as of the as-of date).

- refuted or entered-in-error: never counts (`IGNORED`);
- onset (else recordedDate) after the as-of day: not yet recorded then (`NOT_YET`);
- abated on or before the as-of day, or abated with no date: over (`PAST`);
- abated after the as-of day: it was still going on that day, whatever clinicalStatus says
  now (a Condition resolved later does not travel back in time);
- clinicalStatus active, recurrence or relapse: `ACTIVE`;
- inactive, resolved or remission: `PAST`;
- no clinicalStatus (allowed in R4 for encounter diagnoses), not abated: an infection is
  active for 30 days (a setting) from its onset, else its recordedDate; a pregnancy for 280
  days; hepatitis B, PML and the chronic infections of the curated list whatever their age
  (`ACTIVE`); older ones are `STALE` (shown in the evidence, not counted); one with no date
  at all is `UNDATED` (the check cannot tell: unknown, never ok).

A partial date counts the way that keeps more conditions current: an onset may be as late
as its last day, an abatement as late as its last day.
"""

from __future__ import annotations

from datetime import date
from enum import Enum

from domain.records import ConditionKind, ConditionRecord
from smartapp.rules.dates import plus_days
from smartapp.rules.settings import RuleSettings

ACTIVE_STATUSES = frozenset({"active", "recurrence", "relapse"})
PAST_STATUSES = frozenset({"inactive", "resolved", "remission"})


class ConditionState(str, Enum):
    ACTIVE = "active"
    PAST = "past"
    STALE = "stale"
    UNDATED = "undated"
    NOT_YET = "not_yet"
    IGNORED = "ignored"


def no_status_days(condition: ConditionRecord, settings: RuleSettings) -> int | None:
    """How long a Condition without clinicalStatus stays current; None: whatever its age."""
    if condition.kind is ConditionKind.INFECTION and not condition.chronic:
        return settings.infection_no_status_days
    if condition.kind is ConditionKind.PREGNANCY:
        return settings.pregnancy_lookback_days
    return None


def condition_state(
    condition: ConditionRecord, as_of: date, settings: RuleSettings
) -> ConditionState:
    """The state of one Condition as of `as_of` (module docstring)."""
    if condition.refuted:
        return ConditionState.IGNORED
    onset = condition.onset
    if onset is not None and onset.earliest > as_of:
        return ConditionState.NOT_YET
    abatement = condition.abatement
    if abatement is not None:
        if abatement.latest <= as_of:
            return ConditionState.PAST
        # Abated only after the as-of day: going on that day, whatever its status says now.
        if condition.clinical_status not in ACTIVE_STATUSES and condition.clinical_status:
            return ConditionState.ACTIVE
    elif condition.abated:
        return ConditionState.PAST
    status = condition.clinical_status
    if status in ACTIVE_STATUSES:
        return ConditionState.ACTIVE
    if status is not None:
        return ConditionState.PAST if status in PAST_STATUSES else ConditionState.UNDATED
    window = no_status_days(condition, settings)
    if window is None:
        return ConditionState.ACTIVE
    if onset is None:
        return ConditionState.UNDATED
    if plus_days(onset.latest, window) >= as_of:
        return ConditionState.ACTIVE
    return ConditionState.STALE


def describe_state(condition: ConditionRecord, state: ConditionState) -> str:
    """A note for the evidence: how the Condition was judged."""
    if state is ConditionState.NOT_YET:
        return "recorded after the as-of date: not counted"
    if condition.abatement is not None and state is ConditionState.ACTIVE:
        return f"abated only on {condition.abatement.text}: still current on the as-of date"
    if condition.clinical_status is None:
        if state is ConditionState.ACTIVE:
            return "no clinical status: counted as current"
        if state is ConditionState.STALE:
            return "no clinical status and too old to be current: not counted"
        if state is ConditionState.UNDATED:
            return "no clinical status and no date: cannot tell whether it is current"
    return ""
