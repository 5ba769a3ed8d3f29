"""Bulk Data $export: kick-off, polling with Retry-After, manifest, streamed NDJSON.

The servers' habits each test imitates are named in smartapp/fhir/bulk.py's module doc.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import responses
from fhir_fakes import BASE, TOKEN, obs, outcome, request_kwargs, resource

from smartapp.fhir import FhirClient, FhirError, OffServerError

KICK_OFF = "Group/g1/$export?_type=Patient,Observation"
KICK_OFF_URL = f"{BASE}/{KICK_OFF}"
STATUS_URL = f"{BASE}/$export-poll-status?_jobId=job-1"


def ndjson(*resources: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in resources)


def binary(payload: bytes) -> dict[str, Any]:
    return {
        "resourceType": "Binary",
        "id": "b2",
        "contentType": "application/fhir+ndjson",
        "data": base64.b64encode(payload).decode(),
    }


def manifest(*outputs: tuple[str, str], errors: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return {
        "transactionTime": "2026-11-03T10:00:00Z",
        "request": KICK_OFF_URL,
        "requiresAccessToken": True,
        "output": [{"type": t, "url": u} for t, u in outputs],
        "error": [{"type": t, "url": u} for t, u in errors],
    }


def capability(*types: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "rest": [{"mode": "server", "resource": [{"type": t} for t in types]}],
    }


def start(http: responses.RequestsMock, *polls: dict[str, Any]) -> None:
    http.get(f"{BASE}/metadata", json=capability("Patient", "Observation", "Group"))
    http.get(KICK_OFF_URL, status=202, headers={"Content-Location": STATUS_URL})
    for poll in polls:
        http.get(STATUS_URL, **poll)
    http.delete(STATUS_URL, status=202)


def test_kick_off_poll_and_download_raw_ndjson_and_binary_json(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    start(
        http,
        {"status": 202, "headers": {"Retry-After": "3", "X-Progress": "IN_PROGRESS 40%"}},
        {
            "json": manifest(
                # HAPI behind a TLS proxy: the output URL comes back as http://
                ("Patient", "http://ehr.example.org/fhir/Binary/b1"),
                ("Observation", f"{BASE}/Binary/b2"),
            )
        },
    )
    http.get(
        f"{BASE}/Binary/b1",
        body=ndjson(resource("Patient", "p1"), resource("Patient", "p2")),
        content_type="application/fhir+ndjson",
    )
    http.get(f"{BASE}/Binary/b2", json=binary(ndjson(obs(1), obs(2), obs(3))))

    export = client.bulk_export(KICK_OFF, poll_interval_s=10, max_wait_s=60)
    assert len(http.calls) == 0  # nothing happens until iteration starts
    resources = list(export)

    assert [(r["resourceType"], r["id"]) for r in resources] == [
        ("Patient", "p1"),
        ("Patient", "p2"),
        ("Observation", "obs-1"),
        ("Observation", "obs-2"),
        ("Observation", "obs-3"),
    ]
    assert sleeps == [3.0]  # Retry-After honoured instead of the 10 s poll interval
    assert export.progress == "IN_PROGRESS 40%"
    assert export.manifest is not None and len(export.manifest["output"]) == 2
    assert export.problems == []

    kick = http.calls[1].request
    assert kick.headers["Prefer"] == "respond-async"
    assert kick.headers["Accept"] == "application/fhir+json"
    download = http.calls[4].request
    assert download.url == f"{BASE}/Binary/b1"
    assert download.headers["Accept"] == "application/fhir+ndjson"
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request_kwargs(http.calls[4])["stream"] is True
    assert [(e.method, e.url, e.status, e.entries) for e in client.requests_made] == [
        ("GET", "metadata", 200, None),
        ("GET", KICK_OFF, 202, None),
        ("GET", "$export-poll-status?_jobId=job-1", 202, None),
        ("GET", "$export-poll-status?_jobId=job-1", 200, None),
        ("GET", "Binary/b1", 200, 2),
        ("GET", "Binary/b2", 200, 3),
        # The IG's delete request: the server may now remove the files.
        ("DELETE", "$export-poll-status?_jobId=job-1", 202, None),
    ]


def test_resources_are_streamed_one_file_at_a_time(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    start(
        http,
        {"json": manifest(("Patient", f"{BASE}/Binary/b1"), ("Observation", f"{BASE}/Binary/b2"))},
    )
    http.get(
        f"{BASE}/Binary/b1",
        body=ndjson(resource("Patient", "p1"), resource("Patient", "p2")),
        content_type="application/fhir+ndjson",
    )
    second = http.get(
        f"{BASE}/Binary/b2", body=ndjson(obs(1)), content_type="application/fhir+ndjson"
    )
    export = client.bulk_export(KICK_OFF)
    assert next(export)["id"] == "p1"
    assert second.call_count == 0  # the next file is only fetched when needed
    export.close()
    assert second.call_count == 0


def test_pretty_printed_binary_json_is_decoded(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    start(http, {"json": manifest(("Observation", f"{BASE}/Binary/b2"))})
    http.get(
        f"{BASE}/Binary/b2",
        body=json.dumps(binary(ndjson(obs(1), obs(2))), indent=2),
        content_type="application/json",
    )
    assert [r["id"] for r in client.bulk_export(KICK_OFF)] == ["obs-1", "obs-2"]


def test_ndjson_served_with_a_json_content_type_is_still_read(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    start(http, {"json": manifest(("Observation", f"{BASE}/Binary/b1"))})
    http.get(f"{BASE}/Binary/b1", body=ndjson(obs(1), obs(2)), content_type="application/json")
    assert [r["id"] for r in client.bulk_export(KICK_OFF)] == ["obs-1", "obs-2"]


def test_an_exported_binary_resource_in_ndjson_is_not_unwrapped(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    exported = {
        "resourceType": "Binary",
        "id": "img",
        "contentType": "image/png",
        "data": "iVBORw0=",
    }
    start(http, {"json": manifest(("Binary", f"{BASE}/Binary/b1"))})
    http.get(f"{BASE}/Binary/b1", body=ndjson(exported), content_type="application/fhir+ndjson")
    assert list(client.bulk_export(KICK_OFF)) == [exported]


def test_unreadable_lines_are_counted_and_skipped(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    start(http, {"json": manifest(("Observation", f"{BASE}/Binary/b1"))})
    http.get(
        f"{BASE}/Binary/b1",
        body=ndjson(obs(1)) + b"{not json\n\n[1, 2]\n" + ndjson(obs(2)),
        content_type="application/fhir+ndjson",
    )
    export = client.bulk_export(KICK_OFF)
    assert [r["id"] for r in export] == ["obs-1", "obs-2"]
    assert export.problems == ["2 line(s) of the Observation export could not be read"]


def test_error_files_become_problems(client: FhirClient, http: responses.RequestsMock) -> None:
    start(
        http,
        {
            "json": manifest(
                ("Observation", f"{BASE}/Binary/b1"),
                errors=(("OperationOutcome", f"{BASE}/Binary/e1"),),
            )
        },
    )
    http.get(f"{BASE}/Binary/b1", body=ndjson(obs(1)), content_type="application/fhir+ndjson")
    http.get(
        f"{BASE}/Binary/e1",
        body=ndjson(outcome("Observation/9 could not be exported")),
        content_type="application/fhir+ndjson",
    )
    export = client.bulk_export(KICK_OFF)
    assert [r["id"] for r in export] == ["obs-1"]
    assert export.problems == [
        "The server reported 1 export error(s): "
        "error processing: Observation/9 could not be exported"
    ]


def test_output_on_another_server_is_refused_before_any_download_or_token(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    foreign = http.get("https://bucket.example.com/export/b1.ndjson", body=ndjson(obs(1)))
    start(
        http,
        {
            "json": manifest(
                ("Patient", f"{BASE}/Binary/b1"),
                ("Observation", "https://bucket.example.com/export/b1.ndjson"),
            )
        },
    )
    local = http.get(f"{BASE}/Binary/b1", body=ndjson(resource("Patient", "p1")))
    with pytest.raises(OffServerError, match=r"bucket\.example\.com.*no token was sent"):
        list(client.bulk_export(KICK_OFF))
    assert foreign.call_count == 0
    assert local.call_count == 0


def test_polling_without_retry_after_uses_the_interval_and_gives_up_after_max_wait(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    start(http, {"status": 202, "headers": {"X-Progress": "QUEUED"}})
    with pytest.raises(
        FhirError, match=r"not finished after 25 s \(4 status checks\); last progress: QUEUED"
    ):
        list(client.bulk_export(KICK_OFF, poll_interval_s=10, max_wait_s=25))
    assert sleeps == [10, 10, 5]


def test_kick_off_refused_raises_with_the_outcome(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/metadata", status=404)
    http.get(KICK_OFF_URL, status=400, json=outcome("Unknown parameter '_foo'", code="invalid"))
    with pytest.raises(
        FhirError, match="Bulk export kick-off failed: HTTP 400 Bad Request: error invalid"
    ):
        list(client.bulk_export(KICK_OFF))


def test_kick_off_without_async_answer_is_an_error(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/metadata", status=404)
    http.get(KICK_OFF_URL, json={"resourceType": "Bundle"})
    with pytest.raises(FhirError, match="expected HTTP 202"):
        list(client.bulk_export(KICK_OFF))


def test_failed_export_job_raises(client: FhirClient, http: responses.RequestsMock) -> None:
    start(http, {"status": 404, "json": outcome("job failed: disk full", code="exception")})
    with pytest.raises(
        FhirError, match="Bulk export failed: HTTP 404 Not Found: error exception: job failed"
    ):
        list(client.bulk_export(KICK_OFF))


# -- what real servers do (Bulk Data IG 2.0; the SMART reference server; HAPI) --------------

ALL = "Group/g1/$export?_type=Patient,Observation,MedicationAdministration"


def status_then_manifest(http: responses.RequestsMock, *files: tuple[str, str]) -> None:
    http.get(STATUS_URL, json=manifest(*files))
    http.delete(STATUS_URL, status=202)


def accept_patient_and_observation(http: responses.RequestsMock) -> Any:
    """A kick-off for Patient and Observation only, answered with one Patient file."""
    kick = http.get(
        f"{BASE}/Group/g1/$export?_type=Patient,Observation",
        status=202,
        headers={"Content-Location": STATUS_URL},
    )
    status_then_manifest(http, ("Patient", f"{BASE}/Binary/b1"))
    http.get(f"{BASE}/Binary/b1", body=ndjson(resource("Patient", "p1")))
    return kick


def test_types_the_capability_statement_lacks_are_not_asked_for(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/metadata", json=capability("Patient", "Observation"))
    kick = accept_patient_and_observation(http)
    export = client.bulk_export(ALL)
    assert [r["id"] for r in export] == ["p1"]
    assert kick.call_count == 1
    assert export.unsupported_types == ["MedicationAdministration"]


def test_a_kick_off_refused_for_a_named_type_is_sent_again_without_it(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    # The SMART reference server: no CapabilityStatement types checked here (404), and a
    # 400 whose diagnostics name the one type it lacks.
    http.get(f"{BASE}/metadata", status=404)
    refused = http.get(
        f"{BASE}/{ALL}",
        status=400,
        json=outcome(
            'The requested resource type "MedicationAdministration" is not available on this server'
        ),
    )
    accepted = accept_patient_and_observation(http)
    export = client.bulk_export(ALL)
    assert [r["id"] for r in export] == ["p1"]
    assert (refused.call_count, accepted.call_count) == (1, 1)
    assert export.unsupported_types == ["MedicationAdministration"]


def test_a_refusal_naming_no_requested_type_is_final(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/metadata", status=404)
    http.get(f"{BASE}/{ALL}", status=400, json=outcome("Unknown parameter _foo"))
    with pytest.raises(FhirError, match="HTTP 400 Bad Request: error processing: Unknown"):
        list(client.bulk_export(ALL))


def test_files_outside_the_base_path_on_the_same_origin_are_read_with_the_token(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    # The reference server's files: https://host/<other segment>/fhir/bulkfiles/1.Patient.ndjson
    file_url = "https://ehr.example.org/eyJpZCI6MX0/fhir/bulkfiles/1.Patient.ndjson"
    start(http, {"json": manifest(("Patient", file_url))})
    download = http.get(file_url, body=ndjson(resource("Patient", "p1")))
    assert [r["id"] for r in client.bulk_export(KICK_OFF)] == ["p1"]
    assert download.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "eyJpZCI6MX0/fhir/bulkfiles/1.Patient.ndjson" in client.requests_made[-2].url


def test_signed_files_on_an_allowlisted_origin_get_no_token_and_no_logged_signature(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    signed = "https://files.example.net/job/1.ndjson?X-Signature=secret-sig"
    start(
        http,
        {"json": {**manifest(("Patient", signed)), "requiresAccessToken": False}},
    )
    download = http.get(signed, body=ndjson(resource("Patient", "p1")))
    export = client.bulk_export(KICK_OFF, file_origins=["https://files.example.net"])
    assert [r["id"] for r in export] == ["p1"]
    assert "Authorization" not in download.calls[0].request.headers
    assert all("secret-sig" not in entry.url for entry in client.requests_made)


def test_the_token_goes_to_an_allowlisted_origin_only_when_trusted_with_it(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    url = "https://files.example.net/job/1.ndjson"
    start(http, {"json": manifest(("Patient", url))})  # requiresAccessToken: true
    download = http.get(url, body=ndjson(resource("Patient", "p1")))
    with pytest.raises(OffServerError, match=r"need the access token.*bulk_token_origins"):
        list(client.bulk_export(KICK_OFF, file_origins=["https://files.example.net"]))
    assert download.call_count == 0

    trusted = client.bulk_export(KICK_OFF, token_origins=["https://files.example.net"])
    start(http, {"json": manifest(("Patient", url))})
    assert [r["id"] for r in trusted] == ["p1"]
    assert download.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_redirect_to_an_unlisted_origin_is_not_followed(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    start(http, {"json": manifest(("Patient", f"{BASE}/Binary/b1"))})
    http.get(f"{BASE}/Binary/b1", status=302, headers={"Location": "https://evil.example/x"})
    evil = http.get("https://evil.example/x", body=ndjson(resource("Patient", "p1")))
    with pytest.raises(OffServerError, match="redirected to another server"):
        list(client.bulk_export(KICK_OFF))
    assert evil.call_count == 0


def test_transient_outcomes_and_429_are_waited_out_beyond_the_usual_retries(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    transient = outcome("An unknown error occurred. Please try again.", code="transient")
    start(
        http,
        *[{"status": 500, "json": transient}] * 5,
        {"status": 429, "headers": {"Retry-After": "7"}},
        {"status": 503},
        {"json": manifest(("Patient", f"{BASE}/Binary/b1"))},
    )
    http.get(f"{BASE}/Binary/b1", body=ndjson(resource("Patient", "p1")))
    export = client.bulk_export(KICK_OFF, max_wait_s=600)
    assert [r["id"] for r in export] == ["p1"]
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 7.0, 8.0]  # backoff, then Retry-After


def test_transient_errors_stop_at_the_overall_deadline(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    transient = outcome("try later", code="transient")
    start(http, {"status": 500, "json": transient, "headers": {"Retry-After": "30"}})
    with pytest.raises(FhirError, match=r"try later.*still failing after waiting 100 s"):
        list(client.bulk_export(KICK_OFF, max_wait_s=100))
    assert sleeps == [30, 30, 30, 10]


def test_a_plain_server_error_is_retried_a_few_times_then_final(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    start(http, {"status": 500, "json": outcome("NullPointerException", code="exception")})
    with pytest.raises(FhirError, match=r"HTTP 500.*NullPointerException"):
        list(client.bulk_export(KICK_OFF, max_wait_s=600))
    assert sleeps == [0.5, 1.0, 2.0]


def test_a_busy_kick_off_waits_for_retry_after(
    client: FhirClient, http: responses.RequestsMock, sleeps: list[float]
) -> None:
    http.get(f"{BASE}/metadata", json=capability("Patient", "Observation"))
    http.get(KICK_OFF_URL, status=429, headers={"Retry-After": "60"})
    http.get(KICK_OFF_URL, status=202, headers={"Content-Location": STATUS_URL})
    status_then_manifest(http, ("Patient", f"{BASE}/Binary/b1"))
    http.get(f"{BASE}/Binary/b1", body=ndjson(resource("Patient", "p1")))
    assert [r["id"] for r in client.bulk_export(KICK_OFF)] == ["p1"]
    assert sleeps == [60.0]


def test_an_expired_file_starts_one_new_export_of_what_was_not_read(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/metadata", json=capability("Patient", "Observation"))
    first = http.get(KICK_OFF_URL, status=202, headers={"Content-Location": STATUS_URL})
    http.get(
        STATUS_URL,
        json=manifest(
            ("Patient", f"{BASE}/Binary/p"),
            ("Observation", f"{BASE}/Binary/o1"),
            ("Observation", f"{BASE}/Binary/o2"),
        ),
    )
    second_status = f"{BASE}/$export-poll-status?_jobId=job-2"
    again = http.get(
        f"{BASE}/Group/g1/$export?_type=Observation",
        status=202,
        headers={"Content-Location": second_status},
    )
    http.get(second_status, json=manifest(("Observation", f"{BASE}/Binary/o3")))
    deletes = [http.delete(STATUS_URL, status=202), http.delete(second_status, status=202)]
    http.get(f"{BASE}/Binary/p", body=ndjson(resource("Patient", "p1")))
    http.get(f"{BASE}/Binary/o1", body=ndjson(obs(1), obs(2)))
    http.get(f"{BASE}/Binary/o2", status=410, json=outcome("file expired"))
    # The new export holds every Observation again: those already read are not repeated.
    http.get(f"{BASE}/Binary/o3", body=ndjson(obs(1), obs(2), obs(3)))

    export = client.bulk_export(KICK_OFF)
    assert [r["id"] for r in export] == ["p1", "obs-1", "obs-2", "obs-3"]
    assert (first.call_count, again.call_count) == (1, 1)
    assert [d.call_count for d in deletes] == [1, 1]
    assert export.exports == 2
    assert export.transaction_time == "2026-11-03T10:00:00Z"
    assert export.notes == [
        "The export's Observation file had expired (HTTP 410); a new export was started "
        "for the rest."
    ]


def test_files_expiring_again_after_the_new_export_is_an_error(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    start(http, {"json": manifest(("Patient", f"{BASE}/Binary/p"))})
    http.get(f"{BASE}/Binary/p", status=404)
    with pytest.raises(FhirError, match="Patient file was gone \\(HTTP 404\\) again"):
        list(client.bulk_export(KICK_OFF))


def test_warnings_in_error_files_are_notes_not_problems(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    start(
        http,
        {
            "json": manifest(
                ("Patient", f"{BASE}/Binary/b1"), errors=(("OperationOutcome", f"{BASE}/e1"),)
            )
        },
    )
    http.get(f"{BASE}/Binary/b1", body=ndjson(resource("Patient", "p1")))
    http.get(
        f"{BASE}/e1",
        body=ndjson(
            outcome("_typeFilter ignored", severity="warning"),
            outcome("Observation/9 could not be exported"),
        ),
    )
    export = client.bulk_export(KICK_OFF)
    list(export)
    assert export.problems == [
        "The server reported 1 export error(s): "
        "error processing: Observation/9 could not be exported"
    ]
    assert export.notes == [
        "The server noted about the export: warning processing: _typeFilter ignored"
    ]


def test_progress_is_reported_at_each_status_check(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    start(
        http,
        {"status": 202, "headers": {"X-Progress": "10% complete", "Retry-After": "2"}},
        {"status": 202, "headers": {"X-Progress": "90% complete", "Retry-After": "2"}},
        {"json": manifest()},
    )
    seen: list[str] = []
    assert list(client.bulk_export(KICK_OFF, on_progress=seen.append)) == []
    assert seen == [
        "export 10% complete; waited 0 s so far",
        "export 90% complete; waited 2 s so far",
    ]


def test_other_kick_off_parameters_are_kept_on_a_restart() -> None:
    from smartapp.fhir.bulk import ExportRequest

    request = ExportRequest.parse("$export?_type=Patient,Observation&_since=2026-01-01T00:00:00Z")
    assert request.types == ("Patient", "Observation")
    assert request.url(["Observation"]) == "$export?_type=Observation&_since=2026-01-01T00:00:00Z"


def test_a_status_url_outside_the_base_path_on_the_same_origin_is_polled(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    status = "https://ehr.example.org/bulkdata/job-9/status"
    http.get(f"{BASE}/metadata", json=capability("Patient", "Observation"))
    http.get(KICK_OFF_URL, status=202, headers={"Content-Location": "/bulkdata/job-9/status"})
    poll = http.get(status, json=manifest(("Patient", f"{BASE}/Binary/b1")))
    delete = http.delete(status, status=202)
    http.get(f"{BASE}/Binary/b1", body=ndjson(resource("Patient", "p1")))
    assert [r["id"] for r in client.bulk_export(KICK_OFF)] == ["p1"]
    assert poll.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert delete.call_count == 1


def test_a_status_url_on_another_server_is_refused(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(f"{BASE}/metadata", json=capability("Patient", "Observation"))
    http.get(KICK_OFF_URL, status=202, headers={"Content-Location": "https://elsewhere.example/s"})
    elsewhere = http.get("https://elsewhere.example/s", json=manifest())
    with pytest.raises(OffServerError, match="status URL is on another server"):
        list(client.bulk_export(KICK_OFF))
    assert elsewhere.call_count == 0


def test_an_export_file_larger_than_the_response_cap_is_read_line_by_line(
    http: responses.RequestsMock,
) -> None:
    """SMARTAPP_FHIR_MAX_BYTES bounds one answer (and one NDJSON line), never an export
    file: a hospital's Observation file is routinely hundreds of megabytes."""
    from smartapp.fhir.limits import ReadLimits

    patients = [resource("Patient", f"p{i}") | {"name": [{"text": "x" * 200}]} for i in range(40)]
    body = ndjson(*patients)
    assert len(body) > 4 * 2048
    start(http, {"json": manifest(("Patient", f"{BASE}/Binary/big"))})
    http.get(f"{BASE}/Binary/big", body=body, headers={"Content-Length": str(len(body))})
    limits = ReadLimits.start(None, max_bytes=2048)
    with FhirClient(BASE, token=TOKEN, sleep=lambda _s: None, limits=limits) as client:
        export = client.bulk_export(KICK_OFF)
        assert [r["id"] for r in export] == [f"p{i}" for i in range(40)]


def test_one_ndjson_line_beyond_the_cap_is_refused_with_the_setting_named(
    http: responses.RequestsMock,
) -> None:
    # Lines are cut from 64 KB chunks, so the cap holds to within one chunk.
    from smartapp.fhir.limits import ReadLimits

    huge = resource("Patient", "p1") | {"name": [{"text": "x" * 200_000}]}
    start(http, {"json": manifest(("Patient", f"{BASE}/Binary/huge"))})
    http.get(f"{BASE}/Binary/huge", body=ndjson(huge))
    limits = ReadLimits.start(None, max_bytes=2048)
    with FhirClient(BASE, token=TOKEN, sleep=lambda _s: None, limits=limits) as client:
        with pytest.raises(FhirError, match="SMARTAPP_FHIR_MAX_BYTES"):
            list(client.bulk_export(KICK_OFF))
