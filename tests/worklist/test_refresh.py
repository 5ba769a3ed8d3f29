"""Stored worklist snapshots: a full refresh stores what the live worklist shows; an
incremental one reads only changed patients (and notices deletions) yet stores the same
rows as a full read; one refresh at a time; a failure keeps the previous snapshot.

The FHIR server is the in-memory fake (`_lastUpdated`, `_history`, `$export?_since`); the
snapshots live in a real database, SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses

from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient
from smartapp.rules.settings import RuleSettings
from smartapp.store import Database
from smartapp.store.leases import Leases
from smartapp.store.snapshots import SnapshotStore
from smartapp.worklist import Worklist, WorklistOptions, worklist_json
from smartapp.worklist.refresh import (
    LEASE_TTL_S,
    RefreshOutcome,
    RefreshRunning,
    RefreshTarget,
    refresh_worklist,
)
from smartapp.worklist.report import row_json
from smartapp.worklist.stored import decode_json, decode_rows, row_record
from tests.support.clock import Clock
from tests.support.fake_fhir import BASE, FakeFhir
from tests.worklist.cohort import (
    AS_OF,
    NDC,
    build,
    coded,
    generated,
    instant,
    order,
    other_drug_patient,
    patient,
    stamped,
)

KESIMPTA_NDC = "0078-1007-68"
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


class Setup:
    def __init__(
        self,
        db: Database,
        rsps: responses.RequestsMock,
        client: FhirClient,
        mappings: Mappings,
        settings: RuleSettings,
        resources: list[dict[str, Any]],
        **options: Any,
    ) -> None:
        self.clock = Clock(T0 + timedelta(hours=1))
        self.snapshots = SnapshotStore(db, clock=self.clock)
        self.leases = Leases(db, clock=self.clock)
        self.server = FakeFhir(resources, now=self.clock).install(rsps)
        self.client = client
        self.mappings = mappings
        self.settings = settings
        self.target = RefreshTarget(BASE, "open", WorklistOptions(**{"workers": 1, **options}))

    def refresh(self, *, full: bool = False, as_of: Any = AS_OF) -> RefreshOutcome:
        return refresh_worklist(
            self.snapshots,
            self.leases,
            self.client,
            self.target,
            mappings=self.mappings,
            settings=self.settings,
            as_of=as_of,
            full=full,
            clock=self.clock,
        )

    def _live(self, as_of: Any) -> Worklist:
        return build(self.client, self.mappings, self.settings, self.target.options, as_of=as_of)

    def live(self, as_of: Any = AS_OF) -> list[dict[str, Any]]:
        """What a full live read shows now (rows as stored, sorted by patient)."""
        worklist = self._live(as_of)
        return sorted((row_record(r) for r in worklist.rows), key=lambda r: r["id"])

    def live_json(self, as_of: Any = AS_OF) -> list[dict[str, Any]]:
        worklist = self._live(as_of)
        return sorted(worklist_json(worklist.rows), key=lambda d: d["patient"]["id"])

    def stored(self) -> list[dict[str, Any]]:
        latest = self.snapshots.latest(self.target.key)
        assert latest is not None
        blob = self.snapshots.rows(latest.id)
        assert blob is not None
        return sorted((row_record(r) for r in decode_rows(blob)), key=lambda r: r["id"])

    def stored_json(self) -> list[dict[str, Any]]:
        latest = self.snapshots.latest(self.target.key)
        assert latest is not None
        blob = self.snapshots.rows(latest.id)
        assert blob is not None
        docs = {pid: decode_json(doc) for pid, doc in self.snapshots.summaries(latest.id)}
        return sorted(
            (row_json(row, docs[row.patient_id]) for row in decode_rows(blob)),
            key=lambda d: d["patient"]["id"],
        )

    def posts(self) -> int:
        return self.server.count("POST")


def kesimpta_order(pid: str, when: datetime) -> dict[str, Any]:
    kesimpta = {**coded(NDC, KESIMPTA_NDC), "text": "Kesimpta 20 mg/0.4 mL pen"}
    new_order = order(
        pid,
        kesimpta,
        rid="new-order",
        authoredOn="2026-11-21",
        dosageInstruction=[{"route": {"text": "subcutaneous"}}],
    )
    return stamped([new_order], when)[0]


@pytest.fixture
def setup(database: Database, rsps, client, mappings, settings, cohort) -> Setup:
    return Setup(database, rsps, client, mappings, settings, cohort)


@pytest.fixture
def cohort() -> list[dict[str, Any]]:
    resources = generated(12)
    resources += other_drug_patient("other-drug")
    return stamped(resources, T0)


def test_a_full_refresh_stores_what_the_live_worklist_shows(setup: Setup) -> None:
    outcome = setup.refresh()
    assert outcome.mode == "full" and outcome.patients == 12
    assert setup.stored() == setup.live()
    assert setup.stored_json() == setup.live_json()
    latest = setup.snapshots.latest(setup.target.key)
    assert latest is not None and latest.as_of == AS_OF and latest.status == "ready"
    assert latest.progress_done >= 12


def test_an_incremental_refresh_reads_only_changed_patients_and_notices_deletions(
    setup: Setup, cohort
) -> None:
    setup.refresh()
    later = T0 + timedelta(hours=3)
    # Patient 1: a new IgG result. Patient 2: one of its resources is deleted.
    # A patient not on the worklist starts Kesimpta. The other drug changes: no effect.
    igg = next(
        r
        for r in cohort
        if r["resourceType"] == "Observation" and r["subject"]["reference"].endswith("000001")
    )
    setup.server.resources.append(
        stamped([{**igg, "id": "new-igg", "effectiveDateTime": "2026-11-22"}], later)[0]
    )
    doomed = next(
        r
        for r in setup.server.resources
        if r["resourceType"] == "MedicationAdministration"
        and r["subject"]["reference"] == "Patient/gen-3-000002"
    )
    setup.server.delete("MedicationAdministration", doomed["id"], instant(later))
    setup.server.resources += stamped([patient("newcomer", "New Comer")], later)
    setup.server.resources.append(kesimpta_order("newcomer", later))
    other = next(r for r in setup.server.resources if r["id"] == "other-drug-mrq")
    other["status"] = "stopped"
    stamped([other], later)
    setup.clock.at(later + timedelta(minutes=5))
    before = setup.posts()

    outcome = setup.refresh()

    assert outcome.mode == "incremental"
    # gen-1 (new result), gen-2 (deletion), the newcomer; not the other drug's patient.
    assert outcome.read == 3
    assert setup.posts() - before <= 4  # Medications, changes + history, one chunk
    assert outcome.patients == 13
    assert setup.stored() == setup.live()
    assert setup.stored_json() == setup.live_json()


def test_nothing_changed_costs_a_few_requests_and_changes_nothing(setup: Setup) -> None:
    setup.refresh()
    first = setup.stored()
    setup.clock.at(T0 + timedelta(hours=2))
    before = len(setup.server.requests)
    outcome = setup.refresh()
    assert outcome.mode == "incremental" and outcome.read == 0
    # The server's clock, the Kesimpta Medications, one batch of change searches.
    assert len(setup.server.requests) - before == 3
    assert setup.stored() == first


def test_on_a_new_day_unchanged_patients_are_evaluated_again_from_stored_data(setup: Setup) -> None:
    setup.refresh()
    next_month = AS_OF + timedelta(days=40)
    setup.clock.at(T0 + timedelta(days=40))
    outcome = setup.refresh(as_of=next_month)
    assert outcome.mode == "incremental" and outcome.read == 0
    assert setup.stored() == setup.live(next_month)  # statuses moved on with the calendar
    assert setup.stored() != setup.live(AS_OF)


def test_changed_rules_settings_force_a_full_refresh(setup: Setup, settings) -> None:
    setup.refresh()
    setup.settings = replace(settings, due_window_days=settings.due_window_days + 7)
    setup.clock.at(T0 + timedelta(hours=2))
    assert setup.refresh().mode == "full"


def test_a_failed_change_search_falls_back_to_a_full_refresh(setup: Setup) -> None:
    setup.refresh()
    setup.server.fail = lambda url: 500 if "_lastUpdated" in url else None
    setup.clock.at(T0 + timedelta(hours=2))
    outcome = setup.refresh()
    assert outcome.mode == "full" and outcome.patients == 12


def test_without_history_deletions_wait_for_the_next_full_refresh(setup: Setup) -> None:
    setup.refresh()
    setup.server.history_supported = False
    later = T0 + timedelta(hours=2)
    setup.server.delete("Patient", "gen-3-000004", instant(later))
    setup.clock.at(later + timedelta(minutes=1))
    outcome = setup.refresh()
    assert outcome.mode == "incremental" and outcome.patients == 12
    latest = setup.snapshots.latest(setup.target.key)
    assert latest is not None
    assert any("deleted records are noticed at the next full" in n for n in latest.stats["notes"])
    assert setup.refresh(full=True).patients == 11


def test_an_export_refresh_asks_for_changes_with_since(
    database: Database, rsps, client, mappings, settings, cohort
) -> None:
    setup = Setup(
        database, rsps, client, mappings, settings, cohort, export=True, poll_interval_s=0
    )
    assert setup.refresh().mode == "full"
    later = T0 + timedelta(hours=2)
    setup.server.resources += stamped([patient("newcomer", "New Comer")], later)
    setup.server.resources.append(kesimpta_order("newcomer", later))
    setup.clock.at(later + timedelta(minutes=1))
    outcome = setup.refresh()
    assert outcome.mode == "incremental" and outcome.read == 1
    kickoffs = [url for _, url in setup.server.requests if url.startswith("$export?")]
    assert "_since=" not in kickoffs[0] and "_since=2026-11-20T08:59:00Z" in kickoffs[1]
    assert setup.stored() == setup.live()


def test_two_refreshes_at_once_do_not_both_run(setup: Setup) -> None:
    inside = threading.Event()
    release = threading.Event()

    def slow(url: str) -> None:
        inside.set()
        release.wait(10)
        return None

    setup.server.fail = slow
    results: list[object] = []

    def run() -> None:
        try:
            results.append(setup.refresh())
        except RefreshRunning as busy:
            results.append(busy)

    first = threading.Thread(target=run)
    first.start()
    assert inside.wait(10)
    with pytest.raises(RefreshRunning) as busy:
        setup.refresh()
    assert busy.value.running is not None and busy.value.running.status == "building"
    release.set()
    first.join(30)
    assert len(results) == 1 and isinstance(results[0], RefreshOutcome)
    assert len(setup.snapshots.entries(results[0].snapshot.id)) == 12


def test_a_refresh_that_fails_keeps_the_previous_snapshot_and_says_why(setup: Setup) -> None:
    good = setup.refresh().snapshot

    def broken(url: str) -> None:
        if "Observation" in url:
            raise ConnectionError("the network went away")
        return None

    setup.server.fail = broken
    setup.clock.at(T0 + timedelta(hours=2))
    with pytest.raises(Exception, match="network went away"):
        setup.refresh(full=True)
    latest = setup.snapshots.latest(setup.target.key)
    assert latest is not None and latest.id == good.id
    failure = setup.snapshots.failure_since(setup.target.key, good.id)
    assert failure is not None and failure.status == "failed"
    assert "network went away" in (failure.error or "")
    assert failure.finished_at == pytest.approx(setup.clock.now)
    assert setup.snapshots.entries(failure.id) == {}


def test_a_refresh_whose_process_died_is_abandoned_when_its_lease_lapses(setup: Setup) -> None:
    dead = setup.leases.try_acquire(setup.target.lease_name, ttl_s=LEASE_TTL_S)
    assert dead is not None
    crashed = setup.snapshots.begin(
        key=setup.target.key,
        server=BASE,
        reader="open",
        mode="full",
        source="search",
        as_of=AS_OF,
        fingerprint="x",
        based_on=None,
    )
    with pytest.raises(RefreshRunning):
        setup.refresh()
    setup.clock.now += LEASE_TTL_S + 1
    assert setup.refresh().patients == 12
    abandoned = setup.snapshots.get(crashed)
    assert abandoned is not None and abandoned.status == "failed"
    assert "interrupted" in (abandoned.error or "")


def test_group_only_refreshes_ignore_changes_outside_the_group(
    database: Database, rsps, client, mappings, settings, cohort
) -> None:
    from tests.worklist.cohort import group

    members = [f"gen-3-{i:06d}" for i in range(3)]
    cohort.append(stamped([group("clinic", members)], T0)[0])
    setup = Setup(
        database, rsps, client, mappings, settings, cohort, group="clinic", group_only=True
    )
    assert setup.refresh().patients == 3
    later = T0 + timedelta(hours=2)
    setup.server.resources += stamped([patient("newcomer", "New Comer")], later)
    setup.server.resources.append(kesimpta_order("newcomer", later))
    setup.clock.at(later + timedelta(minutes=1))
    outcome = setup.refresh()
    assert outcome.mode == "incremental" and outcome.read == 0 and outcome.patients == 3
    assert setup.stored() == setup.live()


def test_progress_is_visible_while_a_refresh_runs(setup: Setup) -> None:
    seen: list[tuple[str, int, int | None]] = []
    original = setup.snapshots.heartbeat

    def spy(snapshot_id: int, **kwargs: Any) -> None:
        original(snapshot_id, **kwargs)
        info = setup.snapshots.get(snapshot_id)
        assert info is not None
        seen.append((info.stage, info.progress_done, info.progress_total))

    setup.snapshots.heartbeat = spy  # type: ignore[method-assign]
    setup.refresh()
    assert ("reading the whole population", 0, None) in seen
    assert time.time() > 0 and seen[-1][1] >= 1
