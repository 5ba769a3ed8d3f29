"""`smartapp worklist --refresh / --stored`: options that cannot work are one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartapp.cli import main


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTAPP_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.delenv("SMARTAPP_MAPPINGS", raising=False)


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
