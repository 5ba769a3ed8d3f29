"""Small FHIR JSON builders for the FHIR client tests."""

from __future__ import annotations

from typing import Any

BASE = "https://ehr.example.org/fhir"
TOKEN = "tok-abc123"
PATIENT = "pat-7f3a9"

Resource = dict[str, Any]


def obs(n: int | str) -> Resource:
    return {"resourceType": "Observation", "id": f"obs-{n}", "status": "final"}


def resource(rtype: str, rid: str) -> Resource:
    return {"resourceType": rtype, "id": rid}


def searchset(
    resources: list[Resource],
    *,
    next_url: str | None = None,
    includes: list[Resource] | None = None,
) -> Resource:
    entries: list[Resource] = [
        {
            "fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    entries += [{"resource": r, "search": {"mode": "include"}} for r in includes or []]
    links = [{"relation": "self", "url": f"{BASE}/whatever"}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}


def page_url(n: int, base: str = BASE) -> str:
    """A HAPI-style next link: at the server base, not at the resource type."""
    return (
        f"{base}?_getpages=abc-123&_getpagesoffset={20 * (n - 1)}&_count=20&_bundletype=searchset"
    )


def outcome(diagnostics: str, *, code: str = "processing", severity: str = "error") -> Resource:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def ok_entry(bundle: Resource) -> Resource:
    return {"resource": bundle, "response": {"status": "200 OK"}}


def failed_entry(status: str, diagnostics: str) -> Resource:
    return {"response": {"status": status, "outcome": outcome(diagnostics, code="exception")}}


def batch_response(*entries: Resource) -> Resource:
    return {"resourceType": "Bundle", "type": "batch-response", "entry": list(entries)}


def request_kwargs(call: Any) -> dict[str, Any]:
    """The keyword arguments (timeout, stream, …) `requests` was called with."""
    kwargs: dict[str, Any] = call.request.req_kwargs
    return kwargs
