"""`smartapp worklist --export` against a fake of the SMART reference Bulk Data server.

The fake (tests/support/bulk_server.py) runs on a real socket and behaves as the reference
server does: it lacks MedicationAdministration, serves files outside the FHIR base path,
answers polls with transient errors and 429, lets files expire, and guards everything
with SMART Backend Services whose discovery lists no PKCE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from fhir_mappings.search.population import EXPORT_TYPES
from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient, FhirError
from smartapp.launch.keys import load_app_key
from smartapp.rules.settings import RuleSettings
from smartapp.worklist import WorklistOptions
from tests.support.bulk_server import (
    FILES,
    REFERENCE_TYPES,
    SIM,
    BulkBehaviour,
    bulk_server,
    storage_for,
)
from tests.support.servers import REPO
from tests.worklist.cohort import AS_OF, build, build_at, generated

PATIENTS = 4


@pytest.fixture(scope="module")
def app_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("keys") / "app.pem"
    path.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
    return path, {"keys": [load_app_key(str(path)).public_jwk()]}


def run_cli(base: str, key: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SMARTAPP_ISSUERS": base,
        "SMARTAPP_PRIVATE_KEY": str(key),
        "SMARTAPP_BACKEND_CLIENT_ID": "worklist-backend",
    }
    for name in ("SMARTAPP_FHIR_BASE", "SMARTAPP_TENANTS", "SMARTAPP_BACKEND_ISS"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "smartapp.cli", "worklist", "--fhir-base", base, *extra],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_cli_export_completes_against_the_reference_server(app_key) -> None:
    key, jwks = app_key
    behaviour = BulkBehaviour(
        transient_polls=1,
        busy_polls=1,
        progress_polls=1,
        expire_first_file=True,
        error_file=True,
        client_jwks=jwks,
    )
    with bulk_server(generated(PATIENTS), behaviour) as server:
        done = run_cli(server.base, key, "--export", "--backend", "--as-of", AS_OF.isoformat())
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    # gen-3-000001's only order is stopped, and without administrations nothing else shows
    # Kesimpta: not on the list. The others have active orders.
    assert sorted(row["patient"]["id"] for row in rows) == [
        "gen-3-000000",
        "gen-3-000002",
        "gen-3-000003",
    ]
    # No MedicationAdministration here: the dose-dependent checks cannot decide.
    for row in rows:
        assert "Kesimpta order" in row["worklist"]["membership"]
        schedule = next(f for f in row["findings"] if f["check"] == "dose-schedule")
        assert schedule["status"] == "unknown", schedule
    err = done.stderr
    assert "does not offer MedicationAdministration" in err
    assert "smartapp: export 50% complete; waited" in err
    assert "had expired (HTTP 410); a new export was started" in err
    assert "_elements ignored" in err  # the error file's warning, as a note

    token_paths = [path for _, path, sent in server.requests if sent]
    asked_types = [p for p in server.paths() if "$export?" in p]
    # The token request named only types the server has (scopes narrowed by its types).
    assert all("MedicationAdministration" not in p for p in asked_types)
    assert len(asked_types) == 2  # the first export and the one after the expiry
    # Files outside the base path were read, with the token the manifest asked for.
    file_reads = [p for p in token_paths if p.startswith(f"/{FILES}/fhir/bulkfiles/")]
    assert file_reads and all(p.startswith(f"/{FILES}/") for p in file_reads)
    assert not any(p.startswith(f"/{FILES}/") for _, p, sent in server.requests if not sent)
    assert len(server.paths("DELETE")) == 2  # both jobs cleaned up
    assert all(p.startswith(f"/{SIM}/fhir/job/") for p in server.paths("DELETE"))


def test_without_types_in_its_capability_statement_the_refused_kick_off_is_resent(
    mappings: Mappings, settings: RuleSettings
) -> None:
    behaviour = BulkBehaviour(metadata_lists_types=False, progress_polls=0)
    with bulk_server(generated(3), behaviour) as server:
        options = WorklistOptions(export=True, poll_interval_s=0)
        worklist = build_at(server.base, mappings, settings, options)
    kick_offs = [p for p in server.paths() if "$export?" in p]
    # Refused once per type the server lacks (it names one per refusal, as the reference
    # server does), then accepted.
    lacking = [t for t in EXPORT_TYPES if t not in REFERENCE_TYPES]
    assert len(kick_offs) == len(lacking) + 1
    assert "MedicationAdministration" in kick_offs[0] and "Task" not in kick_offs[-1]
    assert len(worklist.rows) == 2
    assert any("does not offer" in p for p in worklist.problems)


def test_signed_files_on_a_storage_origin_are_read_without_the_token(
    mappings: Mappings, settings: RuleSettings
) -> None:
    behaviour = BulkBehaviour(progress_polls=0, requires_token=False)
    with bulk_server(generated(3), behaviour) as server, storage_for(server) as storage:
        with FhirClient(server.base, token="app-token", sleep=lambda _s: None) as client:
            options = WorklistOptions(export=True, poll_interval_s=0, file_origins=(storage,))
            worklist = build(client, mappings, settings, options)
            file_reads = [(p, sent) for _, p, sent in server.requests if "/bulkfiles/" in p]
            assert file_reads and not any(sent for _, sent in file_reads)
            assert len(worklist.rows) == 2

            refused = WorklistOptions(export=True, poll_interval_s=0)
            with pytest.raises(FhirError, match="neither the FHIR server nor an origin allowed"):
                build(client, mappings, settings, refused)
