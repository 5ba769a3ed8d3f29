"""What a token may do on the FHIR API: scopes per type and interaction; the patient compartment.

Pure functions over parsed requests and FHIR JSON; `fhir_proxy` does the HTTP.
Interactions use the SMART v2 letters: c(reate) r(ead) u(pdate) d(elete) s(earch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fhir_mappings.ids import is_fhir_id
from sandbox_ehr.scopes import ResourceScope

INTERACTION_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")

#: Elements that place a resource in a patient's compartment (R4 CompartmentDefinition
#: "patient", plus Task.for and Provenance.target). Types not listed are not patient data
#: (Medication, Practitioner, Organization, …): patient-level scopes may read them, not write.
COMPARTMENT_LINKS: dict[str, tuple[str, ...]] = {
    "AdverseEvent": ("subject",),
    "AllergyIntolerance": ("patient",),
    "Appointment": ("participant",),
    "Basic": ("subject",),
    "BodyStructure": ("patient",),
    "CarePlan": ("subject",),
    "CareTeam": ("subject",),
    "Claim": ("patient",),
    "ClinicalImpression": ("subject",),
    "Communication": ("subject",),
    "CommunicationRequest": ("subject",),
    "Composition": ("subject",),
    "Condition": ("subject",),
    "Consent": ("patient",),
    "Coverage": ("beneficiary",),
    "DetectedIssue": ("patient",),
    "DeviceRequest": ("subject",),
    "DiagnosticReport": ("subject",),
    "DocumentReference": ("subject",),
    "Encounter": ("subject",),
    "EpisodeOfCare": ("patient",),
    "ExplanationOfBenefit": ("patient",),
    "FamilyMemberHistory": ("patient",),
    "Flag": ("subject",),
    "Goal": ("subject",),
    "ImagingStudy": ("subject",),
    "Immunization": ("patient",),
    "List": ("subject",),
    "Media": ("subject",),
    "MedicationAdministration": ("subject",),
    "MedicationDispense": ("subject",),
    "MedicationRequest": ("subject",),
    "MedicationStatement": ("subject",),
    "NutritionOrder": ("patient",),
    "Observation": ("subject",),
    "Procedure": ("subject",),
    "Provenance": ("target",),
    "QuestionnaireResponse": ("subject",),
    "RelatedPerson": ("patient",),
    "RiskAssessment": ("subject",),
    "ServiceRequest": ("subject",),
    "Specimen": ("subject",),
    "Task": ("for",),
}
#: Search parameters that pin a search to a patient.
_PATIENT_PARAMS = frozenset({"patient", "subject", "for", "beneficiary"})


class Denied(Exception):
    def __init__(self, status: int, message: str, code: str = "forbidden") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True)
class FhirCall:
    method: str
    resource_type: str | None  # None for paging through a search (`?_getpages=`)
    resource_id: str | None
    interaction: str  # one of c r u d s
    params: Mapping[str, Sequence[str]] = field(default_factory=dict)
    conditional: bool = False
    operation: str | None = None

    @property
    def is_read(self) -> bool:
        return self.interaction in ("r", "s")


@dataclass(frozen=True)
class AccessContext:
    """The token as the proxy sees it."""

    scopes: tuple[ResourceScope, ...]
    patient: str | None
    bases: tuple[str, ...]  # absolute FHIR bases whose references count as local

    def level(
        self,
        resource_type: str,
        letter: str,
        params: Mapping[str, Sequence[str]] | None = None,
        granular_ok: bool = False,
    ) -> str | None:
        """`all` (a user/system scope), `patient` (patient scopes only) or None (not allowed).

        A granular scope (`…rs?category=x`) allows a search that carries the same
        parameter value; on results (`granular_ok`) the request was checked already.
        """
        found_patient = False
        for scope in self.scopes:
            if not scope.covers(resource_type, letter):
                continue
            if scope.params and not granular_ok:
                if letter != "s" or params is None or not _params_match(scope.params, params):
                    continue
            if scope.level in ("user", "system"):
                return "all"
            found_patient = True
        return "patient" if found_patient else None


@dataclass(frozen=True)
class Plan:
    """What the proxy must still do for an allowed call under a patient-level scope."""

    prefetch: str | None = None  # "Type/id": must be in the compartment before update/delete
    presearch: str | None = None  # "Type?query": every match must be in the compartment


def _params_match(required: Sequence[tuple[str, str]], params: Mapping[str, Sequence[str]]) -> bool:
    for name, value in required:
        given = [part for v in params.get(name, ()) for part in v.split(",")]
        if not given or any(g != value for g in given):
            return False
    return True


def classify(
    method: str,
    path: str,
    params: Mapping[str, Sequence[str]],
    if_none_exist: str | None = None,
) -> FhirCall:
    """The interaction a request path makes; Denied for what the proxy does not support."""
    method = method.upper()
    segs = [s for s in path.split("/") if s]
    if not segs:
        if method == "GET" and "_getpages" in params:
            return FhirCall(method, None, None, "s", params)
        raise Denied(403, "System-level interactions are not supported by the sandbox.")
    rtype = segs[0]
    if not _TYPE.match(rtype):
        raise Denied(400, "Not a FHIR resource type.", "invalid")
    if len(segs) == 1:
        if method == "GET":
            return FhirCall(method, rtype, None, "s", params)
        if method == "POST":
            criteria = parse_qs(if_none_exist) if if_none_exist else {}
            return FhirCall(method, rtype, None, "c", criteria, conditional=bool(if_none_exist))
        if method in ("PUT", "PATCH", "DELETE"):
            if not params:
                raise Denied(400, "Conditional interactions need search criteria.", "invalid")
            letter = "d" if method == "DELETE" else "u"
            return FhirCall(method, rtype, None, letter, params, conditional=True)
        raise Denied(405, "Method not allowed.", "not-supported")
    second = segs[1]
    if len(segs) == 2 and second == "_search" and method == "POST":
        return FhirCall(method, rtype, None, "s", params)
    if len(segs) == 2 and second == "_history" and method == "GET":
        return FhirCall(method, rtype, None, "s", params)
    if second.startswith("$") or not is_fhir_id(second):
        raise Denied(403, "This operation is not supported by the sandbox.", "not-supported")
    rid = second
    if len(segs) == 2:
        letters = {"GET": "r", "PUT": "u", "PATCH": "u", "DELETE": "d"}
        if method not in letters:
            raise Denied(405, "Method not allowed.", "not-supported")
        return FhirCall(method, rtype, rid, letters[method], params)
    if method != "GET":
        raise Denied(405, "Method not allowed.", "not-supported")
    rest = segs[2:]
    if rest == ["$everything"] and rtype == "Patient":
        return FhirCall(method, rtype, rid, "r", params, operation="$everything")
    if rest[0] == "_history" and len(rest) <= 2:
        return FhirCall(method, rtype, rid, "r", params)
    raise Denied(403, "This operation is not supported by the sandbox.", "not-supported")


def reference_is_patient(ref: str, patient: str, bases: Sequence[str]) -> bool:
    """True for `Patient/<id>` (optionally absolute on a local base, optionally versioned)."""
    for base in bases:
        if ref.startswith(base + "/"):
            ref = ref[len(base) + 1 :]
            break
    if "://" in ref:
        return False
    segs = ref.split("/")
    if len(segs) == 4 and segs[2] == "_history":
        segs = segs[:2]
    return segs == ["Patient", patient]


def _references(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    refs = []
    for item in items:
        if isinstance(item, dict):
            if isinstance(item.get("reference"), str):
                refs.append(item["reference"])
            elif isinstance(item.get("actor"), dict):  # Appointment.participant
                refs.extend(_references(item["actor"]))
    return refs


def in_compartment(
    resource: Mapping[str, Any],
    patient: str,
    bases: Sequence[str],
    bundle_index: Mapping[str, Mapping[str, Any]] | None = None,
    _seen: frozenset[str] = frozenset(),
) -> bool:
    """Whether the resource is the patient or links to them.

    Inside a transaction, a link may go through another entry (`urn:uuid:…`), as a
    Provenance does when it targets the CarePlan written alongside it.
    """
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        return resource.get("id") == patient
    for element in COMPARTMENT_LINKS.get(str(rtype), ()):
        for ref in _references(resource.get(element)):
            if reference_is_patient(ref, patient, bases):
                return True
            if bundle_index and ref in bundle_index and ref not in _seen:
                target = bundle_index[ref]
                if in_compartment(target, patient, bases, bundle_index, _seen | {ref}):
                    return True
    return False


def search_limited_to_patient(
    rtype: str, params: Mapping[str, Sequence[str]], patient: str, bases: Sequence[str]
) -> bool:
    """A search of compartment data must name the patient, and only them."""
    if rtype == "Patient":
        ids = [part for v in params.get("_id", ()) for part in v.split(",")]
        return bool(ids) and all(i == patient for i in ids)
    seen = False
    for key, values in params.items():
        name, _, modifier = key.partition(":")
        if name not in _PATIENT_PARAMS:
            continue
        if modifier and modifier != "Patient":
            return False
        bare_ok = name == "patient" or modifier == "Patient"
        for value in values:
            for part in value.split(","):
                seen = True
                if not (
                    (bare_ok and part == patient) or reference_is_patient(part, patient, bases)
                ):
                    return False
    return seen


def check_call(
    call: FhirCall,
    access: AccessContext,
    body: Mapping[str, Any] | None = None,
    bundle_index: Mapping[str, Mapping[str, Any]] | None = None,
) -> Plan:
    """Allow the call (returning what the proxy must still verify) or raise Denied."""
    if call.resource_type is None:  # paging: every page is filtered like the first
        if not any("s" in s.permissions for s in access.scopes):
            raise Denied(403, "The token has no search scope.")
        return Plan()
    rtype, letter = call.resource_type, call.interaction
    if body is not None and letter in ("c", "u") and call.method != "PATCH":
        if body.get("resourceType") != rtype:
            raise Denied(400, f"The body is not a {rtype}.", "invalid")
    level = access.level(rtype, letter, call.params if letter == "s" else None)
    if level is None:
        raise Denied(403, f"The token has no scope to {INTERACTION_NAMES[letter]} {rtype}.")
    if level == "all":
        return Plan()
    patient = access.patient
    if not patient:
        raise Denied(403, "Patient-level scopes but no patient in context.")
    bases = access.bases
    if rtype == "Patient":
        if letter == "c" or call.conditional:
            raise Denied(
                403, "Patient-level scopes cannot create or conditionally change Patients."
            )
        if call.resource_id is not None and call.resource_id != patient:
            raise Denied(403, "The token is limited to the patient in context.")
        if call.resource_id is None and not search_limited_to_patient(
            rtype, call.params, patient, bases
        ):
            raise Denied(403, "Search Patient?_id=<patient in context> only.")
        return Plan()
    if rtype not in COMPARTMENT_LINKS:
        if call.is_read:
            return Plan()
        raise Denied(403, f"Patient-level scopes cannot write {rtype}.")
    if letter == "s":
        if not search_limited_to_patient(rtype, call.params, patient, bases):
            raise Denied(403, "Searches must be limited to the patient in context (patient=<id>).")
        return Plan()
    if letter == "r":
        return Plan()  # the response is checked
    if call.method == "PATCH":
        raise Denied(403, "PATCH is not available with patient-level scopes; use PUT.")
    if letter in ("c", "u"):
        if body is None or not in_compartment(body, patient, bases, bundle_index):
            raise Denied(403, f"The {rtype} must belong to the patient in context.")
    prefetch = f"{rtype}/{call.resource_id}" if call.resource_id else None
    presearch = None
    if call.conditional:
        query = urlencode([(k, v) for k, values in call.params.items() for v in values])
        presearch = f"{rtype}?{query}"
    return Plan(prefetch=prefetch, presearch=presearch)


def resource_allowed(resource: Mapping[str, Any], access: AccessContext) -> bool:
    """May the token see this resource in a response (read or search permission, compartment)?"""
    rtype = str(resource.get("resourceType"))
    if rtype == "OperationOutcome":
        return True
    levels = {access.level(rtype, letter, granular_ok=True) for letter in ("r", "s")}
    if "all" in levels:
        return True
    if "patient" not in levels or not access.patient:
        return False
    if rtype != "Patient" and rtype not in COMPARTMENT_LINKS:
        return True
    return in_compartment(resource, access.patient, access.bases)


def forbidden_outcome(message: str, code: str = "forbidden") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }


def filter_response(resource: dict[str, Any], access: AccessContext) -> dict[str, Any] | None:
    """The response with what the token may not see removed; None when nothing may be seen.

    Search and history Bundles lose the entries; in a batch-response a forbidden entry
    becomes a 403; a single resource the token may not see gives None (the proxy says 403).
    """
    if resource.get("resourceType") != "Bundle":
        return resource if resource_allowed(resource, access) else None
    entries = resource.get("entry") or []
    if resource.get("type") in ("batch-response", "transaction-response"):
        for entry in entries:
            inner = entry.get("resource")
            if not isinstance(inner, dict):
                continue
            kept = filter_response(inner, access)
            if kept is None:
                entry["resource"] = forbidden_outcome("Not allowed by the token's scopes.")
                entry["response"] = {"status": "403 Forbidden"}
        return resource
    kept_entries = [
        e
        for e in entries
        if not isinstance(e.get("resource"), dict) or resource_allowed(e["resource"], access)
    ]
    if len(kept_entries) != len(entries):
        resource["entry"] = kept_entries
    return resource


def local_path(url: str, bases: Sequence[str]) -> str:
    """A Bundle entry's request URL relative to the FHIR base."""
    for base in bases:
        if url.startswith(base + "/") or url.startswith(base + "?"):
            return url[len(base) :].lstrip("/")
    if "://" in url.partition("?")[0]:
        raise Denied(400, f"Entry URL on another server: {urlsplit(url).netloc}", "invalid")
    return url.lstrip("/")
