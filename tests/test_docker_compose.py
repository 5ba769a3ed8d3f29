"""docker-compose.yml is valid and wires the app as the README says.

There is no Docker engine on our machines; `docker-compose config` (Debian's compose v1,
installed by scripts/test) validates the file without one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def compose_config(*paths: Path, **env: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose is not installed (scripts/test installs it)")
    files = [arg for path in paths for arg in ("-f", str(path))]
    return subprocess.run(
        [tool, *files, "config"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, **env},
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


def test_the_postgres_override_puts_hapi_on_a_healthy_database() -> None:
    done = compose_config(
        REPO / "docker-compose.yml",
        REPO / "docker-compose.postgres.yml",
        HAPI_DB_PASSWORD="from-the-environment",
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    db, fhir = config["services"]["db"], config["services"]["fhir"]
    assert db["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.startswith("hapi-db:/var/lib/postgresql/data") for v in db["volumes"])
    env = fhir["environment"]
    assert env["spring.datasource.url"] == "jdbc:postgresql://db:5432/hapi"
    assert env["spring.datasource.driverClassName"] == "org.postgresql.Driver"
    assert env["spring.jpa.properties.hibernate.dialect"].endswith("HapiFhirPostgresDialect")
    # One password, from the environment, for both sides.
    assert env["spring.datasource.password"] == "from-the-environment"
    assert db["environment"]["POSTGRES_PASSWORD"] == "from-the-environment"
    assert fhir["depends_on"]["db"]["condition"] == "service_healthy"
    # The base file's settings are kept, and the app still waits for a healthy FHIR server.
    assert env["hapi.fhir.reuse_cached_search_results_millis"] == "-1"
    assert config["services"]["app"]["depends_on"]["fhir"]["condition"] == "service_healthy"


def test_the_app_has_its_database_migrated_first_and_a_refresh_job() -> None:
    done = compose_config(
        REPO / "docker-compose.yml",
        APP_DB_PASSWORD="app-db-from-env",
        SMARTAPP_TOKEN_KEY="key-from-env",
    )
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]
    db, migrate, job, app = (
        services["app-db"],
        services["migrate"],
        services["worklist-refresh"],
        services["app"],
    )
    assert db["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.startswith("app-db:/var/lib/postgresql/data") for v in db["volumes"])
    url = "postgresql://smartapp:app-db-from-env@app-db:5432/smartapp"
    assert db["environment"]["POSTGRES_PASSWORD"] == "app-db-from-env"
    # The schema is migrated once, before the app and the job start.
    assert migrate["command"] == ["smartapp", "db", "upgrade"]
    assert migrate["environment"]["SMARTAPP_DATABASE_URL"] == url
    assert migrate["depends_on"]["app-db"]["condition"] == "service_healthy"
    for service in (app, job):
        assert service["environment"]["SMARTAPP_DATABASE_URL"] == url
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # The app keeps its sessions there (several workers) with the token key from the env.
    assert app["environment"]["SMARTAPP_TOKEN_KEY"] == "key-from-env"
    assert int(app["environment"]["SMARTAPP_WORKERS"]) > 1
    # The job refreshes the local server's stored worklist on a schedule.
    command = job["command"]
    assert command[:2] == ["smartapp", "worklist"] and "--refresh" in command
    assert command[command.index("--every") + 1] == "900"
    assert command[command.index("--fhir-base") + 1] == "http://fhir:8080/fhir"
    assert job["restart"] == "unless-stopped"
    assert job["depends_on"]["fhir"]["condition"] == "service_healthy"
