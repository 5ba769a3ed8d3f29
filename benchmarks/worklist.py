"""The worklist at population scale: requests and wall time by search and by `$export`.

    python benchmarks/worklist.py [--fhir-base URL] [--sizes 100,1000,5000]

Without `--fhir-base`, starts the local HAPI FHIR server (`hapi/run`) on a free port and
stops it at the end (about a minute to start). Then, for each size in increasing order,
loads generated patients up to that size (`smartapp.demo.generate_cohort`'s patients,
index-stable, so 1,000 includes the first 100), and measures the worklist:

- search: the population searches, then one batch of multi-patient searches per chunk
  of 50 patients, plus paging (SPEC §5: requests ∝ patients ÷ page size);
- export: system-level `$export` streamed into the same evaluation (HAPI's fixed
  `Retry-After: 120` starts as 2 s polls that grow to it, see
  `smartapp.worklist.pacing`).

Seeding uses transactions of plain `PUT Type/id` (several patients per transaction, two
in flight) because per-patient conditional updates (`smartapp seed`) take about a second
a patient on HAPI/H2. Use a server you can fill: the patients stay. On a shared server
the population includes everyone else's ofatumumab patients too.

Each measurement runs in a fresh process, so the client CPU time and peak RSS it reports
are that path's own.

HAPI's test configuration keeps its H2 database in memory, inside the JVM heap: 5,000
generated patients (about 450,000 resources) need `HAPI_JAVA_OPTS=-Xmx12g` (with the
default 1 GB, seeding slows to a crawl in garbage collection after ~2,000 patients), and
H2 slows down as it fills (benchmarks/results/worklist.md). For 5,000, run HAPI on
PostgreSQL and point the benchmark at it:

    HAPI_JAVA_OPTS="-Xmx6g -XX:+UseParallelGC" \
        hapi/run --port 8090 --postgres jdbc:postgresql://localhost:5432/hapi &
    python benchmarks/worklist.py --fhir-base http://localhost:8090/fhir
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fhir_mappings.site import load_mappings
from smartapp.demo.generator import generate_patient_resources
from smartapp.fhir import FhirClient, FhirError
from smartapp.rules.settings import RuleSettings
from smartapp.worklist import WorklistOptions, build_worklist
from smartapp.worklist.pacing import ExportPacer

SEED = 11
ANCHOR = date(2026, 11, 24)


@contextmanager
def local_hapi() -> Iterator[str]:
    from tests.support.servers import hapi_server

    log_dir = Path(__file__).resolve().parent / "artifacts"
    print("starting the local HAPI FHIR server (about a minute)…", flush=True)
    with hapi_server(log_dir) as base:
        yield base


def put_transaction(patients: list[list[dict[str, Any]]]) -> dict[str, Any]:
    entries = [
        {
            "fullUrl": f"{r['resourceType']}/{r['id']}",
            "resource": r,
            "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
        }
        for resources in patients
        for r in resources
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def seed_range(base: str, start: int, stop: int, *, per_tx: int, workers: int) -> float:
    """Load generated patients [start, stop); returns the wall time in seconds."""
    began = time.monotonic()
    batches = [range(i, min(i + per_tx, stop)) for i in range(start, stop, per_tx)]

    def post(indexes: range) -> None:
        patients = [generate_patient_resources(i, ANCHOR, seed=SEED) for i in indexes]
        with FhirClient(base, timeout=300) as client:
            client.transaction(put_transaction(patients))

    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(post, batches):
            done += 1
            if done % max(1, len(batches) // 10) == 0:
                print(f"  seeded {min(start + done * per_tx, stop)}/{stop}", flush=True)
    return time.monotonic() - began


def measure(
    base: str, *, export: bool, chunk: int, workers: int, deadline_s: float = 1800.0
) -> dict[str, Any]:
    pacer = ExportPacer(poll_s=2.0, deadline_s=deadline_s)
    options = WorklistOptions(
        export=export,
        chunk_size=chunk,
        poll_interval_s=2.0,
        max_wait_s=math.inf,
        workers=workers,
        timeout_s=300,
    )
    with FhirClient(base, timeout=300, sleep=pacer if export else time.sleep) as client:
        began = time.monotonic()
        try:
            worklist = build_worklist(
                client,
                mappings=load_mappings(None),
                settings=RuleSettings(),
                as_of=ANCHOR,
                options=options,
            )
        except FhirError as err:  # e.g. an export the server did not finish in time
            wall = time.monotonic() - began
            made = len(client.requests_made)
            return {
                "rows": None,
                "requests": made,
                "posts": 0,
                "pages": 0,
                "wall": wall,
                "problems": (str(err),),
            }
        wall = time.monotonic() - began
        entries = list(worklist.request_log)
    pages = sum(1 for e in entries if e.method == "GET" and "_getpages" in e.url)
    posts = sum(1 for e in entries if e.method == "POST")
    return {
        "rows": len(worklist.rows),
        "requests": len(entries),
        "posts": posts,
        "pages": pages,
        "wall": wall,
        "problems": worklist.problems,
    }


def _measure_here(base: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    result = measure(base, **kwargs)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_mb"] = usage.ru_maxrss / 1024
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


def measure_isolated(base: str, **kwargs: Any) -> dict[str, Any]:
    """`measure` in a fresh process, so its peak RSS and CPU time are that path's alone."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_measure_here, base, kwargs).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fhir-base", help="an existing server (default: start hapi/run)")
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--per-transaction", type=int, default=10, help="patients per seed tx")
    parser.add_argument("--seed-workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=50, help="patients per worklist batch")
    parser.add_argument("--workers", type=int, default=4, help="chunks read at once")
    parser.add_argument("--no-export", action="store_true", help="measure the search path only")
    parser.add_argument("--already-seeded", type=int, default=0, help="patients already loaded")
    parser.add_argument(
        "--export-deadline", type=float, default=1800.0, help="seconds to wait for an export"
    )
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))

    @contextmanager
    def server() -> Iterator[str]:
        if args.fhir_base:
            yield args.fhir_base.rstrip("/")
        else:
            with local_hapi() as base:
                yield base

    results: list[tuple[int, int, float, dict[str, Any], dict[str, Any] | None]] = []
    with server() as base:
        loaded = args.already_seeded
        for size in sizes:
            seed_s = 0.0
            if size > loaded:
                print(f"seeding patients {loaded}..{size - 1}", flush=True)
                seed_s = seed_range(
                    base, loaded, size, per_tx=args.per_transaction, workers=args.seed_workers
                )
                print(f"  {size - loaded} patients in {seed_s:.0f} s", flush=True)
                loaded = size
            search = measure_isolated(base, export=False, chunk=args.chunk, workers=args.workers)
            print(f"  search: {search}", flush=True)
            export = (
                None
                if args.no_export
                else measure_isolated(
                    base,
                    export=True,
                    chunk=args.chunk,
                    workers=1,
                    deadline_s=args.export_deadline,
                )
            )
            if export is not None:
                print(f"  export: {export}", flush=True)
            results.append(
                (size, size - (results[-1][0] if results else 0), seed_s, search, export)
            )

    print()
    print(
        "| patients | seeded | search: requests (POSTs + pages) | search: wall | search: "
        "client CPU, peak RSS | export: requests | export: wall | export: client CPU, peak RSS |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size, added, seed_s, search, export in results:
        seeded = f"{added} in {seed_s:.0f} s" if seed_s else "-"
        cells = [
            str(size),
            seeded,
            f"{search['requests']} ({search['posts']} + {search['pages']})",
            f"{search['wall']:.1f} s",
            _client_cost(search),
        ]
        if export is None:
            cells += ["-", "-", "-"]
        elif export["rows"] is None:
            cells += [str(export["requests"]), f"not finished ({export['wall']:.0f} s)", "-"]
        else:
            cells += [str(export["requests"]), f"{export['wall']:.1f} s", _client_cost(export)]
        print("| " + " | ".join(cells) + " |")
        for path, measured in (("search", search), ("export", export)):
            if measured is not None and measured["rows"] not in (None, size):
                print(f"  ! {path} listed {measured['rows']} of {size} patients")
    if len(results) > 1:
        (n0, _, _, s0, _), (n1, _, _, s1, _) = results[0], results[-1]
        print(
            f"\nsearch requests per 100 patients: {100 * s0['requests'] / n0:.1f} at {n0}, "
            f"{100 * s1['requests'] / n1:.1f} at {n1}"
        )


def _client_cost(measured: dict[str, Any]) -> str:
    return f"{measured['cpu_s']:.0f} s, {measured['peak_mb']:.0f} MB"


if __name__ == "__main__":
    main()
