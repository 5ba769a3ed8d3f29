"""The CLI against hostile input: bad `--fhir-base` values, deeply nested files and
answers, a server that drips, text that would drive the terminal. Always one line and
exit 2 for unusable input; server trouble is a result (checks unknown), never a traceback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from smartapp.cli.main import main
from smartapp.demo.bundles import demo_collection_bundle
from smartapp.terminal import terminal_safe
from tests.support.hostile_fhir import HostileFhir

AS_OF = date(2026, 3, 1)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def hostile() -> Iterator[HostileFhir]:
    with HostileFhir() as server:
        yield server


@pytest.mark.parametrize(
    "base",
    [
        "file:///etc/passwd",
        "https://user:secret@fhir.example.org/r4",
        "https://fhir.example.org/r4?_format=xml",
        "https://fhir.example.org/r4#frag",
        "gopher://fhir.example.org/",
        "https://",
        "http://[::1",
    ],
)
def test_an_unusable_fhir_base_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], base: str
) -> None:
    for command in (["check", "--patient", "1"], ["worklist"], ["writeback", "--patient", "1"]):
        code, out, err = run(capsys, *command, "--fhir-base", base)
        assert code == 2, (command, base)
        assert err.startswith("smartapp: ") and err.count("\n") == 1, err
        assert "secret" not in err and out == ""


def test_a_deeply_nested_bundle_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for depth in (150, 100_000):
        path = tmp_path / f"deep-{depth}.json"
        path.write_text('{"resourceType": "Bundle", "entry": ' + "[" * depth + "]" * depth + "}")
        code, _, err = run(capsys, "check", "--bundle", str(path))
        assert code == 2
        assert "nested" in err and err.count("\n") == 1


def test_a_deeply_nested_answer_is_one_line_not_a_traceback(
    hostile: HostileFhir, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.mode = "deep"
    code, out, err = run(capsys, "check", "--fhir-base", hostile.base, "--patient", "p1")
    assert code == 2 and out == ""
    assert "nested more than 100 levels" in err and err.count("\n") == 1


def test_a_dripping_server_is_cut_off_at_smartapp_fhir_deadline(
    hostile: HostileFhir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.mode = "drip"
    hostile.drip_interval_s = 0.3
    monkeypatch.setenv("SMARTAPP_FHIR_DEADLINE", "1.5")
    started = time.monotonic()
    code, _, err = run(capsys, "check", "--fhir-base", hostile.base, "--patient", "p1")
    assert time.monotonic() - started < 4
    assert code == 2
    assert "SMARTAPP_FHIR_DEADLINE" in err and err.count("\n") == 1


def test_terminal_control_characters_from_fhir_text_are_not_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = demo_collection_bundle(AS_OF, "hbsag-positive")
    evil = "Eve\x1b]0;pwned\x07\x1b[2J\rMallory\u202eevil\x9b31m"
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["name"] = [{"text": evil}]
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(bundle))
    code, out, _ = run(
        capsys, "check", "--bundle", str(path), "--format", "text", "--as-of", "2026-03-01"
    )
    assert code == 0
    assert "Eve" in out and "Mallory" in out  # the text stays, inert
    for char in ("\x1b", "\x07", "\r", "\u202e", "\x9b"):
        assert char not in out
    assert terminal_safe("a\tb\nc") == "a\tb\nc"
