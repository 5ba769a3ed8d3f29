"""docs/clinical-rules.md, generated from the rule registry (a test fails when it is stale).

    python3 -m smartapp.rules.docs            # print it
    python3 -m smartapp.rules.docs --write    # rewrite docs/clinical-rules.md

Everything in the page comes from the code that runs: each check's id, name, statuses,
settings (with their defaults), record areas, citation and what it decides from its
`Rule` in `registry.CHECKS`, its detailed rule from the docstring of the rule's function,
and the rules for reading messy records from the docstrings of the modules that apply
them. Change the code, regenerate, and the page follows.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import fields
from pathlib import Path

import fhir_mappings.read.qualitative
import fhir_mappings.read.vaccines
from domain.findings import Status
from smartapp.rules import conditions, results
from smartapp.rules.registry import CHECKS
from smartapp.rules.settings import RuleSettings

PATH = Path(__file__).resolve().parents[2] / "docs" / "clinical-rules.md"

_STATUS_ORDER = (
    Status.OK,
    Status.DUE,
    Status.OVERDUE,
    Status.ALERT,
    Status.NOT_APPLICABLE,
    Status.UNKNOWN,
)

_INTRO = """\
# Clinical rules

*Generated from the rule registry by `python3 -m smartapp.rules.docs --write`; do not edit
by hand (a test fails when this page and the code disagree).*

The app runs {count} checks on one patient's record as of a day. Each check is a pure
function of the record, the day and the settings below, and returns one finding: a status
(`ok`, `due`, `overdue`, `alert`, `unknown`, `not_applicable`), a severity, a sentence a
clinician reads, the records it rests on (evidence) and where the rule comes from.

Principles every check keeps:

- Missing, pending, misdated or unreadable data never give `ok`: the check says `unknown`
  (or, for a timing check, stays due and waits for a pending result). Every check may say
  `unknown`, whatever its statuses below.
- The order of the server's entries never changes an answer; records entered in error,
  not done, cancelled or of another patient never change a status; a pending result never
  creates an alert; a less precise date never turns a status into `ok`; a duplicate dose
  on the same day changes neither the phase nor the next due date. Property tests check
  these over generated and hand-built records (`tests/rules/test_invariants.py`).
- Citations name the Kesimpta (ofatumumab) US prescribing information ("USPI") section,
  or the public code lists behind a value set (`fhir_mappings/valuesets/*.json`, each code
  with its source; see `docs/terminology-sources.md`). "SPEC §n" in the code is the
  product specification's section; this page states those rules in full.
"""


def _paragraphs(text: str | None) -> str:
    return inspect.cleandoc(text or "").strip()


def _check_section(check_index: int, settings: RuleSettings) -> list[str]:
    rule = CHECKS[check_index]
    statuses = [s.value for s in _STATUS_ORDER if s in rule.allowed]
    lines = [
        f'<a id="{rule.id}"></a>',
        "",
        f"## `{rule.id}` — {rule.name}",
        "",
        rule.describe(settings),
        "",
        f"- **Statuses:** {', '.join(f'`{s}`' for s in statuses)}",
        f"- **Reads:** {', '.join(sorted(rule.areas))}",
        f"- **Source:** {rule.citation}",
    ]
    if rule.settings:
        lines.append("- **Settings:** " + ", ".join(f"`{name}`" for name in rule.settings))
    lines += ["", "<details><summary>The rule in detail</summary>", ""]
    lines += [_paragraphs(rule.evaluate.__doc__), "", "</details>", ""]
    return lines


def _settings_table(settings: RuleSettings) -> list[str]:
    users: dict[str, list[str]] = {}
    for check in CHECKS:
        for name in check.settings:
            users.setdefault(name, []).append(check.id)
    lines = [
        "## Settings",
        "",
        "A site changes them in its mappings file (`SMARTAPP_MAPPINGS`, key `settings`).",
        "",
        "| setting | default | used by |",
        "|---|---|---|",
    ]
    for field in fields(RuleSettings):
        value = getattr(settings, field.name)
        used = ", ".join(f"`{c}`" for c in users.get(field.name, [])) or "(no check reads it)"
        lines.append(f"| `{field.name}` | {value:g} | {used} |")
    return [*lines, ""]


def _reading_rules() -> list[str]:
    sections = (
        ("Which result is the latest, pending results, dates after the as-of day", results),
        ("Conditions as of the as-of day", conditions),
        ("Qualitative results and HBV DNA", fhir_mappings.read.qualitative),
        ("Vaccines: live, non-live or review", fhir_mappings.read.vaccines),
    )
    lines = ["## Reading messy records", ""]
    for title, module in sections:
        lines += [f"### {title}", "", _paragraphs(module.__doc__), ""]
    return lines


def render(settings: RuleSettings | None = None) -> str:
    """The page for `settings` (the defaults unless a site's are given)."""
    settings = settings or RuleSettings()
    lines = [_INTRO.format(count=len(CHECKS)), "## Checks", ""]
    lines += [f"- [`{c.id}`](#{c.id}) — {c.name}" for c in CHECKS]
    lines.append("")
    for index in range(len(CHECKS)):
        lines += _check_section(index, settings)
    lines += _settings_table(settings)
    lines += _reading_rules()
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--write" in argv:
        PATH.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {PATH}\n")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover - a developer's command
    raise SystemExit(main(sys.argv[1:]))
