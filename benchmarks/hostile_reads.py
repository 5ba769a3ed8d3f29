"""Bounded FHIR reads before and after (issue 12): seconds held by a dripping server and
peak memory for a huge answer.

    python benchmarks/hostile_reads.py [--drip-limit 60] [--huge-mb 300]

A hostile server on 127.0.0.1 (tests/support/hostile_fhir.py) answers the patient batch:

- drip: the body one byte per second (the server gives up after --drip-limit s).
  before = what the app did: `requests` with a 20 s per-read timeout, which never fires
  for a server that keeps sending; after = `FhirClient` with the default
  SMARTAPP_FHIR_DEADLINE (30 s) for the whole read.
- huge: a --huge-mb MB Bundle without Content-Length, read in a fresh child process each
  time so its peak RSS is its own. before = body read whole, then parsed; after =
  `FhirClient` with the default SMARTAPP_FHIR_MAX_BYTES (50 MB).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from smartapp.fhir import FhirClient, FhirError, ReadLimits  # noqa: E402
from tests.support.hostile_fhir import HostileFhir  # noqa: E402

PER_READ_TIMEOUT_S = 20.0


def _before(base: str) -> str:
    import requests

    body = {"resourceType": "Bundle", "type": "batch", "entry": []}
    try:
        reply = requests.post(base, json=body, timeout=PER_READ_TIMEOUT_S)
        reply.json()
    except requests.RequestException as err:
        return f"server hung up first: {type(err).__name__}"
    except ValueError:
        return "read whole (not JSON)"
    return "read whole"


def _after(base: str) -> str:
    with FhirClient(base, limits=ReadLimits.start(30.0)) as client:
        try:
            result = client.batch_search([("labs", "Observation?patient=p1")])
        except FhirError as err:
            return f"stopped: {str(err)[:90]}"
    return f"incomplete: {sorted(result.failed_areas)} {result.problems[:1]}"[:120]


def child(variant: str, base: str) -> None:
    """One read in this (child) process; prints seconds, peak RSS MB and the outcome."""
    started = time.monotonic()
    outcome = _before(base) if variant == "before" else _after(base)
    seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 1), "peak_mb": round(peak_mb), "outcome": outcome}))


def _run(variant: str, base: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", variant, base],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drip-limit", type=float, default=60.0)
    parser.add_argument("--huge-mb", type=int, default=300)
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "BASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = []
    with HostileFhir() as server:
        server.mode, server.drip_interval_s, server.drip_limit_s = "drip", 1.0, args.drip_limit
        for variant in ("before", "after"):
            rows.append(("drip", variant, _run(variant, server.base)))
        server.mode, server.huge_bytes = "huge", args.huge_mb * 1024 * 1024
        for variant in ("before", "after"):
            rows.append((f"huge {args.huge_mb} MB", variant, _run(variant, server.base)))
    print("| case | variant | seconds | peak RSS (MB) | outcome |")
    print("|---|---|---|---|---|")
    for case, variant, row in rows:
        print(f"| {case} | {variant} | {row['seconds']} | {row['peak_mb']} | {row['outcome']} |")


if __name__ == "__main__":
    main()
