"""What the `smartapp` commands share: errors and exit codes, reading files and dates,
the configuration in force, the FHIR server to use and its client, Backend Services."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fhir_mappings.site import Mappings
    from smartapp.config import AppConfig

EXIT_OK = 0
EXIT_UNUSABLE = 2
#: `smartapp worklist`: printed, but the population may be incomplete (patients missing).
EXIT_INCOMPLETE = 3


class CliError(Exception):
    """Unusable input: printed as one line, exit code 2."""


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from err


def load_json_file(path: str) -> Any:
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


def config_and_mappings(args: argparse.Namespace) -> tuple[AppConfig, Mappings]:
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


def fhir_base_from(args: argparse.Namespace, config: Any) -> str:
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


def fhir_failure(err: Exception) -> CliError:
    """A FHIR client's error as one CLI line: a refused token, or any other server error
    (`raise fhir_failure(err) from err` in an `except FhirError`)."""
    from smartapp.fhir import TokenExpired

    if isinstance(err, TokenExpired):
        return CliError(f"FHIR server refused the token: {err}")
    return CliError(f"FHIR server error: {err}")


def fhir_client(base: str, config: Any, *, deadline: bool = True) -> Any:
    """A client for `base`; its reads bounded by SMARTAPP_FHIR_DEADLINE (whole command)
    and SMARTAPP_FHIR_MAX_BYTES. `deadline=False` for bulk loads (seeding)."""
    from smartapp.fhir import FhirClient, ReadLimits

    limits = ReadLimits.start(config.fhir_deadline_s if deadline else None, config.fhir_max_bytes)
    return FhirClient(
        base, timeout=config.fhir_timeout_s, dialect=config.dialect_for(base), limits=limits
    )


def backend_access(config: Any, base: str) -> tuple[str, Callable[[], str | None]]:
    """A Backend Services token for `base` and the client's `reauthorize` (a new token
    when the server refused this one: a long --every run outlives a token)."""
    from smartapp.config import ConfigError
    from smartapp.launch.backend import BackendTokenProvider
    from smartapp.launch.errors import LaunchError
    from smartapp.launch.keys import load_app_key

    if not config.private_key_path:
        raise CliError("--backend needs SMARTAPP_PRIVATE_KEY (the app's signing key)")
    try:
        key = load_app_key(config.private_key_path, kid=config.key_id)
    except ConfigError as err:
        raise CliError(str(err)) from err
    provider = BackendTokenProvider(config, key, iss=base)

    def token(force: bool = False) -> str:
        try:
            return str(provider.token(force=force)["access_token"])
        except ConfigError as err:
            raise CliError(str(err)) from err
        except LaunchError as err:
            raise CliError(f"backend services: {err.message}") from err

    return token(), lambda: token(force=True)
