"""The `smartapp` command (SPEC §4 "Command line"): the same functions as the web app.

Exit codes: 0 when the work was done (even when the findings contain alerts), 2 when the
input or configuration is unusable, with one line saying why. No tracebacks for users.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartapp.terminal import terminal_safe

if TYPE_CHECKING:
    from fhir_mappings.site import Mappings
    from smartapp.config import AppConfig

EXIT_OK = 0
EXIT_UNUSABLE = 2


class CliError(Exception):
    """Unusable input: printed as one line, exit code 2."""


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from err


def _load_json_file(path: str) -> Any:
    from smartapp.fhir.limits import MAX_JSON_DEPTH, nesting_exceeds

    file = Path(path)
    if not file.is_file():
        raise CliError(f"no such file: {path}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CliError(f"{path} is not a text file") from err
    if nesting_exceeds(text.encode("utf-8"), MAX_JSON_DEPTH):
        raise CliError(f"{path} is nested more than {MAX_JSON_DEPTH} levels deep; not read")
    try:
        return json.loads(text)
    except RecursionError:
        raise CliError(f"{path} is nested too deeply; not read") from None
    except json.JSONDecodeError as err:
        raise CliError(f"{path} is not JSON ({err.msg} at line {err.lineno})") from err


def _context(args: argparse.Namespace) -> tuple[AppConfig, Mappings]:
    """The configuration with the code mappings and rule settings in force
    (SMARTAPP_MAPPINGS or --mappings)."""
    import os

    from smartapp.config import ConfigError, load_config

    environ = dict(os.environ)
    if getattr(args, "mappings", None):
        environ["SMARTAPP_MAPPINGS"] = args.mappings
    try:
        config = load_config(environ)
    except ConfigError as err:
        raise CliError(str(err)) from err
    return config, config.mappings


def _fhir_base(args: argparse.Namespace, config: Any) -> str:
    """The FHIR base to use: an http(s) URL with a host, and no credentials, query or
    fragment (`file:///…`, `https://user:pw@…` and `…?x=1` are refused with one line)."""
    from smartapp.fhir.urls import ServerBase

    base = args.fhir_base or config.fhir_base
    if not base:
        raise CliError("no FHIR server: pass --fhir-base URL or set SMARTAPP_FHIR_BASE")
    try:
        return ServerBase.parse(str(base)).url
    except ValueError:
        raise CliError(
            "--fhir-base must be an http(s) URL like https://fhir.example.org/r4, without a "
            "user name, password, query or fragment"
        ) from None


def _client(base: str, config: Any, *, deadline: bool = True) -> Any:
    """A client for `base`; its reads bounded by SMARTAPP_FHIR_DEADLINE (whole command)
    and SMARTAPP_FHIR_MAX_BYTES. `deadline=False` for bulk loads (seeding)."""
    from smartapp.fhir import FhirClient, ReadLimits

    limits = ReadLimits.start(config.fhir_deadline_s if deadline else None, config.fhir_max_bytes)
    return FhirClient(
        base, timeout=config.fhir_timeout_s, dialect=config.dialect_for(base), limits=limits
    )


def _print_summary(summary: Any, fmt: str) -> None:
    from smartapp.report import summary_json, summary_text

    if fmt == "json":
        print(json.dumps(summary_json(summary), indent=2))
    else:
        print(terminal_safe(summary_text(summary)))


def cmd_check(args: argparse.Namespace) -> int:
    from fhir_mappings.read import UnusableInput, resources_from_json
    from smartapp import patient_service as service
    from smartapp.fhir import FhirError

    config, mappings = _context(args)
    as_of = args.as_of or date.today()
    try:
        if args.bundle:
            resources = resources_from_json(_load_json_file(args.bundle))
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
            with _client(_fhir_base(args, config), config) as client:
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
    _print_summary(service.summarize(record, as_of, config.rules), args.format)
    return EXIT_OK


def cmd_seed(args: argparse.Namespace) -> int:
    from smartapp.demo.bundles import demo_bundles
    from smartapp.demo.generator import generate_cohort
    from smartapp.demo.seed import seed

    config, _ = _context(args)
    anchor = args.anchor or date.today()
    base = _fhir_base(args, config)
    bundles = (
        generate_cohort(args.count, anchor, seed=args.random_seed)
        if args.count
        else demo_bundles(anchor)
    )
    with _client(base, config, deadline=False) as client:
        report = seed(client, bundles)
    print(terminal_safe(report.describe()))
    return EXIT_OK if not report.errors else EXIT_UNUSABLE


def cmd_serve(args: argparse.Namespace) -> int:
    from smartapp.config import ConfigError
    from smartapp.serve import serve

    try:
        serve(port=args.port, host=args.host, workers=args.workers, threads=args.threads)
    except ConfigError as err:
        raise CliError(str(err)) from err
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartapp", description="Ofatumumab (Kesimpta) safety and monitoring checks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="evaluate one patient")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--bundle", help="a FHIR Bundle (or resource list) JSON file")
    source.add_argument("--fhir-base", help="a FHIR server base URL")
    source.add_argument("--demo", help="a built-in demo patient (dates relative to --as-of)")
    check.add_argument("--patient", help="the patient id (needed with --fhir-base)")
    check.add_argument("--as-of", type=_parse_date, help="evaluate as of this day (default today)")
    check.add_argument("--format", choices=("json", "text"), default="json")
    check.add_argument("--mappings", help="site mappings file (default $SMARTAPP_MAPPINGS)")
    check.set_defaults(handler=cmd_check)

    seed_cmd = sub.add_parser("seed", help="load the demo cohort (or a generated one)")
    seed_cmd.add_argument("--fhir-base", help="FHIR server (default $SMARTAPP_FHIR_BASE)")
    seed_cmd.add_argument("--count", type=int, help="generate N random patients instead")
    seed_cmd.add_argument("--random-seed", type=int, default=0)
    seed_cmd.add_argument("--anchor", type=_parse_date, help="the day dates are relative to")
    seed_cmd.set_defaults(handler=cmd_seed)

    from smartapp.db_cli import add_db_parser
    from smartapp.worklist_cli import add_worklist_parser
    from smartapp.writeback_cli import add_writeback_parser

    add_worklist_parser(sub)
    add_writeback_parser(sub)
    add_db_parser(sub)

    serve_cmd = sub.add_parser("serve", help="run the web app (gunicorn)")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument(
        "--workers", type=int, help="gunicorn worker processes (default $SMARTAPP_WORKERS or 1)"
    )
    serve_cmd.add_argument(
        "--threads", type=int, help="threads per worker (default $SMARTAPP_THREADS or 8)"
    )
    serve_cmd.set_defaults(handler=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CliError as err:
        print(f"smartapp: {terminal_safe(str(err))}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `smartapp check … | head`: the reader left, nothing to report
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    # `python -m smartapp.cli`: run the importable module, so the sub-commands' CliError
    # (imported from `smartapp.cli`) is the class `main` catches, not a `__main__` copy.
    from smartapp.cli import main as _main

    sys.exit(_main())
