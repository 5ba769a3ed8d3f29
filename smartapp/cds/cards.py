"""Findings -> CDS Hooks cards (CDS Hooks 2.0 "Card Attributes").

A card carries one finding exactly as the dashboard shows it: the title as the summary
(under 140 characters), the detail, the status and due date, the evidence (resource, date,
how it was matched), the rule's citation and a link to the app's clinical rules document;
a SMART link opens the dashboard. The indicator comes from the finding's severity:

    critical → critical;  high, moderate → warning;  low, info → info

and at an order hook an alert of high or critical severity that bears on the order being
signed is `critical`: that is the moment to stop (a live vaccine during therapy, a dose
during an active infection). Critical cards offer the app's override reasons.

Text from FHIR resources (names, displays, references) is escaped for GitHub Flavored
Markdown, so a record cannot inject links, images or HTML into the EHR's card.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.findings import Finding, Severity, Status
from fhir_mappings.canonical import CHECK_SYSTEM
from fhir_mappings.write.override_reasons import override_reasons
from smartapp.rules.registry import CHECKS_BY_ID

SOURCE_LABEL = "Ofatumumab safety app"
APP_LINK_LABEL = "Open the ofatumumab safety dashboard"
#: CDS Hooks: "One-sentence, <140-character summary".
SUMMARY_MAX = 139

INDICATOR: dict[Severity, str] = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "warning",
    Severity.MODERATE: "warning",
    Severity.LOW: "info",
    Severity.INFO: "info",
}
STATUS_WORDS: dict[Status, str] = {
    Status.ALERT: "Alert",
    Status.OVERDUE: "Overdue",
    Status.DUE: "Due",
    Status.UNKNOWN: "Unknown (cannot be confirmed)",
    Status.OK: "OK",
    Status.NOT_APPLICABLE: "Not applicable",
}
#: Card `check` of cards that carry no finding.
NOT_RUN = "checks-not-run"
ORDER_NOT_CHECKED = "order-not-checked"
NOTICE_NAMES = {
    NOT_RUN: "Safety checks could not run",
    ORDER_NOT_CHECKED: "Order could not be checked",
}

#: Characters with a meaning anywhere in a line (emphasis, code, links, HTML, entities,
#: tables, strikethrough); `(`, `)` and `!` only matter next to an escaped `[`/`]`.
_INLINE_SPECIAL = re.compile(r"([\\`*_{}\[\]<>&~|])")
#: What makes a line a heading, list, quote or rule when it starts it.
_LINE_START = re.compile(r"^(\d*)([#+\-=>.)])")
#: GFM turns bare URLs into links: break the patterns it looks for.
_AUTOLINK = re.compile(r"(:)(//)|\b(www)(\.)", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def md(text: object) -> str:
    """Plain text as GitHub Flavored Markdown that renders as that same text (one line)."""
    flat = _INLINE_SPECIAL.sub(r"\\\1", _SPACES.sub(" ", str(text)).strip())
    flat = _AUTOLINK.sub(lambda m: f"{m[1] or m[3]}\\{m[2] or m[4]}", flat)
    return _LINE_START.sub(r"\1\\\2", flat, count=1)


def summary_line(text: str) -> str:
    flat = _SPACES.sub(" ", text).strip()
    if len(flat) <= SUMMARY_MAX:
        return flat
    return flat[: SUMMARY_MAX - 1].rstrip() + "…"


def indicator_for(finding: Finding, *, order_moment: bool) -> str:
    if (
        order_moment
        and finding.status is Status.ALERT
        and finding.severity in (Severity.CRITICAL, Severity.HIGH)
    ):
        return "critical"
    return INDICATOR[finding.severity]


@dataclass(frozen=True)
class CardLinks:
    """Where cards point: the app's SMART launch URL and its clinical rules document."""

    launch_url: str
    rules_url: str

    def source(self, check: str, name: str) -> dict[str, Any]:
        return {
            "label": SOURCE_LABEL,
            "url": self.rules_url,
            "topic": {"system": CHECK_SYSTEM, "code": check, "display": name},
        }

    def app_link(self) -> dict[str, str]:
        return {"label": APP_LINK_LABEL, "url": self.launch_url, "type": "smart"}


