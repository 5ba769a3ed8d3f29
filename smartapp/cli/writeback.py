"""`smartapp writeback`: write one patient's CarePlan and Tasks (SPEC §4 "Command line").

    smartapp writeback --fhir-base URL --patient ID [--dry-run] [--as-of DATE]
                       [--format text|json] [--requester REF] [--owner REF]

`--dry-run` prints the preview and the transaction Bundle and writes nothing. Exit codes:
0 written (or dry run), 1 the server refused the write (nothing was written), 2 unusable
input or configuration. Wire it into `smartapp.cli.build_parser` with
`add_parser(sub)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from typing import Any

from smartapp.terminal import terminal_safe

EXIT_WRITE_FAILED = 1


def _out(text: str) -> None:
    sys.stdout.write(terminal_safe(text) + "\n")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the `writeback` sub-command to `smartapp`'s sub-parsers."""
    from smartapp.cli.common import parse_date

    cmd: argparse.ArgumentParser = sub.add_parser(
        "writeback", help="write the CarePlan and Tasks for one patient"
    )
    cmd.add_argument("--fhir-base", help="FHIR server (default $SMARTAPP_FHIR_BASE)")
    cmd.add_argument("--patient", required=True, help="the patient id")
    cmd.add_argument("--as-of", type=parse_date, help="evaluate as of this day (default today)")
    cmd.add_argument(
        "--dry-run", action="store_true", help="print the preview and the bundle; write nothing"
    )
    cmd.add_argument("--format", choices=("text", "json"), default="text")
    cmd.add_argument("--mappings", help="site mappings file (default $SMARTAPP_MAPPINGS)")
    cmd.add_argument(
        "--requester",
        help="the user's reference (Practitioner/123): Task.requester and Provenance author",
    )
    cmd.add_argument("--owner", help="Task.owner for new Tasks (e.g. Organization/7)")
    cmd.set_defaults(handler=cmd_writeback)
    return cmd


def _print_plan(plan: Any, as_of: date, fmt: str, *, dry_run: bool, result: Any = None) -> None:
    if fmt == "json":
        doc: dict[str, Any] = {"as_of": as_of.isoformat(), "dry_run": dry_run, **plan.to_json()}
        if result is not None:
            doc["result"] = result.to_json()
            doc.pop("bundle", None)
        _out(json.dumps(doc, indent=2))
        return
    head = f"Write-back for patient {plan.patient_id} as of {as_of.isoformat()}"
    _out(head + (" (dry run: nothing written)" if dry_run else ""))
    for line in plan.describe():
        _out(f"  {line}")
    if dry_run:
        _out("Transaction bundle:")
        _out(json.dumps(plan.bundle, indent=2))
    if result is not None:
        _out(result.message)
        for entry in result.entries:
            written = entry.reference or "-"
            _out(f"  {entry.outcome:<16} {written}")


def cmd_writeback(args: argparse.Namespace) -> int:
    from fhir_mappings.write.writeback import WritebackBlocked, WriteContext
    from smartapp.cli.common import (
        CliError,
        config_and_mappings,
        fhir_base_from,
        fhir_client,
        fhir_failure,
    )
    from smartapp.fhir import FhirError
    from smartapp.writeback import plan_for_patient, write_plan

    config, mappings = config_and_mappings(args)
    as_of = args.as_of or date.today()
    base = fhir_base_from(args, config)
    try:
        ctx = WriteContext(
            now=datetime.now(UTC),
            author_reference=getattr(args, "requester", None),
            owner_reference=getattr(args, "owner", None),
            fhir_base=base,
        )
    except ValueError as err:
        raise CliError(str(err)) from err

    with fhir_client(base, config) as client:

        def build() -> Any:
            return plan_for_patient(
                client, args.patient, ctx, mappings=mappings, settings=config.rules, as_of=as_of
            ).plan

        try:
            plan = build()
            if args.dry_run:
                _print_plan(plan, as_of, args.format, dry_run=True)
                return 0
            result = write_plan(client, plan, rebuild=build)
        except WritebackBlocked as err:
            raise CliError(str(err)) from err
        except FhirError as err:
            raise fhir_failure(err) from err
    _print_plan(result.plan or plan, as_of, args.format, dry_run=False, result=result)
    if not result.ok:
        sys.stderr.write(f"smartapp: {terminal_safe(result.message)}\n")
        return EXIT_WRITE_FAILED
    return 0
