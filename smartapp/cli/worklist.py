"""`smartapp worklist`: every patient on ofatumumab with their findings (SPEC §4).

    smartapp worklist --fhir-base URL [--format json|csv|text] [--as-of DATE] [--export]
                      [--filter QUERY ...] [--group Group/ID [--group-only]]
                      [--backend] [--mappings FILE] [--workers N]
                      [--refresh [--full] [--every SECONDS [--full-every HOURS]] | --stored]

`--format json` (default) prints a list of `check` summaries (SPEC §4), each with an extra
`worklist` part (status, open Tasks); `csv` the worklist CSV (formula cells escaped);
`text` a table. `--filter` takes the web worklist's URL query (`status=overdue&check=
ig-monitoring`, repeatable) and also sets the order (`sort=name`). `--export` reads with
FHIR Bulk Data `$export` instead of searches. `--backend` authenticates with the app's
Backend Services credentials (SMARTAPP_PRIVATE_KEY; the server must be allowlisted).

`--refresh` stores the result as the server's worklist snapshot in the app's database
(SMARTAPP_DATABASE_URL), incrementally when a snapshot exists (`--full` to read everything),
and prints one line; `--every` repeats it (a scheduler: docker-compose's refresh job), with
a full refresh at least every `--full-every` hours. `--stored` prints the latest snapshot
without reading the server. docs/worklist.md "Stored worklists".

Exit codes (docs/worklist.md "Exit codes"):
- 0: the worklist was built, even with alerts; problems reading part of a patient's data
  are warnings on stderr and the affected checks say unknown;
- 3: the worklist was printed but may be missing patients (some population searches
  failed; stderr says which);
- 2: nothing usable: bad input or configuration, the server refused, the export failed, or
  no population search worked (one line on stderr, nothing on stdout: an empty list
  would look like "no patients on ofatumumab").
- 4 (`--refresh`): another refresh of the same worklist is running; nothing was done.
With `--export`, the export's progress goes to stderr. Wire it into
`smartapp.cli.build_parser` with `add_parser(sub)`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from smartapp.terminal import terminal_safe


def _out(text: str) -> None:
    text = terminal_safe(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _warn(text: str) -> None:
    sys.stderr.write(f"smartapp: warning: {terminal_safe(text)}\n")


def _note(text: str) -> None:
    sys.stderr.write(f"smartapp: note: {terminal_safe(text)}\n")


def _progress(text: str) -> None:
    sys.stderr.write(f"smartapp: {terminal_safe(text)}\n")
    sys.stderr.flush()


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the `worklist` sub-command to `smartapp`'s sub-parsers."""
    from smartapp.cli.common import parse_date

    cmd: argparse.ArgumentParser = sub.add_parser(
        "worklist", help="every patient on ofatumumab with their findings"
    )
    cmd.add_argument("--fhir-base", help="FHIR server (default $SMARTAPP_FHIR_BASE)")
    cmd.add_argument("--format", choices=("json", "csv", "text"), default="json")
    cmd.add_argument("--as-of", type=parse_date, help="evaluate as of this day (default today)")
    cmd.add_argument(
        "--export", action="store_true", help="read with Bulk Data $export instead of searches"
    )
    cmd.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="QUERY",
        help="worklist filters as in the web URL, e.g. 'status=overdue&check=ig-monitoring'",
    )
    cmd.add_argument("--group", help="Group/<id> whose members are always on the worklist")
    cmd.add_argument("--group-only", action="store_true", help="only the Group's members")
    cmd.add_argument(
        "--backend",
        action="store_true",
        help="use the app's Backend Services token (SMARTAPP_PRIVATE_KEY)",
    )
    cmd.add_argument("--mappings", help="site mappings file (default $SMARTAPP_MAPPINGS)")
    cmd.add_argument("--workers", type=int, default=4, help="chunks of patients read at once")
    stored = cmd.add_mutually_exclusive_group()
    stored.add_argument(
        "--refresh",
        action="store_true",
        help="store the result as the server's worklist snapshot (incremental when possible)",
    )
    stored.add_argument(
        "--stored", action="store_true", help="print the latest stored snapshot (no FHIR reads)"
    )
    cmd.add_argument("--full", action="store_true", help="with --refresh: read everything")
    cmd.add_argument(
        "--every", type=float, metavar="SECONDS", help="with --refresh: repeat, this far apart"
    )
    cmd.add_argument(
        "--full-every",
        type=float,
        default=24.0,
        metavar="HOURS",
        help="with --every: a full refresh at least this often (default 24)",
    )
    cmd.set_defaults(handler=cmd_worklist)
    return cmd


