"""Feedback on cards (CDS Hooks 2.0 "Feedback") and the clinic lead's report.

The services remember each card they return (`CardIssued`: service, card uuid, check,
indicator, when) and each feedback item (`CardOutcome`: accepted with the suggestions, or
overridden with the reason). `FeedbackStore` is the storage interface, implemented in the
app's database (`smartapp.store.cds`), so every app process reports the same counts.

The report counts, per service and ISO week: cards shown (returned to a client), and the
distinct cards accepted and overridden, the overrides by reason. A card reported several
times counts once per outcome (the spec allows repeated feedback). Free-text comments are
stored but never shown in the report (they may name the patient).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

OUTCOMES = ("accepted", "overridden")
NO_REASON = "(no reason given)"
#: How far back the report looks.
REPORT_WEEKS = 26
_MAX_ITEMS = 100
_MAX_TEXT = 2000


class BadFeedback(ValueError):
    """The feedback body cannot be used; `str(err)` says why (HTTP 400)."""


@dataclass(frozen=True)
class CardIssued:
    service: str
    card: str
    check: str
    indicator: str
    at: datetime


@dataclass(frozen=True)
class CardOutcome:
    service: str
    card: str
    outcome: str
    at: datetime
    accepted_suggestions: tuple[str, ...] = ()
    reason_system: str | None = None
    reason_code: str | None = None
    reason_display: str | None = None
    comment: str | None = None

    @property
    def reason(self) -> str:
        return self.reason_display or self.reason_code or NO_REASON


class FeedbackStore(Protocol):
    """Where cards and outcomes are kept (`smartapp.store.cds.DatabaseFeedbackStore`)."""

    def cards_issued(self, cards: Sequence[CardIssued]) -> None: ...

    def outcomes_received(self, outcomes: Sequence[CardOutcome]) -> None: ...

    def issued_by(self, service: str, cards: Iterable[str]) -> set[str]:
        """The uuids among `cards` that `service` returned to a client."""
        ...

    def issued(self, since: datetime) -> Iterable[CardIssued]: ...

    def outcomes(self, since: datetime) -> Iterable[CardOutcome]: ...


# -- reading a feedback body ------------------------------------------------------------------


def _text(value: object, name: str, *, limit: int = 256) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadFeedback(f"{name} must be a non-empty string")
    if len(value) > limit:
        raise BadFeedback(f"{name} is too long")
    return value.strip()


def _timestamp(value: object) -> datetime:
    text = _text(value, "outcomeTimestamp")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise BadFeedback("outcomeTimestamp must be an ISO 8601 timestamp") from err
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _item(raw: object, service: str) -> CardOutcome:
    if not isinstance(raw, Mapping):
        raise BadFeedback("each feedback item must be an object")
    card = _text(raw.get("card"), "feedback.card")
    outcome = raw.get("outcome")
    if outcome not in OUTCOMES:
        raise BadFeedback("feedback.outcome must be accepted or overridden")
    at = _timestamp(raw.get("outcomeTimestamp"))
    accepted: tuple[str, ...] = ()
    if outcome == "accepted":
        suggestions = raw.get("acceptedSuggestions")
        if not isinstance(suggestions, list) or not suggestions:
            raise BadFeedback("an accepted outcome needs acceptedSuggestions")
        accepted = tuple(
            _text(item.get("id") if isinstance(item, Mapping) else None, "acceptedSuggestions.id")
            for item in suggestions
        )
    reason = raw.get("overrideReason")
    coding: Mapping[str, Any] = {}
    comment = None
    if reason is not None:
        if outcome != "overridden" or not isinstance(reason, Mapping):
            raise BadFeedback("overrideReason belongs to an overridden outcome, as an object")
        found = reason.get("reason")
        if found is not None:
            if not isinstance(found, Mapping):
                raise BadFeedback("overrideReason.reason must be a Coding")
            coding = found
        if reason.get("userComment") is not None:
            comment = _text(reason.get("userComment"), "userComment", limit=_MAX_TEXT)
    return CardOutcome(
        service=service,
        card=card,
        outcome=str(outcome),
        at=at,
        accepted_suggestions=accepted,
        reason_system=_optional(coding.get("system"), "overrideReason.reason.system"),
        reason_code=_optional(coding.get("code"), "overrideReason.reason.code"),
        reason_display=_optional(coding.get("display"), "overrideReason.reason.display"),
        comment=comment,
    )


def _optional(value: object, name: str) -> str | None:
    return None if value is None else _text(value, name)


def parse_feedback(body: object, service: str) -> list[CardOutcome]:
    if not isinstance(body, Mapping) or not isinstance(body.get("feedback"), list):
        raise BadFeedback('the body must be {"feedback": [...]}')
    items = body["feedback"]
    if not items:
        raise BadFeedback("feedback is empty")
    if len(items) > _MAX_ITEMS:
        raise BadFeedback(f"at most {_MAX_ITEMS} feedback items per call")
    return [_item(item, service) for item in items]


# -- the report -------------------------------------------------------------------------------


def week_of(when: datetime | date) -> str:
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class ReportRow:
    service: str
    week: str
    shown: int = 0
    critical: int = 0
    accepted: int = 0
    overridden: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "week": self.week,
            "shown": self.shown,
            "critical": self.critical,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "overriddenByReason": dict(self.reasons.most_common()),
            "shownByCheck": dict(self.checks.most_common()),
        }


def build_report(issued: Iterable[CardIssued], outcomes: Iterable[CardOutcome]) -> list[ReportRow]:
    """Rows by (service, week): newest week first, then by service. Outcomes count in the
    week they happened."""
    rows: dict[tuple[str, str], ReportRow] = {}

    def row(service: str, week: str) -> ReportRow:
        return rows.setdefault((service, week), ReportRow(service, week))

    for card in issued:
        target = row(card.service, week_of(card.at))
        target.shown += 1
        target.critical += card.indicator == "critical"
        target.checks[card.check] += 1
    counted: set[tuple[str, str, str]] = set()
    for item in sorted(outcomes, key=lambda outcome: outcome.at):
        key = (item.service, item.card, item.outcome)
        if key in counted:
            continue
        counted.add(key)
        target = row(item.service, week_of(item.at))
        if item.outcome == "accepted":
            target.accepted += 1
        else:
            target.overridden += 1
            target.reasons[item.reason] += 1
    by_service = sorted(rows.values(), key=lambda r: r.service)
    return sorted(by_service, key=lambda r: r.week, reverse=True)
