"""A fake Bulk Data server that behaves like the SMART reference one, on a real socket.

What it imitates (https://github.com/smart-on-fhir/bulk-data-server; docs/connecting.md),
each behaviour switchable in `BulkBehaviour`:
- a fixed set of resource types (the reference set has no MedicationAdministration,
  Medication, MedicationStatement or Task); a kick-off naming another type answers 400
  with an OperationOutcome naming it; the CapabilityStatement may or may not list them;
- the FHIR base is `/<sim>/fhir`, and output files live on the same origin but under
  another segment: `/<files>/fhir/bulkfiles/<job>/<n>.<Type>.ndjson`;
- status polls: transient 500s (OperationOutcome code `transient`), 429 with
  `Retry-After: 1`, 202 with `X-Progress`, then the manifest;
- files that expire (410) the first time they are asked for, an error file with a
  warning, `requiresAccessToken` true or false;
- SMART Backend Services: a `.well-known` without PKCE methods or grant types, a token
  endpoint that checks the private_key_jwt assertion against the app's JWKS and refuses
  (`invalid_scope`) scopes naming types it lacks or asking to write;
- the Bulk Data delete request.
Every request is recorded (method, path, whether a bearer token came with it).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.serving import make_server

from tests.support.servers import free_port

Resource = dict[str, Any]

#: The reference server's types (its README), plus Medication-free R4 basics we need.
REFERENCE_TYPES = frozenset(
    {
        "AllergyIntolerance",
        "CarePlan",
        "CareTeam",
        "Claim",
        "Condition",
        "Device",
        "DiagnosticReport",
        "DocumentReference",
        "Encounter",
        "ExplanationOfBenefit",
        "Group",
        "ImagingStudy",
        "Immunization",
        "MedicationRequest",
        "Observation",
        "Organization",
        "Patient",
        "Practitioner",
        "Procedure",
    }
)
SIM = "eyJzaW0iOjF9"
FILES = "eyJpZCI6ImZpbGVzIn0"
#: Resources per output file: several files per type exercise the per-type grouping.
PER_FILE = 40


@dataclass
class BulkBehaviour:
    types: frozenset[str] = REFERENCE_TYPES
    metadata_lists_types: bool = True
    transient_polls: int = 0
    busy_polls: int = 0
    progress_polls: int = 1
    expire_first_file: bool = False
    requires_token: bool = True
    error_file: bool = False
    #: The app's public JWKS: Backend Services required (a token on every FHIR request).
    client_jwks: Mapping[str, Any] | None = None
    #: Serve output files from this other server's origin (set by `storage_for`).
    file_origin: str | None = None


@dataclass
class _Job:
    types: list[str]
    polls: int = 0
    deleted: bool = False


@dataclass
class FakeBulkServer:
    resources: list[Resource]
    behaviour: BulkBehaviour = field(default_factory=BulkBehaviour)
    origin: str = ""
    #: (method, path, sent a bearer token)
    requests: list[tuple[str, str, bool]] = field(default_factory=list)
    jobs: dict[str, _Job] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"{self.origin}/{SIM}/fhir"

    def paths(self, method: str = "GET") -> list[str]:
        return [path for m, path, _ in self.requests if m == method]

    # -- the app ------------------------------------------------------------------------------

    def app(self) -> Flask:
        app = Flask("fake-bulk-server")
        app.before_request(self._record)
        app.add_url_rule(
            f"/{SIM}/fhir/.well-known/smart-configuration", view_func=self._smart_configuration
        )
        app.add_url_rule("/auth/token", view_func=self._token, methods=["POST"])
        app.add_url_rule(f"/{SIM}/fhir/metadata", view_func=self._metadata)
        app.add_url_rule(f"/{SIM}/fhir/$export", view_func=self._kick_off)
        app.add_url_rule(f"/{SIM}/fhir/Group/<group>/$export", view_func=self._kick_off)
        app.add_url_rule(
            f"/{SIM}/fhir/job/<job_id>", view_func=self._status, methods=["GET", "DELETE"]
        )
        app.add_url_rule(f"/{FILES}/fhir/bulkfiles/<job_id>/<name>", view_func=self._file)
        return app

    def _record(self) -> None:
        sent = request.headers.get("Authorization", "").startswith("Bearer ")
        with self._lock:
            self.requests.append((request.method, request.full_path.rstrip("?"), sent))

    def _authorised(self) -> bool:
        if self.behaviour.client_jwks is None:
            return True
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.tokens

    # -- SMART Backend Services ------------------------------------------------------------

    def _smart_configuration(self) -> Response:
        return _json(
            {
                "token_endpoint": f"{self.origin}/auth/token",
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                "scopes_supported": [
                    "system/*.rs",
                    *sorted(f"system/{t}.rs" for t in self.behaviour.types),
                ],
                "capabilities": [
                    "permission-v2",
                    "permission-v1",
                    "client-confidential-asymmetric",
                ],
            }
        )

    def _token(self) -> Response:
        form = request.form
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", "client_credentials only")
        try:
            jwks = KeySet.import_key_set(dict(self.behaviour.client_jwks or {}))
            token = jwt.decode(
                form.get("client_assertion", ""), jwks, algorithms=["RS384", "ES384"]
            )
        except Exception:
            return _oauth_error("invalid_client", "the client assertion could not be verified", 401)
        if token.claims.get("aud") != f"{self.origin}/auth/token":
            return _oauth_error("invalid_client", "wrong aud", 401)
        scopes = form.get("scope", "").split()
        for scope in scopes:
            level, _, rest = scope.partition("/")
            rtype, _, perms = rest.partition(".")
            if level != "system":
                return _oauth_error("invalid_scope", f'Only system-level scopes ("{scope}")')
            writes = perms in ("write", "*") or (
                perms != "read" and any(letter in perms for letter in "cud")
            )
            if writes:
                return _oauth_error(
                    "invalid_scope", f'Cannot grant permissions to write, requested by "{scope}"'
                )
            if rtype != "*" and rtype not in self.behaviour.types:
                return _oauth_error(
                    "invalid_scope",
                    f'Resources of type "{rtype}" do not exist on this server '
                    f'(requested by scope "{scope}")',
                )
        access = secrets.token_urlsafe(24)
        self.tokens.add(access)
        return _json(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": 300,
                "scope": " ".join(scopes),
            }
        )

    # -- the Bulk Data API -----------------------------------------------------------------------

    def _metadata(self) -> Response:
        rest: Resource = {"mode": "server"}
        if self.behaviour.metadata_lists_types:
            rest["resource"] = [{"type": t} for t in sorted(self.behaviour.types)]
        return _json({"resourceType": "CapabilityStatement", "status": "active", "rest": [rest]})

    def _kick_off(self, group: str | None = None) -> Response:
        if not self._authorised():
            return _outcome("Not authorized", 401)
        if request.headers.get("Prefer") != "respond-async":
            return _outcome("The Prefer header must be respond-async", 400)
        wanted = [t for t in request.args.get("_type", "").split(",") if t]
        for rtype in wanted:
            if rtype not in self.behaviour.types:
                return _outcome(
                    f'The requested resource type "{rtype}" is not available on this server', 400
                )
        job_id = secrets.token_hex(6)
        self.jobs[job_id] = _Job(wanted or sorted(self.behaviour.types))
        response = Response(status=202)
        response.headers["Content-Location"] = f"{self.base}/job/{job_id}"
        return response

    def _status(self, job_id: str) -> Response:
        job = self.jobs.get(job_id)
        if job is None or job.deleted:
            return _outcome("The export was not found", 404)
        if request.method == "DELETE":
            job.deleted = True
            return Response(status=202)
        if not self._authorised():
            return _outcome("Not authorized", 401)
        job.polls += 1
        b = self.behaviour
        if job.polls <= b.transient_polls:
            return _outcome(
                "An unknown error occurred (transient_error). Please try again.", 500, "transient"
            )
        if job.polls <= b.transient_polls + b.busy_polls:
            response = _outcome("Too many requests", 429)
            response.headers["Retry-After"] = "1"
            return response
        if job.polls <= b.transient_polls + b.busy_polls + b.progress_polls:
            response = Response(status=202)
            response.headers["X-Progress"] = "50% complete"
            response.headers["Retry-After"] = "1"
            return response
        return _json(self._manifest(job_id, job))

    def _manifest(self, job_id: str, job: _Job) -> Resource:
        origin = self.behaviour.file_origin or self.origin
        output = []
        for rtype in job.types:
            matching = [r for r in self.resources if r["resourceType"] == rtype]
            for n in range(0, len(matching), PER_FILE):
                name = f"{n // PER_FILE + 1}.{rtype}.ndjson"
                output.append(
                    {"type": rtype, "url": f"{origin}/{FILES}/fhir/bulkfiles/{job_id}/{name}"}
                )
        errors = []
        if self.behaviour.error_file:
            errors.append(
                {
                    "type": "OperationOutcome",
                    "url": f"{origin}/{FILES}/fhir/bulkfiles/{job_id}/errors.ndjson",
                }
            )
        return {
            "transactionTime": "2026-11-24T08:00:00Z",
            "request": f"{self.base}/$export",
            "requiresAccessToken": self.behaviour.requires_token,
            "output": output,
            "error": errors,
        }

    def _file(self, job_id: str, name: str) -> Response:
        return self.serve_file(job_id, name)

    def serve_file(self, job_id: str, name: str) -> Response:
        if self.behaviour.requires_token and not self._authorised():
            return _outcome("Not authorized", 401)
        first_file = name.startswith("1.")
        if self.behaviour.expire_first_file and first_file and not self.expired:
            self.expired.add(name)
            return _outcome(
                "Access to the target resource is no longer available at the server and this "
                "condition is likely to be permanent because the file expired",
                410,
            )
        if name == "errors.ndjson":
            warning = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "warning",
                        "code": "processing",
                        "diagnostics": "_elements ignored",
                    }
                ],
            }
            return Response(json.dumps(warning) + "\n", mimetype="application/fhir+ndjson")
        index, rtype, _ = name.split(".", 2)
        matching = [r for r in self.resources if r["resourceType"] == rtype]
        start = (int(index) - 1) * PER_FILE
        lines = "".join(json.dumps(r) + "\n" for r in matching[start : start + PER_FILE])
        return Response(lines, mimetype="application/fhir+ndjson")


def _json(body: Resource, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _outcome(text: str, status: int, code: str = "processing") -> Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    return Response(json.dumps(body), status=status, mimetype="application/fhir+json")


def _oauth_error(code: str, description: str, status: int = 400) -> Response:
    return _json({"error": code, "error_description": description}, status)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """`app` on a free loopback port in a thread; yields its origin."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def bulk_server(
    resources: list[Resource], behaviour: BulkBehaviour | None = None
) -> Iterator[FakeBulkServer]:
    """A running `FakeBulkServer`."""
    fake = FakeBulkServer(resources, behaviour or BulkBehaviour())
    with serving(fake.app()) as origin:
        fake.origin = origin
        yield fake


@contextmanager
def storage_for(fake: FakeBulkServer) -> Iterator[str]:
    """A second origin that serves `fake`'s files (signed-URL storage); sets
    `file_origin` so the manifest points there. Yields the storage origin."""
    storage = Flask("fake-bulk-storage")
    storage.before_request(fake._record)
    storage.add_url_rule(f"/{FILES}/fhir/bulkfiles/<job_id>/<name>", view_func=fake.serve_file)
    with serving(storage) as origin:
        fake.behaviour.file_origin = origin
        yield origin
