"""A small in-memory FHIR server on `responses`: just enough FHIR for the unit tests.

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

Tokens are `system|code` matched exactly on `code`, `medicationCodeableConcept` or
`vaccineCode`, as a server does. Every request is recorded in `requests` (method, relative
URL) and every batch read in `batches`.

Also, for the web tests: reads by id (`GET Type/id`, and `Type/id` entries in a batch),
transactions (PUT stored with a new version, POST stored under a new id, FHIRPath Patch
applied to the stored resource), and failures on demand: `fail` (a search URL -> status;
`fail_types(Observation=503)` fails every entry of those types), `fail_all` (the whole
batch read), `tx_failures` (the next transactions) and `read_status` (reads by id).
The one fake FHIR server of the unit tests; the real one is the integration tests' job.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import responses

from fhir_mappings.search.population import EXPORT_TYPES

BASE = "https://fhir.example.org/r4"
Resource = dict[str, Any]
_MED_TYPES = ("MedicationAdministration", "MedicationRequest", "MedicationStatement")


_CODE_FIELDS = ("code", "medicationCodeableConcept", "vaccineCode")


def _codings(resource: Resource) -> list[tuple[str, str]]:
    return [
        (c.get("system", ""), c.get("code", ""))
        for name in _CODE_FIELDS
        if isinstance(resource.get(name), dict)
        for c in resource[name].get("coding", [])
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
    for name in ("subject", "patient", "for", "beneficiary"):
        element = resource.get(name)
        if isinstance(element, dict) and isinstance(element.get("reference"), str):
            return str(element["reference"])
    return None


def _updated(resource: Resource) -> str:
    """`meta.lastUpdated` (instants in one format compare as text); missing: long ago."""
    return str((resource.get("meta") or {}).get("lastUpdated") or "2000-01-01T00:00:00Z")


def _identifier_systems(resource: Resource) -> set[str]:
    return {i.get("system", "") for i in resource.get("identifier", []) if isinstance(i, dict)}


def _outcome(code: str, text: str) -> Resource:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


def _failed_entry(status: str, code: str, text: str) -> Resource:
    """A batch-response entry that failed."""
    return {"response": {"status": status, "outcome": _outcome(code, text)}}


def _http_outcome(status: int, text: str) -> tuple[int, dict[str, str], str]:
    """A whole HTTP answer that failed."""
    body = json.dumps(_outcome("processing", text))
    return status, {"Content-Type": "application/fhir+json"}, body


def fail_types(**statuses: int) -> Callable[[str], int | None]:
    """`fail=` for a FakeFhir: every read or search of these types fails with the status
    (`fail_types(Observation=503)`)."""

    def fail(url: str) -> int | None:
        return statuses.get(url.partition("?")[0].strip("/").split("/")[0])

    return fail


def patch_operations(patch: Resource) -> list[tuple[str, str, Any]]:
    """(type, path or path.name, value) of each operation of a FHIRPath Patch Parameters
    resource; a value given as parts (a BackboneElement such as Task.input) as
    {part name: value}."""
    return list(_operations(patch, _plain))


def _operations(
    patch: Resource, convert: Callable[[Resource], Any]
) -> Iterator[tuple[str, str, Any]]:
    for operation in patch["parameter"]:
        parts = {p["name"]: p for p in operation["part"]}
        path = parts["path"]["valueString"]
        if "name" in parts:
            path = f"{path}.{parts['name']['valueString']}"
        value = parts.get("value")
        yield parts["type"]["valueCode"], path, (None if value is None else convert(value))


def _value_key(part: Resource) -> str:
    return next(k for k in part if k.startswith("value"))


def _plain(value: Resource) -> Any:
    if "part" in value:
        return {p["name"]: p[_value_key(p)] for p in value["part"]}
    return value[_value_key(value)]


def _element(value: Resource) -> Any:
    """The FHIR JSON of a patch value: a value[x], or a BackboneElement from its parts."""
    if "part" in value:
        return {
            (_value_key(p) if p["name"] == "value" else p["name"]): _element(p)
            for p in value["part"]
        }
    return value[_value_key(value)]


#: Elements the write-back adds to (repeating: `add` appends).
_REPEATING = frozenset({"note", "input", "output", "identifier", "basedOn", "partOf"})


def apply_patch(resource: Resource, patch: Resource) -> Resource:
    """A copy of `resource` with the FHIRPath Patch applied (replace, delete and add on
    top-level elements: what the write-back sends)."""
    patched = json.loads(json.dumps(resource))
    for kind, path, value in _operations(patch, _element):
        element = path.split(".", 1)[1]
        if kind == "replace":
            patched[element] = value
        elif kind == "delete":
            patched.pop(element, None)
        elif kind == "add" and element in _REPEATING:
            patched.setdefault(element, []).append(value)
        elif kind == "add":
            patched[element] = value
        else:
            raise NotImplementedError(f"FHIRPath Patch {kind} is not supported here")
    return patched


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
    #: Fail every batch read (not transactions) with this HTTP status.
    fail_all: int | None = None
    #: Fail the next transactions with these (status, diagnostics), in order.
    tx_failures: list[tuple[int, str]] = field(default_factory=list)
    #: Status of reads by id of these references (e.g. {"Practitioner/dr-1": 403}).
    read_status: dict[str, int] = field(default_factory=dict)
    #: The batch reads received, in order.
    batches: list[Resource] = field(default_factory=list)
    #: The references read by id (GET Type/id), in order.
    reads: list[str] = field(default_factory=list)
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
        # Patterns that never overlap: responses drops the first of two matching mocks.
        routes: list[tuple[str, str | re.Pattern[str], Callable[[Any], Any]]] = [
            (responses.POST, self.base, self._batch),
            (responses.GET, re.compile(rf"{base}\?_getpages=.*"), self._page),
            (responses.GET, re.compile(rf"{base}/\$export(\?.*)?$"), self._kickoff),
            (responses.GET, re.compile(rf"{base}/Group/[^/]+/\$export(\?.*)?$"), self._kickoff),
            (responses.GET, re.compile(rf"{base}/\$export-poll-status.*"), self._poll),
            (responses.GET, re.compile(rf"{base}/Binary/.*"), self._binary),
            (responses.GET, f"{self.base}/metadata", self._metadata),
            (responses.DELETE, re.compile(rf"{base}/\$export-poll-status.*"), self._delete),
            (responses.GET, re.compile(rf"{base}/[A-Z][A-Za-z]+\?.*"), self._get),
            (responses.GET, re.compile(rf"{base}/(?!Binary/)[A-Z][A-Za-z]+/[^/?]+$"), self._read),
        ]
        for method, url, callback in routes:
            rsps.add_callback(method, url, callback=callback)
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
        if self.fail_all is not None:
            return _http_outcome(self.fail_all, "batch failed")
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(self.respond(bundle))

    def respond(self, batch: Resource) -> Resource:
        """The batch-response Bundle to a batch of GETs (recorded in `batches`)."""
        self.batches.append(batch)
        entries = [self._entry(entry["request"]["url"]) for entry in batch["entry"]]
        return {"resourceType": "Bundle", "type": "batch-response", "entry": entries}

    def _entry(self, url: str) -> Resource:
        status = self.fail(url)
        if status:
            return _failed_entry(f"{status} Error", "exception", "simulated failure")
        path = url.partition("?")[0]
        if "/_history" in path:
            return self._history(url)
        if "/" in path.strip("/"):
            rtype, rid = path.strip("/").split("/", 1)
            found = self.find(rtype, rid)
            if found is None:
                return _failed_entry("404 Not Found", "not-found", f"{path} is not known")
            return {"resource": found, "response": {"status": "200 OK"}}
        try:
            matched, included = self.search(url)
        except NotImplementedError as err:
            return _failed_entry("400 Bad Request", "not-supported", str(err))
        return {
            "resource": self._first_page(matched, included, url),
            "response": {"status": "200 OK"},
        }

    def of_type(self, rtype: str) -> list[Resource]:
        """The stored resources of one type."""
        return [r for r in self.resources if r["resourceType"] == rtype]

    def find(self, rtype: str, rid: str) -> Resource | None:
        return next(
            (r for r in self.resources if r["resourceType"] == rtype and r.get("id") == rid), None
        )

    def _read(self, request: Any) -> tuple[int, dict[str, str], str]:
        reference = self._relative(request.url)
        self.requests.append(("GET", reference))
        self.reads.append(reference)
        if reference in self.read_status:
            return _http_outcome(self.read_status[reference], "refused")
        found = self.find(*reference.split("/", 1))
        if found is None:
            return _http_outcome(404, f"{reference} is not known")
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(found)

    def _instant_now(self) -> str:
        moment = self.now() if self.now is not None else time.time()
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _history(self, url: str) -> Resource:
        if not self.history_supported:
            return _failed_entry("404 Not Found", "not-supported", "no history here")
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
        """All or nothing: PUT stores a new version, POST stores under a new id, PATCH applies
        the FHIRPath Patch to the stored resource (404 when there is none)."""
        if self.tx_failures:
            return _http_outcome(*self.tx_failures.pop(0))
        self.transactions.append(bundle)
        before = list(self.resources)
        answers = []
        for number, entry in enumerate(bundle["entry"]):
            method, url = entry["request"]["method"], entry["request"]["url"]
            resource = entry.get("resource") or {}
            if method == "PATCH":
                rtype, rid = url.split("/", 1)
                target = self.find(rtype, rid)
                if target is None:
                    self.resources = before
                    return _http_outcome(404, f"{url} is not known")
                resource = apply_patch(target, resource)
            elif method == "PUT":
                rtype, rid = url.split("/", 1)
            else:
                rtype, rid = resource["resourceType"], f"new-{len(self.transactions)}-{number}"
            status, version = self._store(rtype, rid, resource)
            location = f"{rtype}/{rid}/_history/{version}"
            answers.append({"response": {"status": status, "location": location}})
        body = {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(body)

    def _store(self, rtype: str, rid: str, resource: Resource) -> tuple[str, int]:
        """Stores a new version of `rtype/rid`; (HTTP status, version number)."""
        existing = self.find(rtype, rid)
        version = 1
        if existing is not None:
            version = int((existing.get("meta") or {}).get("versionId", "1")) + 1
            self.resources = [r for r in self.resources if r is not existing]
        stored = {**resource, "resourceType": rtype, "id": rid}
        stored["meta"] = {"versionId": str(version), "lastUpdated": self._instant_now()}
        self.resources.append(stored)
        return ("201 Created" if existing is None else "200 OK"), version

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
