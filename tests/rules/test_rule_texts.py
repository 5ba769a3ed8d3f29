"""Every check's words, as every surface shows them, stay exactly what they were.

`fixtures/rule_texts.json` was generated before the check texts moved onto the rules (from
`descriptions.RULE_TEXT`, the worklist's short names and the registry's `Check`): the
dashboard's rule name and text, the worklist label, the CDS card, and the check's section
of docs/clinical-rules.md with a site's settings. A change to a rule's words must change
this fixture on purpose.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from domain.findings import Status
from smartapp.cds.cards import CardLinks, CardParts, finding_card
from smartapp.rules import docs
from smartapp.rules.base import Rule
from smartapp.rules.registry import CHECKS, CHECKS_BY_ID, by_id
from smartapp.rules.settings import RuleSettings
from smartapp.web.dashboard.page import finding_view
from smartapp.worklist.labels import check_label

EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "rule_texts.json").read_text(encoding="utf-8")
)


def site_settings() -> RuleSettings:
    """Every setting moved off its default, so each placeholder shows it is filled in."""
    defaults = RuleSettings()
    changed = {}
    for field in dataclasses.fields(RuleSettings):
        value = getattr(defaults, field.name)
        changed[field.name] = value + 1 if isinstance(value, int) else value * 1.5
    return RuleSettings(**changed)


def rendered(index: int, rule: Rule) -> dict[str, Any]:
    finding = rule.not_applicable("detail")
    view = finding_view(finding, date(2026, 1, 1), RuleSettings())
    links = CardLinks("https://app.example/launch", "https://app.example/rules")
    card = finding_card(finding, CardParts("info"), links).json
    return {
        "name": rule.name,
        "short_name": check_label(rule.id),
        "citation": rule.citation,
        "text": rule.describe(RuleSettings()),
        "text_with_site_settings": rule.describe(site_settings()),
        "dashboard_rule_name": view.rule_name,
        "dashboard_rule_text": view.rule_text,
        "not_applicable_title": view.title,
        "cds_card": {key: value for key, value in card.items() if key != "uuid"},
        "docs_section_with_site_settings": "\n".join(docs._check_section(index, site_settings())),
    }


def test_the_fixture_names_every_check_in_order() -> None:
    assert list(EXPECTED) == [rule.id for rule in CHECKS]


@pytest.mark.parametrize("index", range(len(CHECKS)), ids=[rule.id for rule in CHECKS])
def test_every_check_reads_as_it_did(index: int) -> None:
    rule = CHECKS[index]
    assert rendered(index, rule) == EXPECTED[rule.id]


# -- the recipe of docs/architecture.md: one module defines the Rule, one registry line ----


def _new_rule(**changes: Any) -> Rule:
    """A check as a new module would define it; `changes` break one part of it."""

    def new_check(record: Any, as_of: Any, settings: Any, schedule: Any) -> Any:
        """A new check (SPEC §3)."""
        return NEW.not_applicable("never run here")

    fields: dict[str, Any] = {
        "id": "new-check",
        "name": "New check",
        "text": "Due every {ig_interval_days} days.",
        "citation": "SPEC §3 new-check",
        "areas": frozenset({"labs"}),
        "evaluate": new_check,
        "statuses": frozenset({Status.OK, Status.DUE}),
        "settings": ("ig_interval_days",),
    }
    fields.update(changes)
    fields = {name: value for name, value in fields.items() if value is not _MISSING}
    NEW = Rule(**fields)
    return NEW


_MISSING = object()


def test_a_complete_rule_is_accepted_and_reads_its_settings() -> None:
    rule = _new_rule()
    assert rule.describe(RuleSettings()) == "Due every 365 days."
    assert rule.label == "New check" and rule.allowed == {Status.OK, Status.DUE, Status.UNKNOWN}
    assert by_id((*CHECKS, rule))["new-check"] is rule


@pytest.mark.parametrize("part", ["id", "name", "text", "citation", "areas", "evaluate"])
def test_a_rule_without_one_of_its_parts_fails_when_defined(part: str) -> None:
    with pytest.raises(TypeError, match=part):
        _new_rule(**{part: _MISSING})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"text": "  "}, "needs its name and its text"),
        ({"name": ""}, "needs its name and its text"),
        ({"citation": ""}, "cites its source"),
        ({"text": "Every {ig_interval_weeks} weeks."}, "does not format"),
        ({"settings": ("ig_interval_weeks",)}, "unknown settings"),
        ({"areas": frozenset({"labs", "diet"})}, "unknown record areas"),
    ],
)
def test_a_rule_with_a_broken_part_fails_loudly(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _new_rule(**changes)


def test_a_registry_with_two_rules_of_one_id_is_refused() -> None:
    with pytest.raises(ValueError, match="two checks have the id 'pml'"):
        by_id((*CHECKS, CHECKS_BY_ID["pml"]))
