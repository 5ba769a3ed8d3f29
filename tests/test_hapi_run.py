"""hapi/run's PostgreSQL option hands Spring Boot the right settings, and refuses bad URLs.

The server itself is not started here: a stand-in `java` first on PATH records what the script
would run it with. The PostgreSQL-backed server is exercised by benchmarks/worklist.py
(benchmarks/results/worklist.md), not by CI, which has no PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

# Needs the built HAPI jar (hapi/run --build-only), like the tests that start the server.
pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "hapi" / "run"
JAR = REPO / "hapi" / "target" / "hapi-server.jar"

# Prints its arguments and the Spring/JDBC environment as JSON instead of starting a JVM.
FAKE_JAVA = """#!/usr/bin/env python3
import json, os, sys
env = {k: v for k, v in os.environ.items() if k.startswith("SPRING_")}
print(json.dumps({"argv": sys.argv[1:], "env": env}))
"""


def run_with_fake_java(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    if not JAR.exists():
        pytest.fail("hapi/target/hapi-server.jar is missing: run `hapi/run --build-only` first")
    fake = tmp_path / "java"
    fake.write_text(FAKE_JAVA)
    fake.chmod(0o755)
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SPRING_", "HAPI_DB_"))
    }
    environment.update(env)
    environment["PATH"] = f"{tmp_path}{os.pathsep}{environment['PATH']}"
    return subprocess.run(
        ["bash", str(RUN), *args], capture_output=True, text=True, env=environment, check=False
    )


def test_postgres_url_and_credentials_reach_spring_through_the_environment(tmp_path: Path) -> None:
    done = run_with_fake_java(
        tmp_path,
        "--port",
        "18099",
        "--postgres",
        "jdbc:postgresql://db.example:5432/fhir",
        HAPI_DB_USER="fhiruser",
        HAPI_DB_PASSWORD="s3cret-pw",
    )
    assert done.returncode == 0, done.stderr
    launched = json.loads(done.stdout)
    assert launched["env"] == {
        "SPRING_DATASOURCE_URL": "jdbc:postgresql://db.example:5432/fhir",
        "SPRING_DATASOURCE_USERNAME": "fhiruser",
        "SPRING_DATASOURCE_PASSWORD": "s3cret-pw",
        "SPRING_DATASOURCE_DRIVER_CLASS_NAME": "org.postgresql.Driver",
        "SPRING_JPA_PROPERTIES_HIBERNATE_DIALECT": (
            "ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect"
        ),
    }
    # The password is never on the command line, where `ps` would show it.
    assert not any("s3cret-pw" in arg for arg in launched["argv"])
    assert "--server.port=18099" in launched["argv"]


def test_without_postgres_the_server_keeps_its_in_memory_database(tmp_path: Path) -> None:
    done = run_with_fake_java(tmp_path, "--port", "18098")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["env"] == {}


@pytest.mark.parametrize(
    "url", ["postgres://localhost/hapi", "jdbc:h2:mem:x", "localhost:5432/hapi"]
)
def test_a_url_that_is_not_postgresql_jdbc_is_refused_before_any_build(
    tmp_path: Path, url: str
) -> None:
    done = run_with_fake_java(tmp_path, "--postgres", url)
    assert done.returncode == 2
    assert "--postgres needs a JDBC URL like jdbc:postgresql://" in done.stderr
    assert done.stdout == ""  # nothing was launched
