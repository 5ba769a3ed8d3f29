"""docs/clinical-rules.md is generated from the rule registry and must match the code."""

from __future__ import annotations

from dataclasses import fields

from smartapp.rules.docs import PATH, render
from smartapp.rules.registry import CHECKS
from smartapp.rules.settings import RuleSettings


def test_the_clinical_rules_page_is_up_to_date() -> None:
    """Regenerate with `python3 -m smartapp.rules.docs --write` after changing a rule."""
    assert PATH.read_text(encoding="utf-8") == render(), (
        "docs/clinical-rules.md is stale: run python3 -m smartapp.rules.docs --write"
    )


def test_every_check_has_a_text_statuses_a_citation_and_a_detailed_rule() -> None:
    page = render()
    for check in CHECKS:
        assert check.text.strip() and check.describe(RuleSettings()) in page
        assert f"## `{check.id}` — {check.name}" in page
        assert check.citation in page
        assert check.evaluate.__doc__ and check.statuses
    for name in (f.name for f in fields(RuleSettings)):
        assert f"| `{name}` |" in page


def test_the_page_shows_a_sites_settings_when_asked() -> None:
    from dataclasses import replace

    page = render(replace(RuleSettings(), infection_no_status_days=21))
    assert "within 21 days when it has no clinical status" in page


def test_every_setting_a_check_lists_exists() -> None:
    names = {f.name for f in fields(RuleSettings)}
    for check in CHECKS:
        assert set(check.settings) <= names, check.id


ROOT = PATH.parents[1]


def test_every_test_the_hazard_log_names_exists() -> None:
    """A control's test renamed or removed must not leave the hazard log pointing at air."""
    import re

    text = (ROOT / "docs" / "hazard-log.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?", text)
    assert len(named) > 30
    for path, name in named:
        source = (ROOT / path).read_text(encoding="utf-8")
        if name:
            assert f"def {name}(" in source, f"{path}::{name} is gone"


def test_no_file_in_the_repository_points_outside_it() -> None:
    """The project stands alone: no ../shared, no path of a development machine."""
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for name in listed:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".json", ".html", ".toml", ".yml", ".yaml", ""}:
            continue
        if not path.is_file() or "fixtures" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for marker in ("../shared", "/work/shared", "/work/wt/", "/work/main"):
            if marker in text and name != "tests/rules/test_docs.py":
                offenders.append(f"{name}: {marker}")
    assert offenders == []
