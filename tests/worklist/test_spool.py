"""Exported resources spooled to disk by patient: same answers as memory, nothing left behind."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
import responses

from fhir_mappings.search import population as fp
from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient, FhirError
from smartapp.worklist.bulk import ReadReport, read_by_export
from smartapp.worklist.spool import DiskBuckets, SpoolError
from tests.support.fake_fhir import FakeFhir
from tests.worklist.cohort import generated


def obs(pid: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"{pid}-{n}",
        "subject": {"reference": f"Patient/{pid}"},
        **extra,
    }


@pytest.fixture
def spool(tmp_path: Path):
    with DiskBuckets(str(tmp_path)) as buckets:
        yield buckets


def test_each_patient_gets_back_their_own_resources_in_arrival_order(spool: DiskBuckets) -> None:
    # Interleaved, as an export's files interleave patients; more rows than one write batch.
    for n in range(2_500):
        spool.append("a", obs("a", n))
        spool.append("b", obs("b", n))
    assert spool.count == 5_000
    a = spool.take("a")
    assert [r["id"] for r in a] == [f"a-{n}" for n in range(2_500)]
    assert spool.take("a") == []  # taken means forgotten
    assert [r["id"] for r in spool.peek("b")][:3] == ["b-0", "b-1", "b-2"]
    assert len(spool.take("b")) == 2_500  # peek kept them
    assert spool.take("never-seen") == []


def test_resources_come_back_equal_including_unicode_and_numbers(spool: DiskBuckets) -> None:
    original = obs(
        "p",
        1,
        valueQuantity={"value": 7.25, "unit": "g/L"},
        note=[{"text": "Jürgen — Ärztin sagt: 💉 ok"}],
        issued="2026-03-01T09:30:00+01:00",
        flag=None,
        component=[{"valueBoolean": True}],
    )
    spool.append("p", original)
    assert spool.take("p") == [original]


def test_a_resource_added_after_reading_started_is_still_found(spool: DiskBuckets) -> None:
    spool.append("a", obs("a", 1))
    assert len(spool.peek("a")) == 1  # builds the index
    spool.append("a", obs("a", 2))
    assert [r["id"] for r in spool.take("a")] == ["a-1", "a-2"]


def test_the_file_is_private_and_gone_after_close(tmp_path: Path) -> None:
    buckets = DiskBuckets(str(tmp_path))
    buckets.append("a", obs("a", 1))
    path = Path(buckets.path)
    assert path.parent == tmp_path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    buckets.close()
    buckets.close()  # twice is fine
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("store", ["memory", "disk"])
def test_patient_groups_behave_the_same_with_either_store(store: str, tmp_path: Path) -> None:
    resources = generated(3)
    groups = fp.PatientGroups(
        store=DiskBuckets(str(tmp_path)) if store == "disk" else fp.MemoryBuckets()
    )
    groups.extend(resources)
    reference = fp.PatientGroups()
    reference.extend(resources)
    assert groups.patient_ids() == reference.patient_ids()
    for pid in reference.patient_ids():
        assert groups.has_patient_resource(pid)
        assert groups.resources_for(pid) == reference.resources_for(pid)
        assert groups.pop(pid) == reference.pop(pid)
    assert groups.patient_ids() == []


def test_a_patient_seen_only_through_other_resources_has_no_patient_resource() -> None:
    groups = fp.PatientGroups()
    groups.add(obs("orphan", 1))
    assert groups.patient_ids() == ["orphan"]
    assert not groups.has_patient_resource("orphan")


# -- the export path leaves no spool behind -------------------------------------------------


def export(client: FhirClient, mappings: Mappings, spool_dir: Path):
    return read_by_export(
        client, mappings, ReadReport.empty(), poll_interval_s=0, spool_dir=str(spool_dir)
    )


def test_a_finished_export_removes_its_spool(rsps, mappings: Mappings, tmp_path: Path) -> None:
    server = FakeFhir(generated(4), export_polls=0).install(rsps)
    with FhirClient(server.base, sleep=lambda _s: None) as client:
        patients = list(export(client, mappings, tmp_path))
    assert len(patients) == 4
    assert all(any(r["resourceType"] == "Patient" for r in p.resources) for p in patients)
    assert list(tmp_path.iterdir()) == []


def test_stopping_early_removes_the_spool(rsps, mappings: Mappings, tmp_path: Path) -> None:
    server = FakeFhir(generated(4), export_polls=0).install(rsps)
    with FhirClient(server.base, sleep=lambda _s: None) as client:
        patients = export(client, mappings, tmp_path)
        next(patients)
        assert len(list(tmp_path.iterdir())) == 1  # the spool, while reading
        patients.close()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_removes_the_spool(rsps, mappings: Mappings, tmp_path: Path) -> None:
    base = "https://fhir.example.org/r4"
    rsps.add(
        responses.GET,
        f"{base}/$export",
        status=500,
        json={"resourceType": "OperationOutcome", "issue": [{"diagnostics": "disk full"}]},
    )
    with FhirClient(base, sleep=lambda _s: None) as client, pytest.raises(FhirError) as err:
        list(export(client, mappings, tmp_path))
    assert "bulk export failed" in str(err.value)
    assert list(tmp_path.iterdir()) == []


# -- a disk that cannot take the export gives one clear message -----------------------------


def test_a_missing_spool_directory_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(SpoolError) as err:
        DiskBuckets(str(missing))
    assert str(missing) in str(err.value)
    assert "TMPDIR" in str(err.value)


def test_a_write_that_fails_is_a_clear_error_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buckets = DiskBuckets(str(tmp_path))
    # What SQLite raises when the disk fills up mid-export.
    full = sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(buckets, "_db", FailingConnection(buckets._db, full))
    with pytest.raises(SpoolError) as err:
        for n in range(3_000):  # more than one write batch
            buckets.append("a", obs("a", n))
    assert "database or disk is full" in str(err.value)
    buckets.close()
    assert list(tmp_path.iterdir()) == []


def test_the_export_path_turns_a_disk_problem_into_a_fhir_error(
    rsps, mappings: Mappings, tmp_path: Path
) -> None:
    server = FakeFhir(generated(2), export_polls=0).install(rsps)
    with FhirClient(server.base, sleep=lambda _s: None) as client, pytest.raises(FhirError) as err:
        list(export(client, mappings, tmp_path / "gone"))
    assert "could not keep the exported records on disk" in str(err.value).lower()


class FailingConnection:
    """A sqlite3 connection whose bulk insert fails, everything else passed through."""

    def __init__(self, real: sqlite3.Connection, error: Exception) -> None:
        self._real = real
        self._error = error

    def executemany(self, *_args: object) -> None:
        raise self._error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)
