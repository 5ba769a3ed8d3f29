"""The `smartapp` command (SPEC §4 "Command line"): the same functions as the web app.

One module per command (`check`, `seed`, `worklist`, `writeback`, `db`, `serve`), each with
`add_parser(sub)` and its handler; what they share is public in `smartapp.cli.common`.
Exit codes: 0 when the work was done (even when the findings contain alerts), 2 when the
input or configuration is unusable, with one line saying why. No tracebacks for users.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from smartapp.cli import check, db, seed, serve, worklist, writeback
from smartapp.cli.common import EXIT_OK, EXIT_UNUSABLE, CliError
from smartapp.terminal import terminal_safe


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartapp", description="Ofatumumab (Kesimpta) safety and monitoring checks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    for command in (check, seed, worklist, writeback, db, serve):
        command.add_parser(sub)

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
