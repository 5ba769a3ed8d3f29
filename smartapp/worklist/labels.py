"""Short names of the checks for the worklist screen ("IgG/IgM", "Dose", "MRI").

A coordinator scans a column of them, so they are a word or two; the check ids stay in the
CSV and JSON (and in the filter's values), where programs read them. A check without a
short name here shows its rule's name.
"""

from __future__ import annotations

from smartapp.rules.registry import CHECKS_BY_ID

SHORT_NAMES: dict[str, str] = {
    "hbv-screening": "HBV screen",
    "hbv-serology": "Hepatitis B",
    "ig-baseline": "IgG/IgM baseline",
    "ig-monitoring": "IgG/IgM",
    "ig-low": "Low IgG/IgM",
    "cbc-baseline": "CBC",
    "dose-schedule": "Dose",
    "dose-interval": "Dose record",
    "vaccine-before-start": "Vaccines",
    "vaccine-live-on-therapy": "Live vaccine",
    "vaccine-window": "Vaccine timing",
    "infection-active": "Infection",
    "hypersensitivity": "Hypersensitivity",
    "pml": "PML",
    "pregnancy": "Pregnancy",
    "mri-monitoring": "MRI",
}


def check_label(check_id: str) -> str:
    """The short name of a check (its rule's name when it has none; the id if unknown)."""
    if check_id in SHORT_NAMES:
        return SHORT_NAMES[check_id]
    check = CHECKS_BY_ID.get(check_id)
    return check.rule.name if check is not None else check_id
