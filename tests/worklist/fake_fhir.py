"""A small in-memory FHIR server on `responses`: just enough search semantics for the worklist.

Supported: batch POSTs of GET searches, HAPI-style paging (`{base}?_getpages=…`), and
Bulk Data `$export` (kick-off → poll → NDJSON). Searches:

    Patient?_id=a,b                      Patient?_has:<T>:patient:code=<tokens>
    Patient?_has:<T>:patient:medication=Medication/x,…
    Patient?_has:CarePlan:patient:identifier=<system>|
    Medication?code=<tokens>             Group?_id=<id>
    <T>?patient=Patient/a,Patient/b[&identifier=<system>|][&code=<tokens>][&_include=<T>:medication]
    <T>?code=<tokens> / medication.code=<tokens> / code:text=<words> / identifier=<system>|
    <T>?_lastUpdated=ge<instant>         <T>/_history?_since=<instant> (batch entries only)
    $export?_since=<instant>

`meta.lastUpdated` of a resource (missing: long ago) answers `_lastUpdated` and `_since`;
`delete(rtype, id, when)` removes a resource and leaves a DELETE entry in its history.

Tokens are `system|code` matched exactly on `code` (or `medicationCodeableConcept`), as a
server does. Every request is recorded in `requests` (method, relative URL).
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import responses

from fhir_mappings.population import EXPORT_TYPES

BASE = "https://fhir.example.org/r4"
Resource = dict[str, Any]
_MED_TYPES = ("MedicationAdministration", "MedicationRequest", "MedicationStatement")


def _codings(resource: Resource) -> list[tuple[str, str]]:
    element = resource.get("code") or resource.get("medicationCodeableConcept") or {}
    return [
        (c.get("system", ""), c.get("code", ""))
        for c in element.get("coding", [])
        if isinstance(c, dict)
    ]


def _category_codes(resource: Resource) -> set[str]:
    return {
        coding.get("code")
        for category in resource.get("category") or []
        if isinstance(category, dict)
        for coding in category.get("coding") or []
    }


def _words(resource: Resource) -> str:
    element = resource.get("code") or resource.get("medicationCodeableConcept") or {}
    parts = [element.get("text") or ""] + [
        c.get("display") or "" for c in element.get("coding", [])
    ]
    return " ".join(parts).lower()


def _tokens(value: str) -> set[tuple[str, str]]:
    found = set()
    for token in value.split(","):
        system, _, code = unquote(token).partition("|")
        found.add((system, code))
    return found


def _subject(resource: Resource) -> str | None:
    for name in ("subject", "patient", "for"):
        element = resource.get(name)
        if isinstance(element, dict) and isinstance(element.get("reference"), str):
            return str(element["reference"])
    return None


def _updated(resource: Resource) -> str:
    """`meta.lastUpdated` (instants in one format compare as text); missing: long ago."""
    return str((resource.get("meta") or {}).get("lastUpdated") or "2000-01-01T00:00:00Z")


def _identifier_systems(resource: Resource) -> set[str]:
    return {i.get("system", "") for i in resource.get("identifier", []) if isinstance(i, dict)}


@dataclass
class FakeFhir:
    resources: list[Resource]
    base: str = BASE
    page_size: int = 500
    has_supported: bool = True
    #: (relative search URL) -> HTTP status for a failing batch entry / GET, or None.
    fail: Callable[[str], int | None] = lambda url: None
    requests: list[tuple[str, str]] = field(default_factory=list)
    export_polls: int = 1
    #: {type: parameter} a search must carry, else 400 "required" (Epic: Observation
    #: needs `category`).
    requires: dict[str, str] = field(default_factory=dict)
    transactions: list[Resource] = field(default_factory=list)
    #: (Type/id, when deleted) for `_history`.
    deleted: list[tuple[str, str]] = field(default_factory=list)
    history_supported: bool = True
    #: The server's clock (seconds since the epoch) for the `Date` header of `metadata`.
    now: Callable[[], float] | None = None
    _pages: dict[str, list[Resource]] = field(default_factory=dict)
    _polls: itertools.count[int] = field(default_factory=itertools.count)
    _export_since: str | None = None

    def delete(self, rtype: str, rid: str, when: str) -> None:
        self.resources = [
            r for r in self.resources if not (r["resourceType"] == rtype and r["id"] == rid)
        ]
        self.deleted.append((f"{rtype}/{rid}", when))

    def install(self, rsps: responses.RequestsMock) -> FakeFhir:
        base = re.escape(self.base)
        rsps.add_callback(responses.POST, self.base, callback=self._batch)
        rsps.add_callback(responses.GET, re.compile(rf"{base}\?_getpages=.*"), callback=self._page)
        # Patterns that never overlap: responses drops the first of two matching mocks.
        rsps.add_callback(
            responses.GET, re.compile(rf"{base}/\$export(\?.*)?$"), callback=self._kickoff
        )
        rsps.add_callback(
            responses.GET,
            re.compile(rf"{base}/Group/[^/]+/\$export(\?.*)?$"),
            callback=self._kickoff,
        )
        rsps.add_callback(
            responses.GET, re.compile(rf"{base}/\$export-poll-status.*"), callback=self._poll
        )
        rsps.add_callback(responses.GET, re.compile(rf"{base}/Binary/.*"), callback=self._binary)
        rsps.add_callback(responses.GET, f"{self.base}/metadata", callback=self._metadata)
        rsps.add_callback(
            responses.DELETE, re.compile(rf"{base}/\$export-poll-status.*"), callback=self._delete
        )
        rsps.add_callback(
            responses.GET, re.compile(rf"{base}/[A-Z][A-Za-z]+\?.*"), callback=self._get
        )
        return self

    # -- counting -----------------------------------------------------------------------------

    def count(self, method: str, *, paging: bool | None = None) -> int:
        return sum(
            1
            for m, url in self.requests
            if m == method and (paging is None or ("_getpages" in url) == paging)
        )

    # -- handlers ----------------------------------------------------------------------------

    def _relative(self, url: str) -> str:
        return url[len(self.base) :].lstrip("/")

    def _batch(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("POST", ""))
        bundle = json.loads(request.body)
        if bundle.get("type") == "transaction":
            return self._transaction(bundle)
        entries = []
        for entry in bundle["entry"]:
            url = entry["request"]["url"]
            status = self.fail(url)
            if status:
                entries.append(
                    {
                        "response": {
                            "status": f"{status} Error",
                            "outcome": {
                                "resourceType": "OperationOutcome",
                                "issue": [
                                    {
                                        "severity": "error",
                                        "code": "exception",
                                        "diagnostics": "simulated failure",
                                    }
                                ],
                            },
                        }
                    }
                )
                continue
            if "/_history" in url.partition("?")[0]:
                entries.append(self._history(url))
                continue
            try:
                matched, included = self.search(url)
            except NotImplementedError as err:
                entries.append(
                    {
                        "response": {
                            "status": "400 Bad Request",
                            "outcome": {
                                "resourceType": "OperationOutcome",
                                "issue": [
                                    {
                                        "severity": "error",
                                        "code": "not-supported",
                                        "diagnostics": str(err),
                                    }
                                ],
                            },
                        }
                    }
                )
                continue
            entries.append(
                {
                    "resource": self._first_page(matched, included, url),
                    "response": {"status": "200 OK"},
                }
            )
        body = {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(body)

    def _instant_now(self) -> str:
        moment = self.now() if self.now is not None else time.time()
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _history(self, url: str) -> Resource:
        if not self.history_supported:
            return {
                "response": {
                    "status": "404 Not Found",
                    "outcome": {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "not-supported"}],
                    },
                }
            }
        path, _, query = url.partition("?")
        rtype = path.split("/")[0]
        since = parse_qs(query)["_since"][0]
        entries: list[Resource] = [
            {"request": {"method": "DELETE", "url": f"{key}/_history/2"}}
            for key, when in self.deleted
            if key.startswith(f"{rtype}/") and when >= since
        ]
        entries += [
            {"resource": r, "request": {"method": "PUT", "url": f"{rtype}/{r['id']}"}}
            for r in self.resources
            if r["resourceType"] == rtype and _updated(r) >= since
        ]
        key = str(uuid.uuid4())
        self._pages[key] = entries
        bundle = self._bundle(key, 0)
        bundle["type"] = "history"
        return {"resource": bundle, "response": {"status": "200 OK"}}

    def _get(self, request: Any) -> tuple[int, dict[str, str], str]:
        url = self._relative(request.url)
        self.requests.append(("GET", url))
        status = self.fail(url)
        if status:
            return status, {}, json.dumps({"resourceType": "OperationOutcome", "issue": []})
        matched, included = self.search(url)
        return 200, {}, json.dumps(self._first_page(matched, included, url))

    def _page(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("GET", self._relative(request.url)))
        query = parse_qs(urlsplit(request.url).query)
        key = query["_getpages"][0]
        offset = int(query["_getpagesoffset"][0])
        return 200, {}, json.dumps(self._bundle(key, offset))

    def _first_page(self, matched: list[Resource], included: list[Resource], url: str) -> Resource:
        key = str(uuid.uuid4())
        self._pages[key] = [{"resource": r, "search": {"mode": "match"}} for r in matched]
        self._pages[key] += [{"resource": r, "search": {"mode": "include"}} for r in included]
        return self._bundle(key, 0)

    def _bundle(self, key: str, offset: int) -> Resource:
        entries = self._pages[key]
        page = entries[offset : offset + self.page_size]
        links = [{"relation": "self", "url": f"{self.base}/whatever"}]
        if offset + self.page_size < len(entries):
            links.append(
                {
                    "relation": "next",
                    "url": f"{self.base}?_getpages={key}&_getpagesoffset="
                    f"{offset + self.page_size}&_count={self.page_size}",
                }
            )
        return {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": page}

    def _transaction(self, bundle: Resource) -> tuple[int, dict[str, str], str]:
        """Stores PUT and POST entries (ids kept or made up); PATCH is acknowledged only."""
        self.transactions.append(bundle)
        answers = []
        for number, entry in enumerate(bundle["entry"]):
            method, url = entry["request"]["method"], entry["request"]["url"]
            if method == "PATCH":
                answers.append({"response": {"status": "200 OK", "location": f"{url}/_history/2"}})
                continue
            resource = dict(entry["resource"])
            rtype = resource["resourceType"]
            rid = url.split("/", 1)[1] if method == "PUT" and "/" in url else f"new-{number}"
            resource["id"] = rid
            resource["meta"] = {"lastUpdated": self._instant_now()}
            existed = any(r["resourceType"] == rtype and r["id"] == rid for r in self.resources)
            self.resources = [
                r for r in self.resources if not (r["resourceType"] == rtype and r["id"] == rid)
            ] + [resource]
            status = "200 OK" if existed else "201 Created"
            answers.append(
                {"response": {"status": status, "location": f"{rtype}/{rid}/_history/1"}}
            )
        body = {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(body)

    # -- search semantics ----------------------------------------------------------------------

    def search(self, url: str) -> tuple[list[Resource], list[Resource]]:
        path, _, query = url.partition("?")
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        rtype = path.split("/")[0]
        needed = self.requires.get(rtype)
        if needed and needed not in params and "_id" not in params:
            raise NotImplementedError(f"{rtype} searches require {needed}")
        pool = [r for r in self.resources if r["resourceType"] == rtype]
        for name, value in params.items():
            if name in ("_count", "_elements", "_include"):
                continue
            pool = self._filter(pool, rtype, name, value)
        included: list[Resource] = []
        if "_include" in params:
            wanted = {
                r["medicationReference"]["reference"]
                for r in pool
                if isinstance(r.get("medicationReference"), dict)
                and not r["medicationReference"]["reference"].startswith("#")
            }
            included = [
                r
                for r in self.resources
                if r["resourceType"] == "Medication" and f"Medication/{r['id']}" in wanted
            ]
        return pool, included

    def _filter(self, pool: list[Resource], rtype: str, name: str, value: str) -> list[Resource]:
        if name == "_id":
            ids = set(value.split(","))
            return [r for r in pool if r["id"] in ids]
        if name == "_lastUpdated":
            if not value.startswith("ge"):
                raise NotImplementedError("only _lastUpdated=ge")
            return [r for r in pool if _updated(r) >= unquote(value[2:])]
        if name.startswith("_has:"):
            if not self.has_supported:
                raise NotImplementedError("_has is not supported")
            _, target, _param, inner = name.split(":", 3)
            others = [r for r in self.resources if r["resourceType"] == target]
            others = self._filter(others, target, inner, value)
            subjects = {_subject(r) for r in others}
            return [r for r in pool if f"Patient/{r['id']}" in subjects]
        if name == "patient":
            refs = {v if "/" in v else f"Patient/{v}" for v in value.split(",")}
            return [r for r in pool if _subject(r) in refs]
        if name == "code":
            tokens = _tokens(value)
            return [r for r in pool if tokens & set(_codings(r))]
        if name == "code:text":
            words = value.lower().split(",")
            return [r for r in pool if any(w in _words(r) for w in words)]
        if name == "medication":
            refs = set(value.split(","))
            return [
                r for r in pool if (r.get("medicationReference") or {}).get("reference") in refs
            ]
        if name == "medication.code":
            tokens = _tokens(value)
            meds = {
                f"Medication/{m['id']}"
                for m in self.resources
                if m["resourceType"] == "Medication" and tokens & set(_codings(m))
            }
            return [
                r for r in pool if (r.get("medicationReference") or {}).get("reference") in meds
            ]
        if name == "category":
            wanted = set(value.split(","))
            return [r for r in pool if wanted & _category_codes(r)]
        if name == "identifier":
            system = unquote(value).partition("|")[0]
            return [r for r in pool if system in _identifier_systems(r)]
        raise NotImplementedError(f"search parameter {name} is not supported here")

    # -- bulk export -------------------------------------------------------------------------

    def _kickoff(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("GET", self._relative(request.url)))
        self._export_since = parse_qs(urlsplit(request.url).query).get("_since", [None])[0]
        self._polls = itertools.count()
        location = f"{self.base}/$export-poll-status?_jobId=job-1"
        return 202, {"Content-Location": location}, ""

    def _poll(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("GET", self._relative(request.url)))
        if next(self._polls) < self.export_polls:
            return 202, {"Retry-After": "120", "X-Progress": "in progress"}, ""
        types = sorted({r["resourceType"] for r in self.resources})
        manifest = {
            "transactionTime": "2026-11-24T00:00:00Z",
            "request": f"{self.base}/$export",
            "requiresAccessToken": True,
            "output": [{"type": t, "url": f"{self.base}/Binary/{t}"} for t in types],
            "error": [],
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(manifest)

    def _metadata(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("GET", "metadata"))
        types = sorted({r["resourceType"] for r in self.resources} | set(EXPORT_TYPES))
        capability = {
            "resourceType": "CapabilityStatement",
            "rest": [{"mode": "server", "resource": [{"type": t} for t in types]}],
        }
        headers = {"Content-Type": "application/fhir+json"}
        if self.now is not None:  # the server's clock, as HTTP servers say it
            headers["Date"] = formatdate(self.now(), usegmt=True)
        return 200, headers, json.dumps(capability)

    def _delete(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("DELETE", self._relative(request.url)))
        return 202, {}, ""

    def _binary(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("GET", self._relative(request.url)))
        rtype = request.url.rsplit("/", 1)[1]
        since = self._export_since
        lines = [
            json.dumps(r)
            for r in self.resources
            if r["resourceType"] == rtype and (since is None or _updated(r) >= since)
        ]
        return 200, {"Content-Type": "application/fhir+ndjson"}, "\n".join(lines) + "\n"