@dataclass(frozen=True)
class Card:
    """A card and what the feedback report needs to know about it."""

    json: dict[str, Any]
    check: str
    indicator: str

    @property
    def uuid(self) -> str:
        return str(self.json["uuid"])


@dataclass(frozen=True)
class DraftNote:
    """How a draft order appears on a card: its stand-in's reference → words."""

    reference: str
    words: str


@dataclass
class CardParts:
    """What a finding card says besides the finding itself."""

    indicator: str
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    #: Lines placed before the detail ("This order: …").
    lead: list[str] = field(default_factory=list)
    drafts: Sequence[DraftNote] = ()


def _evidence_lines(finding: Finding, drafts: Mapping[str, str]) -> list[str]:
    lines = []
    for item in finding.evidence:
        draft = drafts.get(item.reference)
        if draft is not None:
            lines.append(f"- {md(draft)}")
            continue
        when = f", {md(item.date)}" if item.date else ""
        matched = f" (matched by {md(item.matched_by)})" if item.matched_by else ""
        lines.append(f"- {md(item.display)}{when} — {md(item.reference)}{matched}")
    if not lines:
        lines.append("- No record: the finding rests on what is missing from the record.")
    return lines


def _status_line(finding: Finding) -> str:
    parts = [f"**Status:** {STATUS_WORDS[finding.status]}"]
    if finding.due is not None:
        parts.append(f"**Due:** {finding.due.isoformat()}")
    parts.append(f"**Severity:** {finding.severity.value}")
    return " · ".join(parts)


def finding_card(finding: Finding, parts: CardParts, links: CardLinks) -> Card:
    drafts = {note.reference: note.words for note in parts.drafts}
    detail: list[str] = [*parts.lead, md(finding.detail), "", _status_line(finding)]
    ack = finding.acknowledgement
    if ack is not None:
        detail += ["", f"Acknowledged by {md(ack.by)} on {md(ack.on)}: {md(ack.reason)}"]
    detail += ["", "**Evidence**", "", *_evidence_lines(finding, drafts)]
    detail += [
        "",
        f"**Rule:** {md(finding.citation)} — [how the app checks this]"
        f"({links.rules_url}#{finding.check})",
    ]
    rule = CHECKS_BY_ID.get(finding.check)
    source = links.source(finding.check, rule.name if rule else finding.check)
    card = _card(finding.title, "\n".join(detail), parts.indicator, source, links)
    _add_suggestions(card, parts.suggestions)
    return Card(card, finding.check, parts.indicator)


def notice_card(
    check: str, summary: str, reasons: Sequence[str], indicator: str, links: CardLinks
) -> Card:
    """A card that is not a finding: the checks could not run, an order could not be read."""
    detail = [
        "The app could not check this, so it cannot say that it is safe.",
        "",
        *(f"- {md(reason)}" for reason in reasons),
        "",
        "Open the dashboard to see what was read, or check the record by hand.",
    ]
    name = NOTICE_NAMES[check]
    card = _card(summary, "\n".join(detail), indicator, links.source(check, name), links)
    return Card(card, check, indicator)


def _card(
    summary: str, detail: str, indicator: str, source: dict[str, Any], links: CardLinks
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary_line(summary),
        "detail": detail,
        "indicator": indicator,
        "source": source,
        "links": [links.app_link()],
    }
    if indicator == "critical":
        card["overrideReasons"] = [dict(reason) for reason in override_reasons()]
    return card


def _add_suggestions(card: dict[str, Any], suggestions: list[dict[str, Any]]) -> None:
    if not suggestions:
        return
    card["suggestions"] = suggestions
    # Required with suggestions: the removal of an order and a follow-up Task can be
    # accepted together; a single suggestion is at most one.
    card["selectionBehavior"] = "any" if len(suggestions) > 1 else "at-most-one"
