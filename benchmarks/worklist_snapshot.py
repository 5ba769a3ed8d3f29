"""The stored worklist: full versus incremental refresh, and `/worklist` served from a snapshot.

    python benchmarks/worklist_snapshot.py [--sizes 1000,5000] [--changed 0.01]
        [--database-url postgresql+psycopg://…]

For each size, generated patients (`smartapp.demo.generator`, about 90 resources each) are
served by the tests' in-memory FHIR fake (`tests/worklist/fake_fhir.py`: `_lastUpdated`
searches, `_history` for deletions), so what is measured is the app's own work and the
requests it makes, not a FHIR server's speed (`benchmarks/worklist.py` measures the full
read on real HAPI). The app's database is a SQLite file (default) or `--database-url`.

1. A full refresh (`smartapp worklist --refresh --full`): wall and CPU time, requests.
2. `--changed` of the patients change (a new IgG result each; one loses a dose record,
   a deletion), then an incremental refresh: wall, CPU, requests, patients re-read.
3. A full refresh of the same changed data, for comparison, and a check that both store
   the same rows.
4. `/worklist` from that snapshot through the Flask app (server time, no FHIR request):
   the first page of 50, a page sorted by name, the last page, the filtered CSV; median of
   `--views` each (the first after a refresh decodes the snapshot; the others hit the
   process's rows cache). `--copies 5` views a snapshot of the rows copied five times over
   (other patient ids): the view's cost depends only on the number of rows.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="smartapp-bench-")

import responses

from fhir_mappings.site import load_mappings
from smartapp.fhir import FhirClient
from smartapp.rules.settings import RuleSettings
from smartapp.store import Database
from smartapp.store.leases import Leases
from smartapp.store.migrate import upgrade
from smartapp.store.snapshots import SnapshotStore
from smartapp.worklist import WorklistOptions
from smartapp.worklist.refresh import RefreshOutcome, RefreshTarget, refresh_worklist
from smartapp.worklist.stored import decode_rows, row_record
from tests.support.clock import Clock
from tests.support.fake_fhir import BASE, FakeFhir
from tests.worklist.cohort import AS_OF, generated, instant, stamped

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def change(server: FakeFhir, patients: int, fraction: float, when: datetime) -> int:
    """A new IgG result for every 1/fraction-th patient, and one deleted dose record."""
    step = max(1, round(1 / fraction))
    chosen = {f"Patient/gen-3-{i:06d}" for i in range(0, patients, step)}
    added = []
    for resource in server.resources:
        reference = (resource.get("subject") or {}).get("reference")
        if reference in chosen and resource["resourceType"] == "Observation":
            added.append(
                {**resource, "id": f"{resource['id']}-new", "effectiveDateTime": "2026-11-21"}
            )
            chosen.discard(reference)
    server.resources += stamped(added, when)
    doomed = next(
        r
        for r in server.resources
        if r["resourceType"] == "MedicationAdministration"
        and r["subject"]["reference"] == "Patient/gen-3-000001"
    )
    server.delete("MedicationAdministration", doomed["id"], instant(when))
    return len(added) + 1


def timed_refresh(
    snapshots: SnapshotStore, leases: Leases, client: FhirClient, clock: Clock, *, full: bool
) -> tuple[RefreshOutcome, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = refresh_worklist(
        snapshots,
        leases,
        client,
        RefreshTarget(BASE, "open", WorklistOptions(workers=1)),
        mappings=load_mappings(None),
        settings=RuleSettings(),
        as_of=AS_OF,
        full=full,
        clock=clock,
    )
    return outcome, time.perf_counter() - wall, time.process_time() - cpu


def stored_rows(snapshots: SnapshotStore, snapshot_id: int) -> list[dict[str, Any]]:
    blob = snapshots.rows(snapshot_id)
    assert blob is not None
    return sorted((row_record(r) for r in decode_rows(blob)), key=lambda r: r["id"])


def refreshes(size: int, fraction: float, database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    clock = Clock(T0 + timedelta(hours=1))
    snapshots, leases = SnapshotStore(db, clock=clock), Leases(db, clock=clock)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        server = FakeFhir(stamped(generated(size), T0), now=clock).install(rsps)
        with FhirClient(BASE, sleep=lambda _s: None) as client:
            full, full_wall, full_cpu = timed_refresh(snapshots, leases, client, clock, full=True)
            print(
                f"  full refresh: {full.patients} patients, {full.requests} requests, "
                f"{full_wall:.1f} s wall, {full_cpu:.1f} s CPU",
                flush=True,
            )
            later = T0 + timedelta(hours=3)
            changed = change(server, size, fraction, later)
            clock.now = (later + timedelta(minutes=5)).timestamp()
            inc, inc_wall, inc_cpu = timed_refresh(snapshots, leases, client, clock, full=False)
            print(
                f"  incremental after {changed} changed patients ({changed / size:.1%}): "
                f"mode {inc.mode}, {inc.read} re-read, {inc.requests} requests, "
                f"{inc_wall:.2f} s wall ({inc_wall / full_wall:.1%} of full), {inc_cpu:.2f} s CPU",
                flush=True,
            )
            again, again_wall, _ = timed_refresh(snapshots, leases, client, clock, full=True)
            same = stored_rows(snapshots, inc.snapshot.id) == stored_rows(
                snapshots, again.snapshot.id
            )
            print(
                f"  full refresh of the changed data: {again.requests} requests, "
                f"{again_wall:.1f} s wall; incremental stored the same rows: {same}",
                flush=True,
            )
            if not same:
                raise SystemExit("the incremental snapshot differs from a full read")
    db.close()


def multiply(database_url: str, times: int) -> int:
    """Store a snapshot whose rows are the latest one's, `times` over (other patient ids)."""
    from dataclasses import replace

    from smartapp.worklist.stored import encode_rows

    snapshots = SnapshotStore(Database(database_url))
    with snapshots.db.read() as conn:
        key = conn.exec_driver_sql("SELECT key FROM worklist_snapshots LIMIT 1").scalar_one()
    latest = snapshots.latest(key)
    assert latest is not None
    blob = snapshots.rows(latest.id)
    assert blob is not None
    rows = decode_rows(blob)
    copies = [
        replace(row, patient_id=f"{row.patient_id}-{k}") for k in range(times) for row in rows
    ]
    new = snapshots.begin(
        key=key,
        server=latest.server,
        reader=latest.reader,
        mode=latest.mode,
        source=latest.source,
        as_of=latest.as_of,
        fingerprint=latest.fingerprint,
        based_on=latest.id,
    )
    snapshots.finish(new, rows=encode_rows(copies), since=latest.since or 0.0, stats=latest.stats)
    snapshots.db.close()
    return len(copies)


