"""`/fhir/…`: the sandbox's FHIR endpoint, a token-enforcing proxy in front of the real server.

Every call needs a live access token whose scopes allow it (see `policy`); `metadata`
is open. Upstream URLs in responses are rewritten to the sandbox base so paging stays here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import requests
from flask import Blueprint, Response, request

from sandbox_ehr.policy import (
    AccessContext,
    Denied,
    Plan,
    check_call,
    classify,
    filter_response,
    forbidden_outcome,
    in_compartment,
    local_path,
)
from sandbox_ehr.scopes import resource_scopes
from sandbox_ehr.state import SandboxState, sandbox
from sandbox_ehr.tokens import TokenRecord

bp = Blueprint("fhir", __name__)

FHIR_JSON = "application/fhir+json"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
REQUEST_HEADERS = (
    "Accept",
    "Content-Type",
    "Prefer",
    "If-None-Exist",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "Cache-Control",
)
RESPONSE_HEADERS = ("Content-Type", "ETag", "Last-Modified", "Location", "Content-Location")
URL_HEADERS = ("Location", "Content-Location")
PRESEARCH_LIMIT = 100
SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def outcome_response(
    status: int, message: str, code: str = "forbidden", www_authenticate: str | None = None
) -> Response:
    response = Response(json.dumps(forbidden_outcome(message, code)), status, mimetype=FHIR_JSON)
    if www_authenticate:
        response.headers["WWW-Authenticate"] = www_authenticate
    return response


class _Unauthorized(Denied):
    def __init__(self, message: str, error: str | None) -> None:
        super().__init__(401, message, "login")
        self.www = 'Bearer realm="sandbox-ehr"' + (f', error="{error}"' if error else "")


def _rewriter(source: str, target: str) -> Any:
    pattern = re.compile(re.escape(source) + r"(?![A-Za-z0-9_.\-])")
    return lambda text: pattern.sub(target, text)


def _authenticate(st: SandboxState) -> TokenRecord:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _Unauthorized("A bearer access token is required.", None)
    record = st.store.access_token(token)
    if record is None or record.revoked:
        raise _Unauthorized("Unknown or revoked access token.", "invalid_token")
    if record.expires_at <= st.now():
        raise _Unauthorized("The access token has expired.", "invalid_token")
    return record


def _access(st: SandboxState, record: TokenRecord) -> AccessContext:
    return AccessContext(
        scopes=tuple(resource_scopes(record.scopes)),
        patient=record.context.patient,
        bases=(st.fhir_base, st.config.upstream_base),
    )


def _check_json_only() -> None:
    accept = request.headers.get("Accept", "")
    fmt = request.args.get("_format", "")
    if (accept and "json" not in accept and "*/*" not in accept) or (fmt and "json" not in fmt):
        raise Denied(406, "The sandbox FHIR endpoint speaks JSON only.", "not-supported")


def _json_body() -> dict[str, Any]:
    try:
        data = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Denied(400, "The body must be a FHIR JSON resource.", "invalid")
    return data


class _Upstream:
    def __init__(self, st: SandboxState) -> None:
        self.st = st
        self.base = st.config.upstream_base
        self.to_upstream = _rewriter(st.fhir_base, self.base)
        self.to_sandbox = _rewriter(self.base, st.fhir_base)

    def call(
        self,
        method: str,
        path: str,
        query: str = "",
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = f"{self.base}/{path}" if path else self.base
        if query:
            url += "?" + self.to_upstream(query)
        sent = {"Accept": FHIR_JSON, **(headers or {})}
        try:
            return self.st.http.request(
                method,
                url,
                data=self.to_upstream(body).encode() if body is not None else None,
                headers=sent,
                timeout=(5.0, self.st.config.fhir_timeout_s),
                allow_redirects=False,
            )
        except requests.RequestException as err:
            raise Denied(502, "The FHIR server did not answer.", "transient") from err

    def read_json(self, path: str, query: str = "") -> dict[str, Any] | None:
        """GET for the proxy's own checks: the resource, or None when it does not exist."""
        response = self.call("GET", path, query)
        if response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            raise Denied(502, "The FHIR server refused a check.", "transient")
        data = response.json()
        return data if isinstance(data, dict) else None

    def verify(self, plan: Plan, access: AccessContext) -> None:
        """Before a write under a patient-level scope: what it would change is the patient's."""
        patient = access.patient or ""
        if plan.prefetch:
            current = self.read_json(plan.prefetch)
            if current is not None and not in_compartment(current, patient, access.bases):
                raise Denied(403, "That resource belongs to another patient.")
        if plan.presearch:
            path, _, query = plan.presearch.partition("?")
            found = self.read_json(path, f"{query}&_count={PRESEARCH_LIMIT}") or {}
            matches = [e.get("resource") or {} for e in found.get("entry") or []]
            if len(matches) >= PRESEARCH_LIMIT or any(
                not in_compartment(m, patient, access.bases)
                for m in matches
                if m.get("resourceType") != "OperationOutcome"
            ):
                raise Denied(403, "The conditional criteria match another patient's data.")

    def respond(self, response: requests.Response, access: AccessContext | None) -> Response:
        """The upstream response for the app: URLs rewritten, filtered when `access` is given."""
        ctype = response.headers.get("Content-Type", "")
        status = response.status_code
        body: str | bytes = response.content
        if "json" in ctype:
            text = self.to_sandbox(response.text)
            if access is not None and status == 200:
                kept = filter_response(json.loads(text), access)
                if kept is None:
                    raise Denied(403, "The token does not allow reading this resource.")
                text = json.dumps(kept)
            body = text
        elif access is not None and status == 200:
            raise Denied(502, "The FHIR server did not answer JSON.", "transient")
        out = Response(body, status)
        for name in RESPONSE_HEADERS:
            value = response.headers.get(name)
            if value:
                out.headers[name] = self.to_sandbox(value) if name in URL_HEADERS else value
        return out


