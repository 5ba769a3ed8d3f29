"""Load demo or generated patients onto a FHIR server, one transaction per patient.

`smartapp seed` calls `seed(client, demo_bundles(anchor, identifier_system=…))`. Each
Bundle is posted with `client.transaction(bundle)`; the transaction-response entry
statuses are counted (201 created, 200 updated). One failing patient is recorded with its
slug and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from smartapp.demo.bundles import patient_key
from smartapp.demo.fhir_builders import Resource


class TransactionClient(Protocol):
    """What `seed` needs from `smartapp.fhir.FhirClient`."""

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PatientResult:
    patient: str
    created: int = 0
    updated: int = 0
    #: Entries whose response status was neither 201 nor 200 (e.g. 204, 304).
    other: int = 0
    error: str | None = None


@dataclass
class SeedReport:
    patients: int = 0
    created: int = 0
    updated: int = 0
    other: int = 0
    #: (patient slug, one-line reason) for each patient whose transaction failed.
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def loaded(self) -> int:
        return self.patients - len(self.errors)

    def describe(self) -> str:
        """One line for the terminal: loaded, created, updated, failed (with slugs)."""
        text = (
            f"{self.loaded} of {self.patients} patients loaded: "
            f"{self.created} resources created, {self.updated} updated"
        )
        if self.other:
            text += f", {self.other} other"
        if self.errors:
            text += f"; {len(self.errors)} failed: " + ", ".join(p for p, _ in self.errors)
        return text


def seed(
    client: TransactionClient,
    bundles: Iterable[Resource],
    *,
    on_result: Callable[[PatientResult], None] | None = None,
) -> SeedReport:
    """Post each transaction Bundle; count created/updated entries; collect errors."""
    report = SeedReport()
    for number, bundle in enumerate(bundles, start=1):
        result = _post(client, bundle, patient_key(bundle) or f"bundle #{number}")
        report.patients += 1
        report.created += result.created
        report.updated += result.updated
        report.other += result.other
        if result.error is not None:
            report.errors.append((result.patient, result.error))
        if on_result is not None:
            on_result(result)
    return report


def _post(client: TransactionClient, bundle: Resource, patient: str) -> PatientResult:
    try:
        response = client.transaction(bundle)
    except Exception as err:  # any client or server failure is this patient's error, not fatal
        return PatientResult(patient, error=_one_line(f"{type(err).__name__}: {err}"))
    if not isinstance(response, dict) or response.get("resourceType") != "Bundle":
        kind = response.get("resourceType") if isinstance(response, dict) else type(response)
        return PatientResult(patient, error=f"unexpected response: {kind}")
    created = updated = other = 0
    for entry in response.get("entry", []):
        code = _status_code(entry.get("response", {}).get("status", ""))
        if code == 201:
            created += 1
        elif code == 200:
            updated += 1
        else:
            other += 1
    expected = len(bundle.get("entry", []))
    got = len(response.get("entry", []))
    if got != expected:
        return PatientResult(
            patient, created, updated, other, error=f"{got} responses for {expected} entries"
        )
    return PatientResult(patient, created, updated, other)


def _status_code(status: str) -> int | None:
    head = status.strip().split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
