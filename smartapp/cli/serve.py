"""`smartapp serve`: run the web app under gunicorn."""

from __future__ import annotations

import argparse
from typing import Any

from smartapp.cli.common import EXIT_OK, CliError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    serve_cmd: argparse.ArgumentParser = sub.add_parser("serve", help="run the web app (gunicorn)")
    serve_cmd.add_argument("--port", type=int, default=8000)
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument(
        "--workers", type=int, help="gunicorn worker processes (default $SMARTAPP_WORKERS or 1)"
    )
    serve_cmd.add_argument(
        "--threads", type=int, help="threads per worker (default $SMARTAPP_THREADS or 8)"
    )
    serve_cmd.set_defaults(handler=cmd_serve)
    return serve_cmd


def cmd_serve(args: argparse.Namespace) -> int:
    from smartapp.config import ConfigError
    from smartapp.serve import serve

    try:
        serve(port=args.port, host=args.host, workers=args.workers, threads=args.threads)
    except ConfigError as err:
        raise CliError(str(err)) from err
    return EXIT_OK
