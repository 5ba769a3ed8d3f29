"""The server read path against a real HAPI FHIR server (SPEC §2, §5; issue 3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.findings import Status, Summary
from fhir_mappings.read.record import read_patient_record
from fhir_mappings.site import Mappings
from smartapp import patient_service as service
from smartapp.cli.main import main
from smartapp.demo.bundles import DEMO_SLUGS, demo_collection_bundle, demo_patient_resources
from smartapp.demo.home_situations import INCOMPLETE_ON_PURPOSE
from smartapp.fhir import FhirClient
from smartapp.report import summary_json
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings
from tests.support.fault_proxy import FaultProxy
from tests.support.seeded import SeededCohort

pytestmark = pytest.mark.integration
SETTINGS = RuleSettings()


def outcome(summary: Summary) -> dict[str, Any]:
    """What a clinician sees, without resource ids (the server assigns its own)."""
    doc = summary_json(summary)
    return {
        "phase": doc["phase"],
        "schedule": doc["schedule"],
        "findings": {
            f["check"]: (f["status"], f["severity"], f["due"], f["title"], len(f["evidence"]))
            for f in doc["findings"]
        },
    }


def from_server(
    client: FhirClient, patient_id: str, cohort: SeededCohort, mappings: Mappings
) -> Summary:
    fetched = service.fetch_patient(client, patient_id, mappings)
    _, summary = service.summarize_fetched(fetched, patient_id, cohort.anchor, mappings, SETTINGS)
    return summary


def test_every_demo_patient_is_seeded(seeded_demo: SeededCohort) -> None:
    assert set(seeded_demo.patient_ids) == set(DEMO_SLUGS)


@pytest.mark.parametrize("slug", DEMO_SLUGS)
def test_demo_patient_through_server_equals_from_file(
    seeded_demo: SeededCohort, mappings: Mappings, slug: str
) -> None:
    with FhirClient(seeded_demo.base) as client:
        served = from_server(client, seeded_demo.patient_ids[slug], seeded_demo, mappings)
        assert client.round_trips == 1  # one batch, no paging needed for the demo patients
    local = evaluate(
        read_patient_record(demo_patient_resources(seeded_demo.anchor, slug), mappings=mappings),
        seeded_demo.anchor,
        SETTINGS,
    )
    assert served.data.incomplete == INCOMPLETE_ON_PURPOSE.get(slug, frozenset())
    assert outcome(served) == outcome(local)


def test_cli_check_fhir_base_equals_check_bundle_on_the_same_data(
    seeded_demo: SeededCohort, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    patient_id = seeded_demo.patient_ids["messy-data"]
    as_of = seeded_demo.anchor.isoformat()
    # The same data as a file: the patient's resources exactly as the batch read returns them.
    with FhirClient(seeded_demo.base) as client:
        from fhir_mappings.site import load_mappings

        fetched = service.fetch_patient(client, patient_id, load_mappings(None))
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": resource} for resource in fetched.resources],
    }
    file = tmp_path / "messy.json"
    file.write_text(json.dumps(bundle))

    assert (
        main(["check", "--fhir-base", seeded_demo.base, "--patient", patient_id, "--as-of", as_of])
        == 0
    )
    from_server_json = json.loads(capsys.readouterr().out)
    assert main(["check", "--bundle", str(file), "--as-of", as_of]) == 0
    from_file_json = json.loads(capsys.readouterr().out)
    assert from_server_json == from_file_json
    assert from_server_json["data"]["problems"]  # the messy patient reports what it skipped


HOME_SLUGS = ("home-dispenses-maintenance", "home-statement-live-vaccine", "stopped-cd19-recovered")


@pytest.mark.parametrize("slug", HOME_SLUGS)
def test_cli_fhir_base_and_bundle_file_agree_on_home_therapy(
    seeded_demo: SeededCohort, tmp_path: Any, capsys: pytest.CaptureFixture[str], slug: str
) -> None:
    """`smartapp check --fhir-base` on a seeded home-therapy patient says what `--bundle`
    says on the demo file: phase, schedule (pens, supply) and every finding."""
    as_of = seeded_demo.anchor.isoformat()
    file = tmp_path / f"{slug}.json"
    file.write_text(json.dumps(demo_collection_bundle(seeded_demo.anchor, slug)))
    patient_id = seeded_demo.patient_ids[slug]
    args = ["check", "--as-of", as_of]
    assert main([*args, "--fhir-base", seeded_demo.base, "--patient", patient_id]) == 0
    served = json.loads(capsys.readouterr().out)
    assert main([*args, "--bundle", str(file)]) == 0
    local = json.loads(capsys.readouterr().out)

    def seen(doc: dict[str, Any]) -> dict[str, Any]:
        return {
            "phase": doc["phase"],
            "schedule": doc["schedule"],
            "findings": {
                f["check"]: (f["status"], f["severity"], f["due"], f["title"])
                for f in doc["findings"]
            },
        }

    assert seen(served) == seen(local)


def test_five_year_patient_reads_in_at_most_two_round_trips(
    long_history_patient: SeededCohort, mappings: Mappings
) -> None:
    (patient_id,) = long_history_patient.patient_ids.values()
    with FhirClient(long_history_patient.base) as client:
        summary = from_server(client, patient_id, long_history_patient, mappings)
        assert client.round_trips <= 2
    assert summary.schedule.doses >= 40  # five years of monthly doses
    assert summary.data.incomplete == frozenset()


def test_paging_over_several_pages_reads_everything(long_history_patient: SeededCohort) -> None:
    (patient_id,) = long_history_patient.patient_ids.values()
    with FhirClient(long_history_patient.base) as client:
        whole = client.search_all(f"MedicationAdministration?patient={patient_id}&_count=500")
        paged = client.search_all(f"MedicationAdministration?patient={patient_id}&_count=7")
        pages = client.round_trips - 1
    assert whole.complete and paged.complete
    assert len(whole.resources) > 14
    assert pages >= 3  # really paged: the server's next links were followed
    assert {r["id"] for r in paged.resources} == {r["id"] for r in whole.resources}


def test_everything_read_gives_the_same_summary(
    long_history_patient: SeededCohort, mappings: Mappings
) -> None:
    (patient_id,) = long_history_patient.patient_ids.values()
    with FhirClient(long_history_patient.base) as client:
        batch = from_server(client, patient_id, long_history_patient, mappings)
        everything = client.everything(patient_id, count=200)
    assert everything.complete, everything.problem
    record = read_patient_record(everything.resources, patient_id, mappings=mappings)
    assert outcome(evaluate(record, long_history_patient.anchor, SETTINGS)) == outcome(batch)


def test_a_failed_search_makes_its_checks_unknown_never_ok(
    seeded_demo: SeededCohort, mappings: Mappings
) -> None:
    patient_id = seeded_demo.patient_ids["all-ok-maintenance"]
    with (
        FaultProxy(seeded_demo.base) as proxy,
        FhirClient(proxy.base, sleep=lambda s: None) as client,
    ):
        proxy.fail_batch_entries("Immunization")
        summary = from_server(client, patient_id, seeded_demo, mappings)
    statuses = {f.check: f.status for f in summary.findings}
    assert "vaccinations" in summary.data.incomplete
    assert any("vaccinations search failed" in problem for problem in summary.data.problems)
    for check in ("vaccine-before-start", "vaccine-live-on-therapy", "vaccine-window"):
        assert statuses[check] is Status.UNKNOWN, check
    assert statuses["hbv-serology"] is Status.OK  # untouched areas still decide


def test_a_503_with_retry_after_is_retried(seeded_demo: SeededCohort, mappings: Mappings) -> None:
    patient_id = seeded_demo.patient_ids["all-ok-maintenance"]
    waits: list[float] = []
    with (
        FaultProxy(seeded_demo.base) as proxy,
        FhirClient(proxy.base, sleep=waits.append) as client,
    ):
        proxy.fail_next(1, 503, retry_after="2")
        summary = from_server(client, patient_id, seeded_demo, mappings)
    assert waits == [2.0]
    assert summary.data.incomplete == frozenset()
    assert all(f.status is Status.OK for f in summary.findings)


def test_server_down_for_the_whole_read_is_reported_not_fatal(
    seeded_demo: SeededCohort, mappings: Mappings, capsys: pytest.CaptureFixture[str]
) -> None:
    with FaultProxy(seeded_demo.base) as proxy:
        proxy.fail_next(50, 500)
        code = main(["check", "--fhir-base", proxy.base, "--patient", "anything"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("smartapp: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_server_stopping_mid_read_leaves_the_paged_area_incomplete(
    long_history_patient: SeededCohort,
) -> None:
    (patient_id,) = long_history_patient.patient_ids.values()
    with (
        FaultProxy(long_history_patient.base) as proxy,
        FhirClient(proxy.base, sleep=lambda s: None) as client,
    ):
        proxy.fail_paging()
        result = client.batch_search(
            [("doses", f"MedicationAdministration?patient={patient_id}&_count=10")]
        )
    assert result.failed_areas == frozenset({"doses"})
    assert result.resources  # the first page is kept


#: The demo patients of SPEC v2's messy-record rules (issue 10).
V2_SLUGS = (
    "hbv-dna-detectable",
    "hbv-dna-low-detected",
    "anti-hbc-igm-positive",
    "past-hepatitis-b",
    "hbsag-pending",
    "hbsag-same-day",
    "future-dated-result",
    "igm-below-bound",
    "unitless-range",
    "encounter-pneumonia",
    "old-open-sinusitis",
    "past-anaphylaxis",
    "cd19-during-loading",
    "dtap-on-therapy",
    "vaccine-code-unknown",
    "pregnancy-test-pending",
)


@pytest.mark.parametrize("slug", V2_SLUGS)
def test_cli_check_fhir_base_shows_each_v2_situation(
    seeded_demo: SeededCohort, capsys: pytest.CaptureFixture[str], slug: str
) -> None:
    from smartapp.demo.situations import SITUATIONS

    spec = SITUATIONS[slug]
    patient_id = seeded_demo.patient_ids[slug]
    as_of = seeded_demo.anchor.isoformat()
    args = ["check", "--fhir-base", seeded_demo.base, "--patient", patient_id, "--as-of", as_of]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    findings = {f["check"]: f for f in doc["findings"]}
    for check, status in spec.expect.items():
        assert findings[check]["status"] == status, (slug, check, findings[check]["detail"])
    for check, severity in spec.severity.items():
        assert findings[check]["severity"] == severity, (slug, check)
    if slug == "future-dated-result":
        assert any("after the as-of date" in p for p in doc["data"]["problems"])
    if slug in ("hbsag-pending", "pregnancy-test-pending"):
        assert any(
            "pending, not used" in e["display"] for f in doc["findings"] for e in f["evidence"]
        )
    if slug == "igm-below-bound":
        assert "<50 mg/dL" in findings["ig-low"]["detail"]
