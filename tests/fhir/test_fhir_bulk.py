"""Bulk Data $export: kick-off, polling with Retry-After, manifest, streamed NDJSON."""

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


def start(http: responses.RequestsMock, *polls: dict[str, Any]) -> None:
    http.get(KICK_OFF_URL, status=202, headers={"Content-Location": STATUS_URL})
    for poll in polls:
        http.get(STATUS_URL, **poll)


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

    kick = http.calls[0].request
    assert kick.headers["Prefer"] == "respond-async"
    assert kick.headers["Accept"] == "application/fhir+json"
    download = http.calls[3].request
    assert download.url == f"{BASE}/Binary/b1"
    assert download.headers["Accept"] == "application/fhir+ndjson"
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request_kwargs(http.calls[3])["stream"] is True
    assert [(e.url, e.status, e.entries) for e in client.requests_made] == [
        (KICK_OFF, 202, None),
        ("$export-poll-status?_jobId=job-1", 202, None),
        ("$export-poll-status?_jobId=job-1", 200, None),
        ("Binary/b1", 200, 2),
        ("Binary/b2", 200, 3),
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


def test_output_on_another_server_is_refused_before_any_download(
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
    with pytest.raises(OffServerError, match="no token was sent"):
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
    http.get(KICK_OFF_URL, status=400, json=outcome("Unknown resource type 'Foo'", code="invalid"))
    with pytest.raises(
        FhirError, match="Bulk export kick-off failed: HTTP 400 Bad Request: error invalid"
    ):
        list(client.bulk_export(KICK_OFF))


def test_kick_off_without_async_answer_is_an_error(
    client: FhirClient, http: responses.RequestsMock
) -> None:
    http.get(KICK_OFF_URL, json={"resourceType": "Bundle"})
    with pytest.raises(FhirError, match="expected HTTP 202"):
        list(client.bulk_export(KICK_OFF))


def test_failed_export_job_raises(client: FhirClient, http: responses.RequestsMock) -> None:
    start(http, {"status": 404, "json": outcome("job failed: disk full", code="exception")})
    with pytest.raises(
        FhirError, match="Bulk export failed: HTTP 404 Not Found: error exception: job failed"
    ):
        list(client.bulk_export(KICK_OFF))
