"""The FHIR searches that read one patient: one batch Bundle, SPEC §5 "at most 2 round trips".

Pure data: relative URLs with their record area (so a failed search marks the right area
incomplete); the HTTP client runs them. Codes are `system|code` tokens joined by commas
(OR); each token is percent-encoded (`|` as %7C; `:` and `/` may stay, they are legal in a
query). `identifier=<system>|` with an empty code is valid FHIR token search: any
identifier in that system (FHIR R4 search, token parameters).
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import quote

from fhir_mappings.canonical import CAREPLAN_IDENTIFIER_SYSTEM, TASK_IDENTIFIER_SYSTEM
from fhir_mappings.read.labs import LAB_VALUESETS
from fhir_mappings.site import Mappings

PAGE = 500  # the public HAPI server's maximum page size (hapi-server.md §5)


class SearchSpec(NamedTuple):
    area: str
    url: str


def _token(system: str, code: str = "") -> str:
    return quote(f"{system}|{code}", safe=":/")


def _codes(mappings: Mappings, *valuesets: str) -> str:
    tokens = dict.fromkeys(_token(c.system, c.code) for c in mappings.codes(*valuesets))
    return ",".join(tokens)


def patient_searches(patient_id: str, mappings: Mappings) -> list[SearchSpec]:
    """The searches for one patient's record, in the order the areas are read."""
    patient = quote(patient_id, safe="")
    lab_codes = _codes(mappings, *LAB_VALUESETS)
    return [
        SearchSpec("patient", f"Patient/{patient}"),
        SearchSpec("labs", f"Observation?patient={patient}&code={lab_codes}&_count={PAGE}"),
        SearchSpec(
            "labs",
            f"DiagnosticReport?patient={patient}&code={_codes(mappings, 'cbc-panel')}"
            f"&_count={PAGE}",
        ),
        SearchSpec(
            "doses",
            f"MedicationAdministration?patient={patient}"
            f"&_include=MedicationAdministration:medication&_count={PAGE}",
        ),
        SearchSpec(
            "orders",
            f"MedicationRequest?patient={patient}"
            f"&_include=MedicationRequest:medication&_count={PAGE}",
        ),
        # Home therapy (SPEC §2): the pharmacy's dispenses and the patient's statements.
        SearchSpec(
            "doses",
            f"MedicationDispense?patient={patient}"
            f"&_include=MedicationDispense:medication&_count={PAGE}",
        ),
        SearchSpec(
            "doses",
            f"MedicationStatement?patient={patient}"
            f"&_include=MedicationStatement:medication&_count={PAGE}",
        ),
        SearchSpec("vaccinations", f"Immunization?patient={patient}&_count={PAGE}"),
        SearchSpec("conditions", f"Condition?patient={patient}&_count={PAGE}"),
        SearchSpec("allergies", f"AllergyIntolerance?patient={patient}&_count={PAGE}"),
        SearchSpec(
            "imaging",
            f"DiagnosticReport?patient={patient}&code={_codes(mappings, 'brain-mri')}"
            f"&_count={PAGE}",
        ),
        SearchSpec("imaging", f"ImagingStudy?patient={patient}&_count={PAGE}"),
        SearchSpec(
            "imaging",
            f"Procedure?patient={patient}&code={_codes(mappings, 'brain-mri')}&_count={PAGE}",
        ),
        SearchSpec(
            "tasks",
            f"Task?patient={patient}&identifier={_token(TASK_IDENTIFIER_SYSTEM)}&_count={PAGE}",
        ),
        SearchSpec(
            "tasks",
            f"CarePlan?patient={patient}&identifier={_token(CAREPLAN_IDENTIFIER_SYSTEM)}"
            f"&_count={PAGE}",
        ),
    ]
