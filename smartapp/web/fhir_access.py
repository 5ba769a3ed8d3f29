"""What every feature reads with: the mappings and rule settings in force, and a FHIR
client that is closed after the work (it renews a refused token once itself; see
`smartapp.launch.context.fhir_client_for`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fhir_mappings.site import Mappings
from smartapp.fhir import FhirClient
from smartapp.launch.state import launch_state
from smartapp.rules.settings import RuleSettings

T = TypeVar("T")


def app_mappings() -> Mappings:
    """The mappings in force (`AppConfig.mappings`, parsed once by load_config)."""
    return launch_state().config.mappings


def rule_settings() -> RuleSettings:
    """The rule settings in force (`AppConfig.rules`)."""
    return launch_state().config.rules


def run_with(client: FhirClient, work: Callable[[FhirClient], T]) -> T:
    """`work(client)`, then the client is closed whatever happened."""
    try:
        return work(client)
    finally:
        client.close()
