"""CPU instructions per patient for reading and for the rules, counted by valgrind (SPEC §5).

    python benchmarks/instructions.py [--patients 200]

`rules_throughput.py` reports patients per second, but on a shared or virtual machine the
same code measures ±30% from run to run (other load, the host's caches), more than most
changes to the read path make. The number of instructions the interpreter executes does not
depend on load, so this script is how a change meant only to be faster is compared with the
code before it: run it on both, compare the two tables.

It runs the same generated cohort as `rules_throughput.py` three times under valgrind's
`cachegrind` (instruction counting only, no cache simulation; `PYTHONHASHSEED=0` so set and
dict order are the same each time): once reading nothing, once reading every patient, once
reading and evaluating every patient. Each run first reads and evaluates the whole cohort once
to warm the memos and the interpreter, so the counted pass is the steady state the worklist
refresh runs in. The differences, divided by the number of patients, are the instructions
per patient of reading (JSON -> records) and of the rules (records -> findings). Decoding
the JSON is done before the counted pass in every run and is not part of either number.

Needs `valgrind` (Debian: `apt-get install valgrind`); takes a few minutes for 200 patients.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_MODES = ("none", "read", "both")
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def _counted_pass(patients: int, mode: str) -> None:
    """What runs under valgrind: warm up on the cohort, then read (and evaluate) it again."""
    from benchmarks.rules_throughput import _page
    from fhir_mappings.read.record import read_patient_record
    from fhir_mappings.site import load_mappings
    from smartapp.demo.generator import generate_cohort_resources
    from smartapp.rules import evaluate
    from smartapp.rules.settings import RuleSettings

    anchor = date(2026, 11, 24)
    mappings = load_mappings(None)
    settings = RuleSettings()
    cohort = [
        [entry["resource"] for entry in json.loads(_page(patient))["entry"]]
        for patient in generate_cohort_resources(patients, anchor, seed=7)
    ]
    for resources in cohort:
        evaluate(read_patient_record(resources, mappings=mappings), anchor, settings)
    if mode == "none":
        return
    for resources in cohort:
        record = read_patient_record(resources, mappings=mappings)
        if mode == "both":
            evaluate(record, anchor, settings)


def _instructions(patients: int, mode: str, valgrind: str) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            [
                valgrind,
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={Path(scratch) / 'out'}",
                sys.executable,
                __file__,
                "--counted-pass",
                mode,
                "--patients",
                str(patients),
            ],
            env={**os.environ, "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
            check=False,
        )
    found = _REFS.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run '{mode}' failed:\n{result.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--counted-pass", choices=_MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.counted_pass:
        _counted_pass(args.patients, args.counted_pass)
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    counts = {mode: _instructions(args.patients, mode, valgrind) for mode in _MODES}
    n = args.patients
    read = (counts["read"] - counts["none"]) / n
    rules = (counts["both"] - counts["read"]) / n
    print(f"instructions per patient ({n} patients, cachegrind, PYTHONHASHSEED=0)")
    print(f"  read   (JSON -> records):     {read / 1e6:6.2f} M")
    print(f"  rules  (records -> findings): {rules / 1e6:6.2f} M")
    print(f"  read + rules:                 {(read + rules) / 1e6:6.2f} M")


if __name__ == "__main__":
    main()
