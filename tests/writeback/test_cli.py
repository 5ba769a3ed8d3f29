"""`smartapp writeback` (smartapp.cli.writeback): dry run, write, failures."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import responses

from domain.findings import Status
from fhir_mappings.write.writeback import WritebackBlocked, WritePlan, build_writeback
from smartapp import writeback
from smartapp.cli.common import CliError
from smartapp.cli.writeback import add_parser, cmd_writeback
from smartapp.writeback import PatientPlan
from tests.fhir.fhir_fakes import outcome
from tests.writeback.factories import context, finding, record, summary, tx_response

BASE = "https://ehr.example.org/fhir"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="smartapp")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["writeback", "--fhir-base", BASE, "--patient", "pat-1", *argv])


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the read+evaluate+build step; records how it was called."""
    calls: list[dict[str, Any]] = []

    def fake(client: Any, patient_id: str, ctx: Any, **kw: Any) -> PatientPlan:
        calls.append({"patient": patient_id, "ctx": ctx, **kw})
        plan = build_writeback(
            summary(
                finding("cbc-baseline", Status.DUE, action_code="order-cbc", due=date(2025, 6, 20))
            ),
            record(),
            context(),
        )
        return PatientPlan(record(), summary(), plan)

    monkeypatch.setattr(writeback, "plan_for_patient", fake)
    monkeypatch.delenv("SMARTAPP_MAPPINGS", raising=False)
    return calls


def test_dry_run_prints_preview_and_bundle_and_writes_nothing(
    planned: list[dict[str, Any]], http: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cmd_writeback(parse("--dry-run", "--as-of", "2025-06-15")) == 0
    out = capsys.readouterr().out
    assert "Write-back for patient pat-1 as of 2025-06-15 (dry run: nothing written)" in out
    assert "create   Task       Order a complete blood count" in out
    assert '"resourceType": "Bundle"' in out
    assert len(http.calls) == 0
    assert planned[0]["as_of"] == date(2025, 6, 15)
    assert planned[0]["ctx"].fhir_base == BASE


def test_dry_run_json(
    planned: list[dict[str, Any]], http: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cmd_writeback(parse("--dry-run", "--format", "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["dry_run"] is True
    assert doc["bundle"]["type"] == "transaction"
    assert [i["action"] for i in doc["preview"]] == ["update", "create", "create"]
    assert len(http.calls) == 0


def test_write_reports_what_was_written(
    planned: list[dict[str, Any]], http: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    http.post(
        BASE,
        json=tx_response(
            ("201 Created", "CarePlan/a/_history/1"),
            ("201 Created", "Task/b/_history/1"),
            ("201 Created", "Provenance/c/_history/1"),
        ),
    )
    assert cmd_writeback(parse("--requester", "Practitioner/7", "--owner", "Organization/1")) == 0
    out = capsys.readouterr().out
    assert "Saved: monitoring plan created, 1 task(s) created." in out
    assert "Task/b" in out
    ctx = planned[0]["ctx"]
    assert ctx.author_reference == "Practitioner/7"
    assert ctx.owner_reference == "Organization/1"


def test_write_json_has_the_result(
    planned: list[dict[str, Any]], http: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    http.post(BASE, json=tx_response())
    assert cmd_writeback(parse("--format", "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["result"]["ok"] is True
    assert "bundle" not in doc


def test_refused_write_exits_1_with_the_reason(
    planned: list[dict[str, Any]], http: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    http.post(
        BASE,
        status=400,
        json=outcome("bad Task", code="invalid"),
    )
    assert cmd_writeback(parse()) == 1
    err = capsys.readouterr().err
    assert "Nothing was written" in err
    assert "bad Task" in err


def test_blocked_plan_is_a_cli_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def blocked(*a: Any, **k: Any) -> WritePlan:
        raise WritebackBlocked("the app's existing Tasks could not be read completely")

    monkeypatch.setattr(writeback, "plan_for_patient", blocked)
    with pytest.raises(CliError, match="could not be read"):
        cmd_writeback(parse())


def test_patient_is_required() -> None:
    parser = argparse.ArgumentParser(prog="smartapp")
    add_parser(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):
        parser.parse_args(["writeback", "--fhir-base", BASE])