def _filters(texts: list[str]) -> Any:
    from smartapp.cli.common import CliError
    from smartapp.worklist import WorklistFilters

    query: dict[str, list[str]] = {}
    for text in texts:
        for key, values in parse_qs(text.lstrip("?"), keep_blank_values=False).items():
            query.setdefault(key, []).extend(values)
    filters = WorklistFilters.from_query(query)
    if filters.errors:
        raise CliError(
            "--filter: " + " ".join(e.replace(" was ignored", "") for e in filters.errors)
        )
    return filters


def cmd_worklist(args: argparse.Namespace) -> int:
    from fhir_mappings.search.population import group_id
    from smartapp.cli.common import (
        EXIT_INCOMPLETE,
        CliError,
        backend_access,
        config_and_mappings,
        fhir_base_from,
        fhir_failure,
    )
    from smartapp.fhir import FhirClient, FhirError, ReadLimits
    from smartapp.worklist import (
        WorklistOptions,
        build_worklist,
        worklist_json,
        worklist_text,
        write_csv,
    )
    from smartapp.worklist.pacing import poll_sleep

    config, mappings = config_and_mappings(args)
    base = fhir_base_from(args, config)
    filters = _filters(args.filter)
    as_of = args.as_of or filters.as_of or date.today()
    try:
        group = group_id(args.group) if args.group else config.worklist_group
    except ValueError as err:
        raise CliError(f"--group: {err}") from err
    group_only = args.group_only or (config.worklist_group_only and not args.group)
    if group_only and not group:
        raise CliError("--group-only needs --group Group/<id>")
    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    if (args.full or args.every is not None) and not args.refresh:
        raise CliError("--full and --every need --refresh")
    if args.every is not None and args.every <= 0:
        raise CliError("--every must be a positive number of seconds")
    timeout = max(config.fhir_timeout_s, 120.0)
    tenant = config.tenant(base)
    options = WorklistOptions(
        group=group,
        group_only=group_only,
        export=args.export,
        workers=args.workers,
        timeout_s=timeout,
        poll_interval_s=2.0,
        max_wait_s=math.inf,
        file_origins=tenant.bulk_file_origins if tenant else (),
        token_origins=tenant.bulk_token_origins if tenant else (),
        on_progress=_progress,
    )
    if args.refresh or args.stored:
        from smartapp.cli.worklist_store import refresh_or_show

        return refresh_or_show(args, config, mappings, base, options, filters, as_of)
    token, reauthorize = backend_access(config, base) if args.backend else (None, None)
    sleep = poll_sleep(args.export, config.export_max_wait_s)
    try:
        dialect = config.dialect_for(base)
        # No overall deadline (a nightly run over thousands of patients), but the size and
        # nesting caps hold for every answer.
        limits = ReadLimits(max_bytes=config.fhir_max_bytes)
        with FhirClient(
            base,
            token=token,
            timeout=timeout,
            sleep=sleep,
            dialect=dialect,
            limits=limits,
            reauthorize=reauthorize,
        ) as client:
            worklist = build_worklist(
                client, mappings=mappings, settings=config.rules, as_of=as_of, options=options
            )
    except FhirError as err:
        raise fhir_failure(err) from err
    if worklist.population_unreadable:
        reasons = "; ".join(worklist.problems[1:3] or worklist.problems[:1])
        raise CliError(f"the worklist population could not be read: {reasons}")
    for problem in worklist.problems:
        _warn(problem)
    for note in worklist.notes:
        _note(note)
    rows = filters.apply(worklist.rows)
    if args.format == "json":
        _out(json.dumps(worklist_json(rows), indent=2))
    elif args.format == "csv":
        sys.stdout.write(terminal_safe(write_csv(rows)))
    else:
        _out(worklist_text(rows))
        _out(
            f"\n{len(rows)} of {len(worklist.rows)} patients shown, as of {as_of.isoformat()}; "
            f"{worklist.requests} FHIR requests ({worklist.source}), {worklist.elapsed_s:.1f} s"
        )
    if not worklist.population.complete:
        return EXIT_INCOMPLETE
    return 0
