"""Every check of SPEC §3, one line each, in the order the findings list them.

A check is one `Rule` (`smartapp.rules.base`): its module defines its id, names, text,
citation, statuses, settings and the function that evaluates it; adding a check is that
module plus one line here.
"""

from __future__ import annotations

from smartapp.rules import dosing, hbv, imaging, immunoglobulins, labs, safety, vaccines
from smartapp.rules.base import Rule

CHECKS: tuple[Rule, ...] = (
    hbv.HBV_SCREENING,
    hbv.HBV_SEROLOGY,
    immunoglobulins.IG_BASELINE,
    immunoglobulins.IG_MONITORING,
    immunoglobulins.IG_LOW,
    labs.CBC_BASELINE,
    dosing.DOSE_SCHEDULE,
    dosing.DOSE_INTERVAL,
    vaccines.VACCINE_BEFORE_START,
    vaccines.VACCINE_LIVE_ON_THERAPY,
    vaccines.VACCINE_WINDOW,
    safety.INFECTION_ACTIVE,
    safety.HYPERSENSITIVITY,
    safety.PML,
    safety.PREGNANCY,
    imaging.MRI_MONITORING,
)


def by_id(rules: tuple[Rule, ...]) -> dict[str, Rule]:
    """The rules by id; two rules with one id are a mistake, refused at import."""
    table: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in table:
            raise ValueError(f"two checks have the id {rule.id!r}")
        table[rule.id] = rule
    return table


CHECKS_BY_ID: dict[str, Rule] = by_id(CHECKS)
