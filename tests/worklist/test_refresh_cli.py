"""`smartapp worklist --refresh / --stored`: options that cannot work are one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from smartapp.cli.main import main
from tests.support.fake_fhir import BASE, FakeFhir
from tests.worklist.cohort import generated


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTAPP_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.delenv("SMARTAPP_MAPPINGS", raising=False)


@pytest.fixture
def server_down(rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch answered 503 (retries without waiting): no population search works."""
    rsps.add(responses.POST, BASE, status=503)
    monkeypatch.setattr("time.sleep", lambda _s: None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--full"], "--full and --every need --refresh"),
        (["--every", "60"], "--full and --every need --refresh"),
        (["--refresh", "--every", "0"], "--every must be a positive number of seconds"),
        (["--stored"], "no worklist is stored for this server yet (use --refresh)"),
    ],
)
def test_unusable_refresh_options_exit_2_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["worklist", "--fhir-base", "http://fhir.example.org/r4", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"smartapp: {message}\n"


def test_refresh_and_stored_cannot_be_combined(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["worklist", "--fhir-base", "http://x.example/fhir", "--refresh", "--stored"])
    assert done.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.usefixtures("server_down")
def test_a_refresh_that_reads_no_population_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["worklist", "--fhir-base", BASE, "--refresh", "--workers", "1"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("smartapp: None of the searches for patients on ofatumumab worked")
    assert "HTTP 503" in err
    assert err.count("\n") == 1
    # Nothing usable was stored: showing it says so instead of an empty list.
    assert main(["worklist", "--fhir-base", BASE, "--stored"]) == 2
    assert "no worklist is stored" in capsys.readouterr().err


def test_a_refresh_with_a_failed_population_search_exits_3_and_so_does_showing_it(
    rsps: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(url: str) -> int | None:
        return 500 if url.startswith("Medication?") else None

    FakeFhir(generated(2), fail=fail).install(rsps)
    code = main(["worklist", "--fhir-base", BASE, "--refresh", "--workers", "1"])
    out, err = capsys.readouterr()
    assert code == 3
    # The patient whose Kesimpta is coded on the administration itself is still found.
    assert "worklist refreshed (full): 1 patients" in out
    assert "may be missing patients" in err
    assert main(["worklist", "--fhir-base", BASE, "--stored", "--format", "json"]) == 3
    shown = capsys.readouterr()
    assert [doc["patient"]["id"] for doc in json.loads(shown.out)] == ["gen-3-000000"]
    assert "may be missing patients" in shown.err


def test_a_complete_refresh_and_its_showing_exit_0(
    rsps: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeFhir(generated(2)).install(rsps)
    assert main(["worklist", "--fhir-base", BASE, "--refresh", "--workers", "1"]) == 0
    assert main(["worklist", "--fhir-base", BASE, "--stored", "--format", "text"]) == 0
    assert "2 of 2 patients shown" in capsys.readouterr().out


@pytest.mark.usefixtures("server_down")
def test_the_refresh_loop_reports_a_refresh_that_read_no_population_and_goes_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        if seconds == 3600:  # the loop's wait: stop after the second round
            waits.append(seconds)
            if len(waits) == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", sleep)
    argv = ["worklist", "--fhir-base", BASE, "--refresh", "--every", "3600", "--workers", "1"]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.count("smartapp: refresh failed: None of the searches for patients") == 2


def test_showing_a_stored_list_after_a_failed_refresh_says_so(
    rsps: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    FakeFhir(generated(2)).install(rsps)
    assert main(["worklist", "--fhir-base", BASE, "--refresh", "--workers", "1"]) == 0
    rsps.reset()
    rsps.add(responses.POST, BASE, status=503)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    assert main(["worklist", "--fhir-base", BASE, "--refresh", "--full", "--workers", "1"]) == 2
    capsys.readouterr()
    assert main(["worklist", "--fhir-base", BASE, "--stored", "--format", "text"]) == 0
    shown = capsys.readouterr()
    assert "2 of 2 patients shown" in shown.out
    assert "smartapp: warning: the last refresh failed at " in shown.err
    assert "None of the searches for patients on ofatumumab worked" in shown.err
    assert "this is the list from the refresh before it" in shown.err
