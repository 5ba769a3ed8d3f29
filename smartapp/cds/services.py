"""The three CDS services and the discovery document (CDS Hooks 2.0 "Discovery")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smartapp.cds.prefetch import PrefetchTemplate, discovery_prefetch


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str

    @property
    def orders(self) -> bool:
        """An order hook: `context.draftOrders` holds what is being ordered."""
        return self.hook in ("order-select", "order-sign")


PATIENT_VIEW = Service(
    id="ofatumumab-patient-view",
    hook="patient-view",
    title="Ofatumumab (Kesimpta) safety: chart review",
    description=(
        "For patients on or planned for ofatumumab: the safety alerts, overdue and due "
        "monitoring (hepatitis B, immunoglobulins, doses, vaccines, MRI, pregnancy) of the "
        "app's checks, with the evidence and the label section behind each."
    ),
)
ORDER_SELECT = Service(
    id="ofatumumab-order-select",
    hook="order-select",
    title="Ofatumumab (Kesimpta) safety: order selected",
    description=(
        "When ofatumumab is selected: contraindications and missing baselines, counting the "
        "order as given today. When a vaccine is selected for a patient on ofatumumab or "
        "within B-cell repletion: a live vaccine is a critical card."
    ),
)
ORDER_SIGN = Service(
    id="ofatumumab-order-sign",
    hook="order-sign",
    title="Ofatumumab (Kesimpta) safety: orders to sign",
    description=(
        "Before signing: ofatumumab orders are checked for contraindications and missing "
        "baselines, vaccine orders for live vaccines during therapy or B-cell repletion, "
        "counting each draft order as given on its date."
    ),
)
SERVICES: tuple[Service, ...] = (PATIENT_VIEW, ORDER_SELECT, ORDER_SIGN)
SERVICES_BY_ID: dict[str, Service] = {service.id: service for service in SERVICES}


def discovery_document(templates: Sequence[PrefetchTemplate]) -> dict[str, Any]:
    prefetch = discovery_prefetch(templates)
    return {
        "services": [
            {
                "hook": service.hook,
                "title": service.title,
                "description": service.description,
                "id": service.id,
                "prefetch": prefetch,
                "usageRequirements": (
                    "Register the EHR as a CDS client (SMARTAPP_CDS_CLIENTS) and send a "
                    "signed JWT with every call. Send the prefetch, or fhirServer (on the "
                    "app's SMARTAPP_ISSUERS allowlist) with fhirAuthorization granting "
                    "patient-level read of the prefetch resource types."
                ),
            }
            for service in SERVICES
        ]
    }
