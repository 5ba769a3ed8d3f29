"""A small fake FHIR server for the dashboard and API tests (and the browser test).

`FakeFhir(resources)` answers a batch Bundle of GETs as a FHIR server does: a read
(`Patient/1`) gives the resource itself, a search gives a searchset Bundle filtered by
`patient`, `code` and `identifier`, with `_include`d Medications. Areas can be made to
fail (`fail={"Observation": "500 Internal Server Error"}`) or the whole POST can fail.

Also the fixtures the web tests share (imported by the test modules).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
import responses
from flask.testing import FlaskClient

from smartapp.demo.bundles import demo_patient_resources
from tests.launch.launch_fakes import OPEN_ISS

Resource = dict[str, Any]

_REFERENCE_FIELDS = ("subject", "patient", "for", "beneficiary")


def _points_at(resource: Resource, patient_id: str) -> bool:
    for name in _REFERENCE_FIELDS:
        element = resource.get(name)
        if isinstance(element, dict) and element.get("reference") == f"Patient/{patient_id}":
            return True
    return False


def _codes(resource: Resource) -> set[tuple[str, str]]:
    found = set()
    for name in ("code", "medicationCodeableConcept", "vaccineCode"):
        concept = resource.get(name)
        if isinstance(concept, dict):
            for coding in concept.get("coding", []):
                found.add((coding.get("system", ""), coding.get("code", "")))
    return found


def _tokens(value: str) -> set[tuple[str, str]]:
    tokens = set()
    for part in value.split(","):
        system, _, code = unquote(part).partition("|")
        tokens.add((system, code))
    return tokens


def _has_identifier_system(resource: Resource, system: str) -> bool:
    return any(i.get("system") == system for i in resource.get("identifier", []))


@dataclass
class FakeFhir:
    """What the FHIR server holds and how it misbehaves; records the batches it got."""

    resources: list[Resource]
    base: str = OPEN_ISS
    #: Resource type (or `Patient` for the read) → HTTP status line of a failed entry.
    fail: dict[str, str] = field(default_factory=dict)
    #: Fail the whole batch POST with this HTTP status.
    fail_all: int | None = None
    batches: list[Resource] = field(default_factory=list)

    def respond(self, batch: Resource) -> Resource:
        self.batches.append(batch)
        entries = [self._entry(item["request"]["url"]) for item in batch.get("entry", [])]
        return {"resourceType": "Bundle", "type": "batch-response", "entry": entries}

    def _failed(self, status: str) -> Resource:
        return {
            "response": {
                "status": status,
                "outcome": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "exception", "diagnostics": "boom"}],
                },
            }
        }

    def _entry(self, url: str) -> Resource:
        parts = urlsplit(url)
        path = parts.path.strip("/")
        resource_type = path.split("/")[0]
        if resource_type in self.fail:
            return self._failed(self.fail[resource_type])
        if "/" in path:  # a read
            rtype, rid = path.split("/", 1)
            for resource in self.resources:
                if resource["resourceType"] == rtype and resource.get("id") == rid:
                    return {"resource": resource, "response": {"status": "200 OK"}}
            return self._failed("404 Not Found")
        params = parse_qsl(parts.query, keep_blank_values=True)
        matches = [r for r in self.resources if r["resourceType"] == resource_type]
        includes: list[Resource] = []
        for name, value in params:
            if name == "patient":
                matches = [r for r in matches if _points_at(r, value)]
            elif name == "code":
                wanted = _tokens(value)
                matches = [r for r in matches if _codes(r) & wanted]
            elif name == "identifier":
                system = unquote(value).partition("|")[0]
                matches = [r for r in matches if _has_identifier_system(r, system)]
            elif name == "_include" and value.endswith(":medication"):
                includes = self._medications(matches)
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in matches]
            + [{"resource": r, "search": {"mode": "include"}} for r in includes],
        }
        return {"resource": bundle, "response": {"status": "200 OK"}}

    def _medications(self, matches: Iterable[Resource]) -> list[Resource]:
        wanted = set()
        for resource in matches:
            ref = (resource.get("medicationReference") or {}).get("reference", "")
            if ref.startswith("Medication/"):
                wanted.add(ref.split("/", 1)[1])
        return [
            r for r in self.resources if r["resourceType"] == "Medication" and r.get("id") in wanted
        ]

    # -- hooks for the HTTP mocks --------------------------------------------------------

    def callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        headers = {"Content-Type": "application/fhir+json"}
        if self.fail_all is not None:
            return self.fail_all, headers, json.dumps({"resourceType": "OperationOutcome"})
        body = request.body or b"{}"
        batch = json.loads(body.decode() if isinstance(body, bytes) else body)
        return 200, headers, json.dumps(self.respond(batch))

    def install(self, rsps: responses.RequestsMock) -> FakeFhir:
        rsps.add_callback(responses.POST, self.base, callback=self.callback)
        return self


def demo(slug: str, as_of: date | None = None) -> list[Resource]:
    return demo_patient_resources(as_of or date.today(), slug)


def patient_resource(patient_id: str, *, name: str = "Test Patient", **extra: Any) -> Resource:
    given, _, family = name.partition(" ")
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "name": [{"given": [given], "family": family}],
        "gender": "female",
        "birthDate": "1985-04-12",
        **extra,
    }


def retarget(resources: Iterable[Resource], new_id: str) -> list[Resource]:
    """The same resources for a Patient with another id (references rewritten)."""
    text = json.dumps(list(resources))
    old_ids = {r["id"] for r in json.loads(text) if r["resourceType"] == "Patient"}
    for old in old_ids:
        text = re.sub(rf'"Patient/{re.escape(old)}"', f'"Patient/{new_id}"', text)
        text = text.replace(f'"id": "{old}"', f'"id": "{new_id}"')
    result: list[Resource] = json.loads(text)
    return result


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(name="open_patient")
def open_patient_fixture(client: FlaskClient, rsps: responses.RequestsMock) -> Iterator[Any]:
    """`open_patient(resources, patient_id)`: an open-server session on that patient."""

    def start(resources: list[Resource], patient_id: str, **kwargs: Any) -> FakeFhir:
        fake = FakeFhir(resources, **kwargs).install(rsps)
        response = client.get("/open", query_string={"iss": OPEN_ISS, "patient": patient_id})
        assert response.status_code == 302, response.get_data(as_text=True)
        return fake

    yield start


def page(client: FlaskClient, path: str = "/patient") -> tuple[int, str, dict[str, str]]:
    response = client.get(path)
    return response.status_code, response.get_data(as_text=True), dict(response.headers)


# -- reading the HTML ----------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    """Every start tag of the page with its attributes, in document order."""
    collector = _Collector()
    collector.feed(html)
    return collector.elements


def article(html: str, check: str) -> str:
    """The HTML of the finding card for `check`."""
    start = html.index(f'id="finding-{check}"')
    start = html.rindex("<article", 0, start)
    return html[start : html.index("</article>", start)]


def finding_cards(html: str, section_id: str) -> list[dict[str, str]]:
    """The attributes of each finding card inside the section with `section_id`."""
    start = html.index(f'id="{section_id}"')
    end = html.index("</section>", start)
    return [attrs for tag, attrs in elements(html[start:end]) if tag == "article"]
