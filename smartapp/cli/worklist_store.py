"""`smartapp worklist --refresh` and `--stored`: the worklist snapshot in the app's database.

    smartapp worklist --fhir-base URL --refresh [--full] [--backend] [--export]
    smartapp worklist --fhir-base URL --refresh --every 900 [--full-every 24]
    smartapp worklist --fhir-base URL --stored [--format json|csv|text] [--filter …]

The snapshot belongs to the server and the reader: `--backend` refreshes the app's own
(Backend Services) worklist, which `/worklist` shows in backend mode; without it the
server is read without a token (an open server), as `/worklist` does in open-server mode.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

EXIT_BUSY = 4


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _warn(text: str) -> None:
    sys.stderr.write(f"smartapp: warning: {text}\n")


def refresh_or_show(
    args: argparse.Namespace,
    config: Any,
    mappings: Any,
    base: str,
    options: Any,
    filters: Any,
    as_of: date,
) -> int:
    from smartapp.cli.common import CliError
    from smartapp.config import normalise_base
    from smartapp.store import StoreError
    from smartapp.store.startup import open_database
    from smartapp.worklist.refresh import RefreshTarget

    reader = "backend" if args.backend else "open"
    target = RefreshTarget(normalise_base(base), reader, options)
    try:
        db = open_database(config)
    except StoreError as err:
        raise CliError(f"SMARTAPP_DATABASE_URL: {err}") from err
    try:
        if args.stored:
            return _show(db, target, args.format, filters)
        if args.every is None:
            return _refresh_once(db, args, config, mappings, target, as_of, full=args.full)
        return _repeat(db, args, config, mappings, target)
    except StoreError as err:
        raise CliError(str(err)) from err
    finally:
        db.close()


def _refresh_once(
    db: Any,
    args: argparse.Namespace,
    config: Any,
    mappings: Any,
    target: Any,
    as_of: date,
    *,
    full: bool,
) -> int:
    from smartapp.cli.common import CliError, backend_access, fhir_failure
    from smartapp.fhir import FhirClient, FhirError, ReadLimits
    from smartapp.store.leases import Leases
    from smartapp.store.snapshots import SnapshotStore
    from smartapp.worklist.pacing import poll_sleep
    from smartapp.worklist.refresh import RefreshFailed, RefreshRunning, refresh_worklist

    token, reauthorize = backend_access(config, target.server) if args.backend else (None, None)
    sleep = poll_sleep(target.options.export, config.export_max_wait_s)
    try:
        with FhirClient(
            target.server,
            token=token,
            timeout=target.options.timeout_s,
            sleep=sleep,
            dialect=config.dialect_for(target.server),
            # No overall deadline (a long refresh), but the size and nesting caps hold.
            limits=ReadLimits(max_bytes=config.fhir_max_bytes),
            reauthorize=reauthorize,
        ) as client:
            outcome = refresh_worklist(
                SnapshotStore(db),
                Leases(db),
                client,
                target,
                mappings=mappings,
                settings=config.rules,
                as_of=as_of,
                full=full,
            )
    except RefreshRunning as busy:
        running = busy.running
        progress = ""
        if running is not None:
            total = f" of {running.progress_total}" if running.progress_total else ""
            progress = f" ({running.stage}; {running.progress_done}{total} patients)"
        sys.stderr.write(f"smartapp: a refresh of this worklist is already running{progress}\n")
        return EXIT_BUSY
    except RefreshFailed as err:
        raise CliError(str(err)) from err
    except FhirError as err:
        raise fhir_failure(err) from err
    for problem in outcome.problems:
        _warn(problem)
    _out(
        f"worklist refreshed ({outcome.mode}): {outcome.patients} patients, "
        f"{outcome.read} read from the server, {outcome.requests} FHIR requests, "
        f"{outcome.elapsed_s:.1f} s"
    )
    return _exit_code(outcome.snapshot.stats)


def _repeat(db: Any, args: argparse.Namespace, config: Any, mappings: Any, target: Any) -> int:
    """Refresh every `--every` seconds until stopped; a full one every `--full-every` hours.
    A failed refresh is reported and the loop goes on (the stored snapshot stays)."""
    from smartapp.cli.common import CliError

    last_full = -math.inf
    while True:
        full = args.full or time.monotonic() - last_full >= args.full_every * 3600
        try:
            code = _refresh_once(db, args, config, mappings, target, date.today(), full=full)
            if code == 0 and full:
                last_full = time.monotonic()
        except CliError as err:
            sys.stderr.write(f"smartapp: refresh failed: {err}\n")
        sys.stdout.flush()
        time.sleep(args.every)


def _show(db: Any, target: Any, fmt: str, filters: Any) -> int:
    from smartapp.cli.common import CliError
    from smartapp.store.snapshots import SnapshotStore
    from smartapp.worklist import worklist_text, write_csv
    from smartapp.worklist.report import row_json
    from smartapp.worklist.stored import decode_json, decode_rows

    snapshots = SnapshotStore(db)
    latest = snapshots.latest(target.key)
    blob = snapshots.rows(latest.id) if latest is not None else None
    if latest is None or blob is None:
        raise CliError("no worklist is stored for this server yet (use --refresh)")
    for problem in latest.stats.get("problems", []):
        _warn(problem)
    failed = snapshots.failure_since(target.key, latest.id)
    if failed is not None:
        when = datetime.fromtimestamp(failed.finished_at or failed.started_at, UTC)
        _warn(
            f"the last refresh failed at {when:%Y-%m-%d %H:%M} UTC ({failed.error}); "
            "this is the list from the refresh before it"
        )
    rows = filters.apply(decode_rows(blob))
    if fmt == "json":
        docs = {pid: decode_json(doc) for pid, doc in snapshots.summaries(latest.id)}
        _out(json.dumps([row_json(row, docs[row.patient_id]) for row in rows], indent=2))
    elif fmt == "csv":
        sys.stdout.write(write_csv(rows))
    else:
        _out(worklist_text(rows))
        age = time.time() - (latest.finished_at or latest.started_at)
        _out(
            f"\n{len(rows)} of {latest.stats.get('patients', len(rows))} patients shown, as of "
            f"{latest.as_of.isoformat()}; stored {age / 60:.0f} min ago ({latest.mode} refresh)"
        )
    return _exit_code(latest.stats)


def _exit_code(stats: dict[str, Any]) -> int:
    """3 when a population search failed (patients may be missing), as without the store."""
    from smartapp.cli.common import EXIT_INCOMPLETE

    return EXIT_INCOMPLETE if stats.get("population_problems") else 0
