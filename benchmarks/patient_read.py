"""Requests and wall time per patient view: our batch read versus a naive client (issue 3).

    python benchmarks/patient_read.py [--fhir-base URL] [--repeat 5]

Without --fhir-base it starts the local HAPI server (hapi/run) on a free port. It seeds the
demo cohort and one generated patient with 5 years of history under a fresh identifier
system, then reads every patient both ways:

- ours: `smartapp.patient_service.fetch_patient` — one batch Bundle of searches with
  `_include` for Medications (`_count=500`), plus paging only when needed;
- naive: one search per resource type in turn at the server's default page size, following
  every `next` link, then one GET per referenced Medication (what a straightforward
  client does);
- quirks: ours with every tenant quirk that shapes searches on (Observation searches split
  by `category`, as Epic and Oracle Health need; smartapp/quirks.py): still one round trip.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.seeded import fhir_server, seed_demo_and_history
from fhir_mappings.search.population import EXPORT_TYPES
from fhir_mappings.site import load_mappings
from smartapp import patient_service as service
from smartapp.fhir import FhirClient
from smartapp.quirks import TenantQuirks

#: Every search-shaping quirk on (the launch quirks do not change the read).
ALL_QUIRKS = TenantQuirks(observation_categories=("laboratory", "social-history", "exam"))

#: One search per type the batch read reads; the Patient is read by id and the Medications
#: through the references found.
NAIVE_TYPES = tuple(t for t in EXPORT_TYPES if t not in ("Patient", "Medication"))


def naive_read(client: FhirClient, patient_id: str) -> int:
    client.read(f"Patient/{patient_id}")
    medications: set[str] = set()
    count = 1
    for rtype in NAIVE_TYPES:
        result = client.search_all(f"{rtype}?patient={patient_id}")
        count += len(result.resources)
        for resource in result.resources:
            ref = (resource.get("medicationReference") or {}).get("reference", "")
            if ref.startswith("Medication/"):
                medications.add(ref)
    for ref in sorted(medications):
        client.read(ref)
    return count + len(medications)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fhir-base")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with ExitStack() as stack:
        base = fhir_server(stack, args.fhir_base, Path("benchmarks/results"))
        ids = seed_demo_and_history(base, "bench", generator_seed=5)
        mappings = load_mappings(None)

        rows = []
        for slug, pid in sorted(ids.items(), key=lambda item: item[0].startswith("gen")):
            ours_t, naive_t, quirks_t = [], [], []
            ours_rt = naive_rt = quirks_rt = resources = 0
            for _ in range(args.repeat):
                with FhirClient(base) as client:
                    started = time.perf_counter()
                    fetched = service.fetch_patient(client, pid, mappings)
                    ours_t.append(time.perf_counter() - started)
                    ours_rt, resources = client.round_trips, len(fetched.resources)
                with FhirClient(base) as client:
                    started = time.perf_counter()
                    naive_read(client, pid)
                    naive_t.append(time.perf_counter() - started)
                    naive_rt = client.round_trips
                with FhirClient(base, dialect=ALL_QUIRKS.dialect()) as client:
                    started = time.perf_counter()
                    service.fetch_patient(client, pid, mappings)
                    quirks_t.append(time.perf_counter() - started)
                    quirks_rt = client.round_trips
            rows.append(
                (
                    slug,
                    resources,
                    ours_rt,
                    statistics.median(ours_t),
                    naive_rt,
                    statistics.median(naive_t),
                    quirks_rt,
                    statistics.median(quirks_t),
                )
            )

    print(
        f"\n{'patient':38} {'res':>4} {'ours req':>8} {'ours ms':>8} {'naive req':>9} "
        f"{'naive ms':>9} {'ratio':>6} {'quirks req':>10} {'quirks ms':>9}"
    )
    for slug, res, o_rt, o_t, n_rt, n_t, q_rt, q_t in rows:
        print(
            f"{slug:38} {res:4d} {o_rt:8d} {o_t * 1000:8.1f} {n_rt:9d} {n_t * 1000:9.1f} "
            f"{o_t / n_t:6.2f} {q_rt:10d} {q_t * 1000:9.1f}"
        )
    ours = [r[3] for r in rows]
    naive = [r[5] for r in rows]
    ours_ms = statistics.median(ours) * 1000
    naive_ms = statistics.median(naive) * 1000
    naive_requests = statistics.median([r[4] for r in rows])
    print(
        f"\nmedian over {len(rows)} patients: ours {ours_ms:.1f} ms in "
        f"{max(r[2] for r in rows)} round trip(s) at most; naive {naive_ms:.1f} ms in "
        f"{naive_requests:.0f} requests (median); time ratio ours/naive {ours_ms / naive_ms:.2f}"
    )
    quirks_ms = statistics.median([r[7] for r in rows]) * 1000
    print(
        f"with every search quirk on: {quirks_ms:.1f} ms (median) in "
        f"{max(r[6] for r in rows)} round trip(s) at most"
    )


if __name__ == "__main__":
    main()
