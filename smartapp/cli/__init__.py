"""The `smartapp` command line (`smartapp.cli.main`); one module per command."""

from smartapp.cli.main import main

__all__ = ["main"]
