"""The draft orders the sandbox's CDS client page can send (test and demo data).

Coded as an EHR might: ofatumumab by ATC (L04AG12) and NDC, vaccines by CVX (terminology
from the Kesimpta label, CDC CVX: 03 MMR, live; 187 recombinant zoster, non-live).
"""

from __future__ import annotations

from datetime import date
from typing import Any

ATC = "http://www.whocc.no/atc"
NDC = "http://hl7.org/fhir/sid/ndc"
CVX = "http://hl7.org/fhir/sid/cvx"
SNOMED = "http://snomed.info/sct"

#: key -> (label on the page, medication concept)
DRAFT_ORDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ofatumumab": (
        "Kesimpta (ofatumumab) 20 mg pen, subcutaneous",
        {
            "coding": [
                {"system": NDC, "code": "0078-1007-68", "display": "Kesimpta 20 mg/0.4 mL pen"},
                {"system": ATC, "code": "L04AG12", "display": "ofatumumab"},
            ],
            "text": "Kesimpta 20 mg/0.4 mL pen",
        },
    ),
    "mmr": (
        "MMR vaccine (live)",
        {"coding": [{"system": CVX, "code": "03", "display": "MMR"}], "text": "MMR vaccine"},
    ),
    "shingrix": (
        "Shingrix (recombinant zoster, non-live)",
        {
            "coding": [{"system": CVX, "code": "187", "display": "zoster recombinant"}],
            "text": "Shingrix",
        },
    ),
}


def draft_order(key: str, patient_id: str, today: date | None = None) -> dict[str, Any]:
    """A draft MedicationRequest for `key` (one of DRAFT_ORDERS), written today."""
    _, concept = DRAFT_ORDERS[key]
    order: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": f"draft-{key}",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": (today or date.today()).isoformat(),
        "medicationCodeableConcept": concept,
    }
    if key == "ofatumumab":
        order["dosageInstruction"] = [
            {
                "text": "20 mg subcutaneously",
                "route": {
                    "coding": [{"system": SNOMED, "code": "34206005"}],
                    "text": "Subcutaneous",
                },
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": 20,
                            "unit": "mg",
                            "system": "http://unitsofmeasure.org",
                            "code": "mg",
                        }
                    }
                ],
            }
        ]
    return order
