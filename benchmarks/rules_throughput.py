"""Patients evaluated per second on one core, from the server's JSON bytes to findings (SPEC §5).

Times are CPU time of this process, so other load on the machine does not count.

    python benchmarks/rules_throughput.py [--patients 2000] [--repeat 3]

Generates a cohort in memory (1-5 years of history each), serialises each patient as one
searchset Bundle (what a FHIR server sends), then times, per patient: decoding the bytes
(`smartapp.fhir.jsonio`, as the app's transport does), reading the resources into domain
records (`fhir_mappings.read.record`) and evaluating every check (`smartapp.rules.evaluate`).
The standard library's decoder is timed on the same pages for comparison, and the findings
from both decoders are compared (they must be identical). Prints the rate and where the
time goes; `--digest` also prints a digest of every record and summary, so a change meant
only to be faster can be shown to leave the output identical on the whole cohort.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fhir_mappings.read.record import read_patient_record
from fhir_mappings.site import Mappings, load_mappings
from smartapp.demo.generator import generate_cohort_resources
from smartapp.fhir import jsonio
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings


def _page(resources: list[dict[str, Any]]) -> bytes:
    entries = [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    return json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries}).encode()


def output_digest(
    pages: list[bytes], anchor: date, mappings: Mappings, settings: RuleSettings
) -> str:
    """SHA-256 of each patient's record and summary as `repr` shows them (every field: the
    findings with their statuses, texts and evidence, the schedule, the data problems)."""
    digest = hashlib.sha256()
    for page in pages:
        bundle = jsonio.loads(page)
        record = read_patient_record(
            [entry["resource"] for entry in bundle["entry"]], mappings=mappings
        )
        summary = evaluate(record, anchor, settings)
        digest.update(f"{record!r}\n{summary!r}\n".encode())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    parser.add_argument(
        "--digest",
        metavar="SHA256",
        nargs="?",
        const="",
        help="print the SHA-256 of every patient's record and summary (their repr), the proof "
        "that a faster read path or rule leaves the output identical; given a digest, exit "
        "non-zero when it differs",
    )
    args = parser.parse_args()

    anchor = date(2026, 11, 24)
    pages = [_page(patient) for patient in generate_cohort_resources(args.patients, anchor, seed=7)]
    resources = sum(len(json.loads(page)["entry"]) for page in pages)
    megabytes = sum(len(page) for page in pages) / 1e6
    mappings = load_mappings(None)
    settings = RuleSettings()

    def run(decode: Callable[[bytes], Any]) -> tuple[float, float, float, list[str]]:
        decode_s = read_s = rules_s = 0.0
        # Kept as text: holding every patient's findings as objects would grow the heap the
        # garbage collector walks, which a streaming refresh does not.
        findings: list[str] = []
        for page in pages:
            t0 = time.process_time()
            bundle = decode(page)
            t1 = time.process_time()
            record = read_patient_record(
                [entry["resource"] for entry in bundle["entry"]], mappings=mappings
            )
            t2 = time.process_time()
            found = evaluate(record, anchor, settings)
            t3 = time.process_time()
            findings.append(repr(found))
            decode_s += t1 - t0
            read_s += t2 - t1
            rules_s += t3 - t2
        return decode_s, read_s, rules_s, findings

    _, _, _, reference = run(json.loads)  # also warms caches (value-set lookups)
    timings = [run(jsonio.loads) for _ in range(args.repeat)]
    if any(found[3] != reference for found in timings):
        raise SystemExit("the findings differ between the json and jsonio decoders")
    # The two decoders alone, page by page in turn, so load on the machine hits both alike.
    stdlib_s = fast_s = 0.0
    for page in pages:
        t0 = time.process_time()
        json.loads(page)
        t1 = time.process_time()
        jsonio.loads(page)
        stdlib_s += t1 - t0
        fast_s += time.process_time() - t1
    totals = [d + r + e for d, r, e, _ in timings]
    best = min(totals)
    decode_best, read_best, rules_best, _ = min(timings, key=lambda t: t[0] + t[1] + t[2])
    n = args.patients
    print(
        f"cohort: {n} patients, {resources} resources ({resources / n:.0f} per patient), "
        f"{megabytes:.1f} MB of JSON"
    )
    print(
        f"patients/s, read + rules (best of {args.repeat}): {n / (read_best + rules_best):,.0f}"
        f"   bytes -> findings incl. decoding: {n / best:,.0f} "
        f"(median {n / statistics.median(totals):,.0f})"
    )
    print(f"  decode (bytes -> JSON):      {decode_best / best:5.1%}  {n / decode_best:,.0f} alone")
    print(f"  read   (JSON -> records):    {read_best / best:5.1%}  {n / read_best:,.0f} alone")
    print(f"  rules  (records -> findings): {rules_best / best:5.1%}  {n / rules_best:,.0f} alone")
    print(
        f"decoding alone, page by page: jsonio {megabytes / fast_s:,.0f} MB/s, "
        f"standard library json {megabytes / stdlib_s:,.0f} MB/s ({stdlib_s / fast_s:.2f}x)"
    )
    print(f"resources/s: {resources / best:,.0f}; findings identical with both decoders")
    if args.digest is not None:
        digest = output_digest(pages, anchor, mappings, settings)
        print(f"output digest (records and summaries, {n} patients): {digest}")
        if args.digest and args.digest != digest:
            raise SystemExit(f"the output differs from {args.digest}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run(jsonio.loads)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())


if __name__ == "__main__":
    main()
