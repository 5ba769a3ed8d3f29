"""The care coordinator's worklist: every patient on ofatumumab, evaluated in bulk.

Modules, one job each:
    population  who may be on it: a few searches, in two batches (`find_population`)
    bulk        reading many patients at once: multi-patient batches or `$export`
    service     build_worklist: population → bulk read → membership → evaluate → rows
    rows        WorklistRow: phase, next dose, overdue/due/alerts, open Tasks
    filters     WorklistFilters: URL query ⇄ filters and sort orders
    csvfile     CSV export with CSV-injection escaping (round-trips)
    report      JSON and text output for the CLI
    tasks       creating the selected patients' Tasks (write-back, one transaction each)
    pacing      polling `$export` at a sensible pace (HAPI's fixed Retry-After: 120)
"""

from smartapp.worklist.csvfile import read_csv, write_csv
from smartapp.worklist.filters import WorklistFilters
from smartapp.worklist.population import Population, find_population
from smartapp.worklist.report import worklist_json, worklist_text
from smartapp.worklist.rows import FindingItem, OpenTask, WorklistRow, row_for
from smartapp.worklist.service import Worklist, WorklistOptions, build_worklist

__all__ = [
    "FindingItem",
    "OpenTask",
    "Population",
    "Worklist",
    "WorklistFilters",
    "WorklistOptions",
    "WorklistRow",
    "build_worklist",
    "find_population",
    "read_csv",
    "row_for",
    "worklist_json",
    "worklist_text",
    "write_csv",
]
