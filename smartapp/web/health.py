"""`/healthz`: liveness for load balancers and compose. No PHI, no secrets, no outbound call."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

from flask import Blueprint, Response, jsonify

from smartapp.launch.state import launch_state

bp = Blueprint("health", __name__)

DISTRIBUTION = "ofatumumab-smartapp"


@cache
def app_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    # A source checkout that was not pip-installed: read pyproject.toml.
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


@bp.get("/healthz")
def healthz() -> Response:
    config = launch_state().config
    response = jsonify(
        {
            "status": "ok",
            "version": app_version(),
            "fhir_base_configured": bool(config.fhir_base),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response
