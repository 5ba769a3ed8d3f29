"""Patients evaluated per second on one core, from parsed FHIR JSON to findings (SPEC §5).

Times are CPU time of this process, so other load on the machine does not count.

    python benchmarks/rules_throughput.py [--patients 2000] [--repeat 3]

Generates a cohort in memory (1-5 years of history each), then times, per patient:
reading the resources into domain records (`fhir_mappings.read`) and evaluating every
check (`smartapp.rules.evaluate`). Prints the rate and where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fhir_mappings.read import read_patient_record
from fhir_mappings.site import load_mappings
from smartapp.demo.generator import generate_cohort_resources
from smartapp.rules import evaluate
from smartapp.rules.settings import RuleSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()

    anchor = date(2026, 11, 24)
    cohort = list(generate_cohort_resources(args.patients, anchor, seed=7))
    resources = sum(len(patient) for patient in cohort)
    mappings = load_mappings(None)
    settings = RuleSettings()

    def run() -> tuple[float, float]:
        read_s = rules_s = 0.0
        for patient in cohort:
            t0 = time.process_time()
            record = read_patient_record(patient, mappings=mappings)
            t1 = time.process_time()
            evaluate(record, anchor, settings)
            rules_s += time.process_time() - t1
            read_s += t1 - t0
        return read_s, rules_s

    run()  # warm caches (value-set lookups are built on first use)
    timings = [run() for _ in range(args.repeat)]
    totals = [read + rules for read, rules in timings]
    best = min(totals)
    read_best, rules_best = min(timings, key=lambda pair: pair[0] + pair[1])
    print(
        f"cohort: {args.patients} patients, {resources} resources "
        f"({resources / args.patients:.0f} per patient)"
    )
    print(
        f"patients/s (best of {args.repeat}): {args.patients / best:,.0f}   "
        f"median: {args.patients / statistics.median(totals):,.0f}"
    )
    print(
        f"  read  (FHIR JSON -> records): {read_best / best:5.1%}  "
        f"{args.patients / read_best:,.0f} patients/s alone"
    )
    print(
        f"  rules (records -> findings):  {rules_best / best:5.1%}  "
        f"{args.patients / rules_best:,.0f} patients/s alone"
    )
    print(f"resources/s: {resources / best:,.0f}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())


if __name__ == "__main__":
    main()
