"""`python -m smartapp.demo.export DIR --anchor DATE` writes collection Bundles."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smartapp.demo import DEMO_SLUGS, DEMO_SYSTEM
from smartapp.demo.export import main


def test_writes_one_collection_bundle_per_situation(tmp_path: Path) -> None:
    assert main([str(tmp_path), "--anchor", "2025-03-01"]) == 0
    files = sorted(p.stem for p in tmp_path.glob("*.json"))
    assert files == sorted(DEMO_SLUGS)
    bundle = json.loads((tmp_path / "pml.json").read_text(encoding="utf-8"))
    assert bundle["type"] == "collection"
    assert bundle["entry"][0]["resource"]["id"] == "pml"


def test_slug_and_run_id_options(tmp_path: Path) -> None:
    main([str(tmp_path), "--anchor", "2025-03-01", "--slug", "escaping", "--run-id", "r1"])
    assert [p.name for p in tmp_path.iterdir()] == ["escaping.json"]
    text = (tmp_path / "escaping.json").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" in text  # written as-is: escaping is the UI's job
    assert f"{DEMO_SYSTEM}/r1" in text


def test_bad_anchor_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--anchor", "March 1st"])
    assert exit_info.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_runs_as_a_module(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smartapp.demo.export", str(tmp_path), "--slug", "pml"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote 1 bundles" in done.stdout
    assert (tmp_path / "pml.json").exists()
