"""`smartapp check`: evaluate one patient from a file, a demo patient or a FHIR server."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from smartapp.cli.common import (
    EXIT_OK,
    CliError,
    config_and_mappings,
    fhir_base_from,
    fhir_client,
    load_json_file,
    parse_date,
)
from smartapp.terminal import terminal_safe


def add_parser(sub: Any) -> argparse.ArgumentParser:
    check: argparse.ArgumentParser = sub.add_parser("check", help="evaluate one patient")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", help="a FHIR Bundle (or resource list) JSON file")
    source.add_argument("--fhir-base", help="a FHIR server base URL")
    source.add_argument("--demo", help="a built-in demo patient (dates relative to --as-of)")
    check.add_argument("--patient", help="the patient id (needed with --fhir-base)")
    check.add_argument("--as-of", type=parse_date, help="evaluate as of this day (default today)")
    check.add_argument("--format", choices=("json", "text"), default="json")
    check.add_argument("--mappings", help="site mappings file (default $SMARTAPP_MAPPINGS)")
    check.set_defaults(handler=cmd_check)
    return check


def print_summary(summary: Any, fmt: str) -> None:
    from smartapp.report import summary_json, summary_text

    if fmt == "json":
        print(json.dumps(summary_json(summary), indent=2))
    else:
        print(terminal_safe(summary_text(summary)))


def cmd_check(args: argparse.Namespace) -> int:
    from fhir_mappings.read.record import UnusableInput, resources_from_json
    from smartapp import patient_service as service
    from smartapp.fhir import FhirError

    config, mappings = config_and_mappings(args)
    as_of = args.as_of or date.today()
    try:
        if args.bundle:
            resources = resources_from_json(load_json_file(args.bundle))
            record = service.record_from_resources(
                resources, mappings=mappings, patient_id=args.patient
            )
        elif args.demo:
            from smartapp.demo.bundles import demo_patient_resources
            from smartapp.demo.situations import DEMO_SLUGS

            if args.demo not in DEMO_SLUGS:
                raise CliError(
                    f"unknown demo patient '{args.demo}'; one of: {', '.join(DEMO_SLUGS)}"
                )
            resources = demo_patient_resources(as_of, args.demo)
            record = service.record_from_resources(resources, mappings=mappings)
        else:
            if not args.patient:
                raise CliError("--fhir-base needs --patient ID")
            with fhir_client(fhir_base_from(args, config), config) as client:
                fetched = service.fetch_patient(client, args.patient, mappings)
            if fetched.problems and not any(
                item.get("resourceType") == "Patient" and item.get("id") == args.patient
                for item in fetched.resources
            ):
                # Nothing to evaluate: say why the server gave nothing, not "not found".
                raise CliError(f"Patient/{args.patient} not read: {fetched.problems[0]}")
            record, _ = service.summarize_fetched(
                fetched, args.patient, as_of, mappings, config.rules
            )
    except UnusableInput as err:
        raise CliError(str(err)) from err
    except FhirError as err:
        raise CliError(f"FHIR server error: {err}") from err
    print_summary(service.summarize(record, as_of, config.rules), args.format)
    return EXIT_OK