def views(size: int, database_url: str, repeat: int, times: int) -> None:
    import smartapp.web.worklist.reading as web_worklist
    from smartapp.web import create_app
    from smartapp.web.worklist.store import refresher_of
    from tests.launch.launch_fakes import OPEN_ISS, make_config
    from tests.support.navigation import TYPED

    web_worklist.today = lambda: AS_OF
    app = create_app(make_config(database_url=database_url))
    browser = app.test_client()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        server = FakeFhir(generated(size), base=OPEN_ISS).install(rsps)
        # Fetch Metadata of an address the user typed: without it the app treats `/open`
        # as a link from another site and asks for confirmation first.
        opened = browser.get(f"/open?iss={OPEN_ISS}", headers=TYPED)
        assert opened.status_code == 302, opened.status_code
        browser.get("/worklist")
        refresher_of(app).wait(3600)
        if times > 1:
            size = multiply(database_url, times)
            print(f"  views of a snapshot with the {size // times} rows copied {times}x: {size}")
        before = len(server.requests)
        pages = max(1, -(-size // 50))
        urls = {
            "first page (50)": "/worklist",
            "sorted by name": "/worklist?sort=name",
            "last page": f"/worklist?page={pages}",
            "CSV (every row)": "/worklist.csv",
        }
        for label, url in urls.items():
            samples: list[float] = []
            for _ in range(repeat):
                began = time.perf_counter()
                response = browser.get(url)
                samples.append(time.perf_counter() - began)
                assert response.status_code == 200, (url, response.status_code)
            print(
                f"  {label:>16}: median {statistics.median(samples) * 1000:.0f} ms, "
                f"max {max(samples) * 1000:.0f} ms",
                flush=True,
            )
        print(f"  FHIR requests made by those views: {len(server.requests) - before}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000")
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of patients")
    parser.add_argument("--views", type=int, default=5, help="requests per view timed")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--views-only", action="store_true", help="skip steps 1-3")
    parser.add_argument(
        "--copies", type=int, default=1, help="view a snapshot of the rows copied this often"
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            url = args.database_url or f"sqlite:///{scratch}/refresh.db"
            print(f"{size} patients, database {url.split(':')[0]}", flush=True)
            if not args.views_only:
                refreshes(size, args.changed, url)
            web_url = args.database_url or f"sqlite:///{scratch}/web.db"
            views(size, web_url, args.views, args.copies)


if __name__ == "__main__":
    main()
