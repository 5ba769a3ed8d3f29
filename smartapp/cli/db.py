"""`smartapp db`: the app's own database (docs/store.md).

    smartapp db upgrade      apply the schema migrations (run before starting a new version)
    smartapp db status       the schema revision, and whether it is current
    smartapp db purge        delete expired sessions, stale leases and used CDS JWT ids now
    smartapp db new-key      print a fresh key for SMARTAPP_TOKEN_KEY
    smartapp db rotate-key   re-encrypt stored session values and CDS feedback comments with
                             the first SMARTAPP_TOKEN_KEY

The database is SMARTAPP_DATABASE_URL (default: a SQLite file in SMARTAPP_DATA_DIR).
Exit codes: 0 done; 2 the database cannot be used (one line saying why); 3 (`status`) the
schema is behind. Wire it into `smartapp.cli.build_parser` with `add_parser(sub)`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_BEHIND = 3


def add_parser(sub: Any) -> argparse.ArgumentParser:
    cmd: argparse.ArgumentParser = sub.add_parser("db", help="the app's own database")
    actions = cmd.add_subparsers(dest="db_command", required=True)
    for name, help_text in (
        ("upgrade", "apply the schema migrations"),
        ("status", "show the schema revision (exit 3 when behind)"),
        ("purge", "delete expired sessions and stale leases"),
        ("new-key", "print a new key for SMARTAPP_TOKEN_KEY"),
        ("rotate-key", "re-encrypt stored sessions with the first SMARTAPP_TOKEN_KEY"),
    ):
        actions.add_parser(name, help=help_text)
    cmd.set_defaults(handler=cmd_db)
    return cmd


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def cmd_db(args: argparse.Namespace) -> int:
    from smartapp.cli.common import CliError
    from smartapp.config import ConfigError, load_config
    from smartapp.store import StoreError
    from smartapp.store.cipher import new_key

    if args.db_command == "new-key":
        _say(new_key())
        return 0
    try:
        config = load_config()
        return _run(args.db_command, config)
    except (ConfigError, StoreError) as err:
        raise CliError(str(err)) from err


def _run(action: str, config: Any) -> int:
    from smartapp.store import migrate
    from smartapp.store.cds import purge_replays, rotate_comments
    from smartapp.store.startup import open_database, session_store

    db = open_database(config, check_schema=False)
    try:
        if action == "upgrade":
            before, after = migrate.upgrade(db)
            if before == after:
                _say(f"{db.display_url}: schema already at revision {after}")
            else:
                _say(f"{db.display_url}: schema upgraded from {before or 'nothing'} to {after}")
            return 0
        if action == "status":
            current, head = migrate.schema_state(db)
            revision = current or "none"
            _say(f"{db.display_url}: schema revision {revision} (this version needs {head})")
            return 0 if current == head else EXIT_BEHIND
        migrate.require_current(db)
        store = session_store(config, db)
        if action == "purge":
            _say(f"{store.purge()} expired session(s) deleted; {store.count()} live")
            _say(f"{purge_replays(db)} expired CDS Hooks JWT id(s) deleted")
            return 0
        rewritten, dropped = store.rotate_key()
        comments = rotate_comments(db, store.cipher)
        rewritten, dropped = rewritten + comments[0], dropped + comments[1]
        _say(
            f"{rewritten} stored value(s) re-encrypted with the first SMARTAPP_TOKEN_KEY; "
            f"{dropped} that no key could read deleted"
        )
        return 0
    finally:
        db.close()
