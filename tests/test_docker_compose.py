"""docker-compose.yml is valid and wires the app as the README says.

There is no Docker engine on our machines; `docker-compose config` (Debian's compose v1,
installed by scripts/test) validates the file without one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose is not installed (scripts/test installs it)")
    return subprocess.run(
        [tool, "-f", str(path), "config"], capture_output=True, text=True, check=False, cwd=REPO
    )


def test_compose_file_is_valid_and_runs_hapi_and_the_app() -> None:
    done = compose_config(REPO / "docker-compose.yml")
    assert done.returncode == 0, done.stderr
    config = done.stdout
    assert "image: hapiproject/hapi:v" in config  # pinned, never :latest
    assert "SMARTAPP_OPEN_SERVERS: http://fhir:8080/fhir" in config
    assert "condition: service_healthy" in config
    assert "healthcheck" in config


def test_a_broken_compose_file_is_refused(tmp_path: Path) -> None:
    text = (REPO / "docker-compose.yml").read_text().replace("    ports:", "    portz:", 1)
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text)
    done = compose_config(broken)
    assert done.returncode != 0
    assert "portz" in done.stderr


def test_image_serves_with_the_validating_command_and_without_access_logs() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'CMD ["smartapp", "serve"' in dockerfile
    assert "access-logfile" not in dockerfile
    assert "USER smartapp" in dockerfile
    assert "launch.html" in dockerfile