def _forward_headers() -> dict[str, str]:
    return {name: request.headers[name] for name in REQUEST_HEADERS if name in request.headers}


@bp.route("/fhir", defaults={"path": ""}, methods=METHODS, strict_slashes=False)
@bp.route("/fhir/<path:path>", methods=METHODS)
def proxy(path: str) -> Response:
    st = sandbox()
    upstream = _Upstream(st)
    path = path.strip("/")
    try:
        if path == "metadata" and request.method == "GET":
            return _metadata(st, upstream)
        access = _access(st, _authenticate(st))
        _check_json_only()
        if not path and request.method == "POST":
            return _bundle(upstream, access)
        params: dict[str, list[str]] = {k: request.args.getlist(k) for k in request.args}
        body = None
        if path.endswith("/_search") and request.method == "POST":
            for key, values in parse_qs(request.get_data(as_text=True)).items():
                params.setdefault(key, []).extend(values)
        elif request.method in ("POST", "PUT"):
            body = _json_body()
        call = classify(request.method, path, params, request.headers.get("If-None-Exist"))
        plan = check_call(call, access, body)
        upstream.verify(plan, access)
        response = upstream.call(
            request.method,
            path,
            request.query_string.decode(),
            request.get_data(as_text=True) if request.method != "GET" else None,
            _forward_headers(),
        )
        return upstream.respond(response, access if call.is_read else None)
    except _Unauthorized as err:
        return outcome_response(err.status, err.message, err.code, err.www)
    except Denied as err:
        return outcome_response(err.status, err.message, err.code)


def _bundle(upstream: _Upstream, access: AccessContext) -> Response:
    """batch/transaction: every entry is checked; a transaction fails whole, a batch per entry."""
    bundle = _json_body()
    kind = bundle.get("type")
    if bundle.get("resourceType") != "Bundle" or kind not in ("batch", "transaction"):
        raise Denied(400, "POST to the base takes a batch or transaction Bundle.", "invalid")
    entries: list[dict[str, Any]] = bundle.get("entry") or []
    index = {
        e["fullUrl"]: e["resource"]
        for e in entries
        if isinstance(e.get("fullUrl"), str) and isinstance(e.get("resource"), dict)
    }
    denied: dict[int, Denied] = {}
    for i, entry in enumerate(entries):
        try:
            req = entry.get("request") or {}
            path, _, query = local_path(str(req.get("url", "")), access.bases).partition("?")
            call = classify(
                str(req.get("method", "")), path, parse_qs(query), req.get("ifNoneExist")
            )
            plan = check_call(call, access, entry.get("resource"), index)
            upstream.verify(plan, access)
        except Denied as refused:
            if kind == "transaction":
                message = f"Bundle entry {i}: {refused.message}"
                raise Denied(refused.status, message, refused.code) from refused
            denied[i] = refused
    kept = [e for i, e in enumerate(entries) if i not in denied]
    if kept:
        sent = {**bundle, "entry": kept}
        response = upstream.call("POST", "", "", json.dumps(sent), _forward_headers())
        if response.status_code != 200 or not denied:
            return upstream.respond(response, access)
        result = json.loads(upstream.to_sandbox(response.text))
    else:
        result = {"resourceType": "Bundle", "type": "batch-response", "entry": []}
    answered = iter(result.get("entry") or [])
    merged = []
    for i in range(len(entries)):
        if i in denied:
            refusal = denied[i]
            merged.append(
                {
                    "resource": forbidden_outcome(refusal.message, refusal.code),
                    "response": {"status": str(refusal.status)},
                }
            )
        else:
            merged.append(next(answered, {"response": {"status": "500"}}))
    result["entry"] = merged
    kept_result = filter_response(result, access) or result
    return Response(json.dumps(kept_result), 200, mimetype=FHIR_JSON)


def _metadata(st: SandboxState, upstream: _Upstream) -> Response:
    """The upstream CapabilityStatement, open to all, advertising the sandbox's OAuth endpoints."""
    response = upstream.call("GET", "metadata", request.query_string.decode())
    if response.status_code != 200 or "json" not in response.headers.get("Content-Type", ""):
        return upstream.respond(response, None)
    statement = json.loads(upstream.to_sandbox(response.text))
    security = {
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "extension": [
            {
                "url": SMART_OAUTH_URIS,
                "extension": [
                    {"url": "authorize", "valueUri": st.authorize_url},
                    {"url": "token", "valueUri": st.token_url},
                ],
            }
        ],
    }
    for rest in statement.get("rest") or []:
        rest["security"] = security
    return Response(json.dumps(statement), 200, mimetype=FHIR_JSON)


@dataclass(frozen=True)
class PatientRow:
    id: str
    name: str
    birth_date: str
    gender: str


def _display_name(patient: Mapping[str, Any]) -> str:
    for name in patient.get("name") or []:
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    return "(no name)"


def upstream_patients(st: SandboxState, limit: int = 100) -> list[PatientRow]:
    """Patients on the upstream server, for the pickers (the sandbox itself needs no token)."""
    response = _Upstream(st).call("GET", "Patient", f"_count={limit}&_sort=family")
    if response.status_code != 200:
        raise Denied(502, "The FHIR server refused to list patients.", "transient")
    rows = []
    for entry in response.json().get("entry") or []:
        res = entry.get("resource") or {}
        if res.get("resourceType") == "Patient" and res.get("id"):
            rows.append(
                PatientRow(
                    id=str(res["id"]),
                    name=_display_name(res),
                    birth_date=str(res.get("birthDate", "")),
                    gender=str(res.get("gender", "")),
                )
            )
    return rows
