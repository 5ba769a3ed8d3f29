"""`smartapp check` as SPEC §4 describes it: JSON shape, text, exit codes, one-line errors."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from smartapp.cli.main import main
from smartapp.demo.bundles import demo_collection_bundle
from tests.support.cli import run_cli

AS_OF = date(2026, 3, 1)


def write(tmp_path: Path, name: str, content: Any) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def hbsag_bundle(tmp_path: Path) -> str:
    return write(tmp_path, "hbsag.json", demo_collection_bundle(AS_OF, "hbsag-positive"))


def test_json_output_has_the_spec_shape_and_severity_order(
    hbsag_bundle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "check", "--bundle", hbsag_bundle, "--as-of", AS_OF.isoformat())
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert set(doc) >= {"patient", "as_of", "phase", "schedule", "findings", "data"}
    assert set(doc["patient"]) == {"id", "name", "birthDate", "gender"}
    assert set(doc["schedule"]) == {
        "first_dose",
        "last_dose",
        "doses",
        "next_due",
        "vaccine_window",
        "earliest_start",
        "next_due_from",
        "pens_in_hand",
        "supply_until",
    }
    assert set(doc["data"]) >= {"read", "skipped", "uninterpretable"}
    assert doc["as_of"] == "2026-03-01" and doc["phase"] == "pre-treatment"
    first = doc["findings"][0]
    assert (first["check"], first["status"], first["severity"]) == (
        "hbv-serology",
        "alert",
        "critical",
    )
    assert set(first) >= {
        "check",
        "status",
        "severity",
        "title",
        "detail",
        "due",
        "evidence",
        "action",
        "citation",
    }
    assert set(first["evidence"][0]) >= {"reference", "date", "display"}
    ranks = ["critical", "high", "moderate", "low", "info"]
    severities = [ranks.index(f["severity"]) for f in doc["findings"]]
    assert severities == sorted(severities)
    assert len({f["check"] for f in doc["findings"]}) == 16


def test_alerts_still_exit_zero_and_text_format_reads_as_words(
    hbsag_bundle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "check", "--bundle", hbsag_bundle, "--as-of", AS_OF.isoformat(), "--format", "text"
    )
    assert code == 0
    assert "[!] ALERT" in out and "hbv-serology" in out and "contraindicated" in out.lower()
    assert "Demo HBsAg-Positive" in out.splitlines()[0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("this is not json", "is not JSON"),
        ({"resourceType": "Observation", "status": "final"}, "no Patient"),
        ({"hello": "world"}, ""),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, "no Patient"),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {"resourceType": "Patient", "id": "a"}},
                    {"resource": {"resourceType": "Patient", "id": "b"}},
                ],
            },
            "--patient",
        ),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, reason: str
) -> None:
    path = (
        str(tmp_path / "missing.json") if content is None else write(tmp_path, "in.json", content)
    )
    code, out, err = run(capsys, "check", "--bundle", path)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smartapp: ")
    assert reason in lines[0]


def test_several_patients_choose_one_with_patient(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = demo_collection_bundle(AS_OF, "pml")
    other = demo_collection_bundle(AS_OF, "all-ok-maintenance")
    bundle["entry"] += other["entry"]
    path = write(tmp_path, "two.json", bundle)
    code, out, _ = run(
        capsys, "check", "--bundle", path, "--patient", "pml", "--as-of", AS_OF.isoformat()
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["patient"]["id"] == "pml"
    assert doc["findings"][0]["check"] == "pml"


def test_bad_mappings_file_names_the_setting(
    hbsag_bundle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mappings = write(tmp_path, "site.json", {"settings": {"no_such_setting": 3}})
    code, _, err = run(capsys, "check", "--bundle", hbsag_bundle, "--mappings", mappings)
    assert code == 2
    assert "SMARTAPP_MAPPINGS" in err and "no_such_setting" in err


def test_site_settings_change_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = write(tmp_path, "ok.json", demo_collection_bundle(AS_OF, "all-ok-maintenance"))
    _, out, _ = run(capsys, "check", "--bundle", bundle, "--as-of", AS_OF.isoformat())
    default_due = {f["check"]: f["due"] for f in json.loads(out)["findings"]}["ig-monitoring"]
    mappings = write(tmp_path, "site.json", {"settings": {"ig_interval_days": 90}})
    _, out, _ = run(
        capsys, "check", "--bundle", bundle, "--as-of", AS_OF.isoformat(), "--mappings", mappings
    )
    shorter = {f["check"]: f for f in json.loads(out)["findings"]}["ig-monitoring"]
    assert shorter["due"] < default_due


def test_demo_patient_runs_without_any_server(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "--demo", "pml", "--format", "json")
    assert code == 0
    assert json.loads(out)["findings"][0]["check"] == "pml"


def test_home_therapy_and_discontinued_in_json_and_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = write(
        tmp_path, "pens.json", demo_collection_bundle(AS_OF, "home-starter-pens-in-hand")
    )
    code, out, _ = run(capsys, "check", "--bundle", bundle, "--as-of", AS_OF.isoformat())
    schedule = json.loads(out)["schedule"]
    assert code == 0
    assert (schedule["doses"], schedule["pens_in_hand"]) == (2, 1)
    assert schedule["next_due_from"] == "pen in hand"
    assert schedule["next_due"] == "2026-03-07" and schedule["supply_until"] == "2026-03-21"
    code, out, _ = run(
        capsys, "check", "--bundle", bundle, "--as-of", AS_OF.isoformat(), "--format", "text"
    )
    assert "next due date by pen in hand: 1 pen(s) in hand" in out
    stopped = write(
        tmp_path, "stopped.json", demo_collection_bundle(AS_OF, "stopped-live-vaccine-too-soon")
    )
    code, out, _ = run(capsys, "check", "--bundle", stopped, "--as-of", AS_OF.isoformat())
    doc = json.loads(out)
    assert doc["phase"] == "discontinued" and doc["schedule"]["next_due"] is None
    statement = write(
        tmp_path, "statement.json", demo_collection_bundle(AS_OF, "home-statement-live-vaccine")
    )
    code, out, _ = run(
        capsys, "check", "--bundle", statement, "--as-of", AS_OF.isoformat(), "--format", "text"
    )
    # A statement alone dates no dose: the text says so, never "None".
    assert code == 0 and "last dose none recorded, next due -" in out and "None" not in out
    unreadable = write(
        tmp_path,
        "unreadable.json",
        demo_collection_bundle(AS_OF, "home-dispense-unreadable-quantity"),
    )
    code, out, _ = run(
        capsys, "check", "--bundle", unreadable, "--as-of", AS_OF.isoformat(), "--format", "text"
    )
    assert "(at the earliest: the dose record is incomplete)" in out


def test_installed_command_has_no_traceback_on_bad_input(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", "{")
    done = run_cli("check", "--bundle", path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.startswith("smartapp: ")


# --- v2: data.problems, pending results, bounds (SPEC §2, §4; issue 10) -------------------


def test_a_future_dated_result_is_listed_in_data_problems_and_never_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = write(tmp_path, "future.json", demo_collection_bundle(AS_OF, "future-dated-result"))
    code, out, _ = run(capsys, "check", "--bundle", bundle, "--as-of", AS_OF.isoformat())
    assert code == 0
    doc = json.loads(out)
    problems = doc["data"]["problems"]
    assert any(
        p.startswith("Observation/future-dated-result-obs-13: dated ")
        and "after the as-of date 2026-03-01" in p
        for p in problems
    )
    serology = next(f for f in doc["findings"] if f["check"] == "hbv-serology")
    assert serology["status"] == "unknown"


def test_pending_results_and_bounds_are_shown_in_the_text_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pending = write(tmp_path, "pending.json", demo_collection_bundle(AS_OF, "hbsag-pending"))
    code, out, _ = run(
        capsys, "check", "--bundle", pending, "--as-of", AS_OF.isoformat(), "--format", "text"
    )
    assert code == 0
    assert "[?] UNKNOWN" in out and "HBsAg result pending since" in out
    assert "pending, not used" in out
    bound = write(tmp_path, "bound.json", demo_collection_bundle(AS_OF, "igm-below-bound"))
    code, out, _ = run(
        capsys, "check", "--bundle", bound, "--as-of", AS_OF.isoformat(), "--format", "text"
    )
    assert "<50 mg/dL" in out and "known only as a bound" in out
