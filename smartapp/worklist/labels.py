"""Short names of the checks for the worklist screen ("IgG/IgM", "Dose", "MRI").

A coordinator scans a column of them, so they are a word or two; the check ids stay in the
CSV and JSON (and in the filter's values), where programs read them. Each rule carries
its short name (`Rule.short_name`); a rule without one shows its name.
"""

from __future__ import annotations

from smartapp.rules.registry import CHECKS_BY_ID


def check_label(check_id: str) -> str:
    """The short name of a check (its rule's name when it has none; the id if unknown)."""
    rule = CHECKS_BY_ID.get(check_id)
    return rule.label if rule is not None else check_id
