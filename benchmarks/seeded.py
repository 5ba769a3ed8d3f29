"""What the per-patient benchmarks share: a FHIR server, and the demo cohort plus one
patient with 5 years of history seeded into it under a fresh identifier system (through
the tests' `seed_cohort`)."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from smartapp.demo.bundles import demo_bundles, demo_system
from smartapp.demo.generator import generate_cohort
from smartapp.fhir import FhirClient
from tests.support.seeded import seed_cohort


def fhir_server(stack: ExitStack, base: str | None, log_dir: Path) -> str:
    """`base` (a running server), or a local HAPI (hapi/run) started for this run."""
    if base:
        return base
    from tests.support.servers import hapi_server

    print("starting HAPI (hapi/run)...", flush=True)
    started: str = stack.enter_context(hapi_server(log_dir))
    return started


def seed_demo_and_history(base: str, tag: str, *, generator_seed: int) -> dict[str, str]:
    """Seed the demo cohort and one generated patient with 5 years of history under a new
    identifier system named after `tag`; returns {identifier value (the demo slug, or
    `gen-…`): Patient id}."""
    anchor = date.today()
    system = demo_system(f"{tag}-{uuid.uuid4().hex[:8]}")
    bundles = [*demo_bundles(anchor, identifier_system=system)]
    bundles += list(
        generate_cohort(1, anchor, seed=generator_seed, years=(5, 5), identifier_system=system)
    )
    with FhirClient(base) as client:
        return seed_cohort(client, system, anchor, bundles).patient_ids
