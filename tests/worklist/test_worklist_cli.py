"""`smartapp worklist` (SPEC §4 "Command line") and the worklist settings."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest
import responses

from smartapp.cli.common import CliError
from smartapp.cli.worklist import add_parser, cmd_worklist
from smartapp.config import ConfigError, load_config
from smartapp.worklist import read_csv
from smartapp.worklist.pacing import ExportPacer, poll_sleep
from tests.support.fake_fhir import BASE, FakeFhir
from tests.worklist.cohort import generated, other_drug_patient, planned_patient


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="smartapp")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    return parser.parse_args(["worklist", *argv])


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SMARTAPP_FHIR_BASE",
        "SMARTAPP_MAPPINGS",
        "SMARTAPP_WORKLIST_GROUP",
        "SMARTAPP_WORKLIST_GROUP_ONLY",
        "SMARTAPP_BACKEND_ISS",
        "SMARTAPP_PRIVATE_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fhir(rsps: responses.RequestsMock) -> FakeFhir:
    return FakeFhir(generated(3) + planned_patient() + other_drug_patient()).install(rsps)


def test_json_is_a_list_of_check_summaries(fhir, capsys) -> None:
    args = parse("--fhir-base", BASE, "--as-of", "2026-11-24", "--workers", "1")
    assert args.handler(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert {doc["patient"]["id"] for doc in out} == {
        "gen-3-000000",
        "gen-3-000001",
        "gen-3-000002",
        "planned-start",
    }
    doc = out[0]
    assert set(doc) >= {"patient", "as_of", "phase", "schedule", "findings", "data", "worklist"}
    assert doc["as_of"] == "2026-11-24"
    assert set(doc["worklist"]) >= {"status", "highest_severity", "open_tasks", "overdue"}


def test_csv_and_filters(fhir, capsys) -> None:
    args = parse("--fhir-base", BASE, "--format", "csv", "--filter", "phase=pre-treatment")
    assert cmd_worklist(args) == 0
    rows = read_csv(capsys.readouterr().out)
    assert [row["patient_id"] for row in rows] == ["planned-start"]


def test_text_table(fhir, capsys) -> None:
    assert (
        cmd_worklist(parse("--fhir-base", BASE, "--format", "text", "--filter", "sort=name")) == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("STATUS")
    assert "4 of 4 patients shown" in out


def test_export_option_reads_with_bulk_data(fhir, capsys, monkeypatch) -> None:
    monkeypatch.setattr(ExportPacer, "__call__", lambda self, seconds: None)
    assert cmd_worklist(parse("--fhir-base", BASE, "--export")) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4
    assert any(url.startswith("$export?_type=") for _, url in fhir.requests)


def test_unusable_filters_and_options_are_one_line_errors() -> None:
    with pytest.raises(CliError, match="Unknown status 'late'"):
        cmd_worklist(parse("--fhir-base", BASE, "--filter", "status=late"))
    with pytest.raises(CliError, match="--group-only needs"):
        cmd_worklist(parse("--fhir-base", BASE, "--group-only"))
    with pytest.raises(CliError, match="--group"):
        cmd_worklist(parse("--fhir-base", BASE, "--group", "Group/a b"))
    with pytest.raises(CliError, match="no FHIR server"):
        cmd_worklist(parse())
    with pytest.raises(CliError, match="SMARTAPP_PRIVATE_KEY"):
        cmd_worklist(parse("--fhir-base", BASE, "--backend"))


def test_a_server_that_is_down_is_one_line_and_exit_2_never_an_empty_list(
    rsps, capsys, monkeypatch
) -> None:
    rsps.add(responses.POST, BASE, status=503)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    args = parse("--fhir-base", BASE, "--workers", "1")
    with pytest.raises(CliError, match=r"population could not be read: .*HTTP 503"):
        cmd_worklist(args)
    assert capsys.readouterr().out == ""


def test_a_partly_failed_population_is_printed_and_exits_3(rsps, capsys) -> None:
    def fail(url: str) -> int | None:
        return 500 if url.startswith("Medication?") else None

    FakeFhir(generated(2), fail=fail).install(rsps)
    args = parse("--fhir-base", BASE, "--workers", "1")
    assert cmd_worklist(args) == 3
    captured = capsys.readouterr()
    # The patient whose Kesimpta is coded on the administration itself is still found.
    assert [doc["patient"]["id"] for doc in json.loads(captured.out)] == ["gen-3-000000"]
    assert "may be missing patients" in captured.err


def test_export_progress_goes_to_stderr(rsps, capsys, monkeypatch) -> None:
    monkeypatch.setattr(ExportPacer, "__call__", lambda self, seconds: None)
    FakeFhir(generated(2), export_polls=2).install(rsps)
    assert cmd_worklist(parse("--fhir-base", BASE, "--export")) == 0
    err = capsys.readouterr().err
    assert err.count("smartapp: export in progress; waited") == 2


# -- settings -----------------------------------------------------------------------------------


def test_worklist_settings(tmp_path: Path) -> None:
    config = load_config(
        {"SMARTAPP_WORKLIST_GROUP": "Group/clinic-7", "SMARTAPP_WORKLIST_GROUP_ONLY": "1"}
    )
    assert config.worklist_group == "clinic-7" and config.worklist_group_only
    with pytest.raises(ConfigError, match="SMARTAPP_WORKLIST_GROUP:"):
        load_config({"SMARTAPP_WORKLIST_GROUP": "Group/no way"})
    with pytest.raises(ConfigError, match="SMARTAPP_WORKLIST_GROUP_ONLY"):
        load_config({"SMARTAPP_WORKLIST_GROUP_ONLY": "1"})


def test_backend_iss_must_be_allowlisted_and_have_a_key(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("placeholder")
    base = "https://ehr.example.org/fhir"
    with pytest.raises(ConfigError, match=r"SMARTAPP_BACKEND_ISS: .* not in SMARTAPP_ISSUERS"):
        load_config({"SMARTAPP_BACKEND_ISS": base, "SMARTAPP_PRIVATE_KEY": str(key)})
    with pytest.raises(ConfigError, match="SMARTAPP_PRIVATE_KEY"):
        load_config({"SMARTAPP_BACKEND_ISS": base, "SMARTAPP_ISSUERS": base})
    config = load_config(
        {
            "SMARTAPP_BACKEND_ISS": base + "/",
            "SMARTAPP_ISSUERS": base,
            "SMARTAPP_PRIVATE_KEY": str(key),
        }
    )
    assert config.backend_iss == base


def test_export_pacer_waits_a_quarter_of_the_time_spent_up_to_the_servers_hint() -> None:
    slept: list[float] = []
    clock = iter([100.0, 104.0, 200.0, 900.0, 1000.0, 5000.0])
    pacer = ExportPacer(poll_s=2.0, deadline_s=1800, sleep=slept.append, clock=lambda: next(clock))
    pacer(0.5)  # retry backoff: as asked
    for _ in range(4):
        pacer(120)
    pacer(45)
    assert slept == [0.5, 2.0, 2.0, 25.0, 120.0, 45.0]
    with pytest.raises(Exception, match="not finished after 1800 s"):
        pacer(120)


def test_the_export_wait_is_a_setting() -> None:
    assert load_config({}).export_max_wait_s == 1800
    assert load_config({"SMARTAPP_EXPORT_MAX_WAIT": "7200"}).export_max_wait_s == 7200
    with pytest.raises(ConfigError, match="SMARTAPP_EXPORT_MAX_WAIT"):
        load_config({"SMARTAPP_EXPORT_MAX_WAIT": "5"})
    paced = poll_sleep(True, 7200)
    assert isinstance(paced, ExportPacer) and paced.deadline_s == 7200
    assert poll_sleep(False, 7200) is time.sleep
