"""Stored worklists on the real HAPI server, through the command line, on PostgreSQL.

`smartapp worklist --refresh` as the scheduled job runs it: a full refresh, then an
incremental one after a new result and a deletion reads only those two patients and stores
what a full live read shows; two refreshes at once (slowed down by a proxy) do not both
run. The population is a Group of this module's own demo patients (group-only mode), so
other tests' patients on the shared server do not matter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import update

from smartapp.fhir import FhirClient
from smartapp.store import Database
from smartapp.store.migrate import upgrade
from smartapp.store.schema import worklist_snapshots
from smartapp.store.snapshots import SnapshotStore, snapshot_key
from tests.support.cli import run_cli
from tests.support.fault_proxy import FaultProxy
from tests.support.postgres import create_database
from tests.support.seeded import seed_demo
from tests.worklist.cohort import group

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SLUGS = ("ig-monitoring-overdue", "dose-overdue", "all-ok-maintenance", "hbsag-positive")


def smartapp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"SMARTAPP_MAPPINGS": "", **env})


@pytest.fixture(scope="module")
def clinic(hapi_base: str) -> dict[str, Any]:
    with FhirClient(hapi_base, timeout=120) as client:
        ids = seed_demo(client, "snap", slugs=SLUGS).patient_ids
        gid = f"snap-{uuid.uuid4().hex[:12]}"
        client.update(f"Group/{gid}", group(gid, [ids[slug] for slug in SLUGS]))
    return {"ids": ids, "group": gid, "seeded_at": time.time()}


@pytest.fixture
def database_env(postgres_admin_url: str) -> dict[str, str]:
    url = create_database(postgres_admin_url, f"snap_{uuid.uuid4().hex[:8]}")
    db = Database(url)
    upgrade(db)
    db.close()
    return {"SMARTAPP_DATABASE_URL": url}


def worklist_args(base: str, clinic: dict[str, Any], *more: str) -> list[str]:
    return ["worklist", "--fhir-base", base, "--group", clinic["group"], "--group-only", *more]


def test_incremental_refresh_reads_what_changed_and_stores_what_a_full_read_shows(
    hapi_base: str, clinic: dict[str, Any], database_env: dict[str, str]
) -> None:
    full = smartapp(*worklist_args(hapi_base, clinic, "--refresh"), env=database_env)
    assert full.returncode == 0, full.stderr
    assert full.stdout.startswith("worklist refreshed (full): 4 patients")
    # The patients were seeded moments ago, within the refresh's safety margin for late
    # commits; pretend the full refresh ran long after the seeding (as in real life).
    # The moment must be after every seeded record (at whole seconds, as the searches ask):
    # on a fast machine the full refresh can end within a second of the seeding.
    time.sleep(max(0.0, clinic["seeded_at"] + 2 - time.time()))
    db = Database(database_env["SMARTAPP_DATABASE_URL"])
    with db.write() as conn:
        conn.execute(update(worklist_snapshots).values(since=time.time() - 1))
    db.close()

    # A new IgG result for one patient; another patient's dose record is deleted.
    ids = clinic["ids"]
    with FhirClient(hapi_base, timeout=60) as client:
        client.create(
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "2465-3"}]},
                "subject": {"reference": f"Patient/{ids['ig-monitoring-overdue']}"},
                "effectiveDateTime": date.today().isoformat(),
                "valueQuantity": {
                    "value": 950,
                    "unit": "mg/dL",
                    "system": "http://unitsofmeasure.org",
                    "code": "mg/dL",
                },
            }
        )
        doses = client.search_all(
            f"MedicationAdministration?patient=Patient/{ids['dose-overdue']}&_count=200"
        ).resources
    newest = max(doses, key=lambda r: r.get("effectiveDateTime", ""))
    gone = requests.delete(f"{hapi_base}/MedicationAdministration/{newest['id']}", timeout=60)
    assert gone.status_code in (200, 204), gone.text

    incremental = smartapp(*worklist_args(hapi_base, clinic, "--refresh"), env=database_env)
    assert incremental.returncode == 0, incremental.stderr
    db = Database(database_env["SMARTAPP_DATABASE_URL"])
    latest = SnapshotStore(db).latest(snapshot_key(hapi_base, "open"))
    db.close()
    assert latest is not None
    assert incremental.stdout.startswith("worklist refreshed (incremental): 4 patients, 2 read"), (
        latest.stats
    )

    stored = smartapp(*worklist_args(hapi_base, clinic, "--stored"), env=database_env)
    live = smartapp(*worklist_args(hapi_base, clinic), env={})
    assert stored.returncode == 0 and live.returncode == 0, stored.stderr + live.stderr
    assert json.loads(stored.stdout) == json.loads(live.stdout)


def test_two_refreshes_at_once_do_not_both_run(
    hapi_base: str, clinic: dict[str, Any], database_env: dict[str, str]
) -> None:
    db = Database(database_env["SMARTAPP_DATABASE_URL"])
    snapshots = SnapshotStore(db)
    with FaultProxy(hapi_base) as proxy:
        # Slow enough that the second process starts while the first still reads.
        proxy.delay_s = 2.0
        args = worklist_args(proxy.base, clinic, "--refresh")
        first = subprocess.Popen(
            [sys.executable, "-m", "smartapp.cli", *args],
            cwd=REPO,
            env={**os.environ, "SMARTAPP_MAPPINGS": "", **database_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        key = snapshot_key(proxy.base, "open")
        deadline = time.monotonic() + 60
        while snapshots.running(key, stale_after_s=60) is None:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first refresh never started"
            time.sleep(0.1)
        second = smartapp(*args, env=database_env)
        out, err = first.communicate(timeout=300)
    assert second.returncode == 4
    assert "a refresh of this worklist is already running" in second.stderr
    assert first.returncode == 0, err
    assert out.startswith("worklist refreshed (full): 4 patients")
    latest = snapshots.latest(key)
    db.close()
    assert latest is not None and latest.stats["patients"] == 4
