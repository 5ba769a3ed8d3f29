"""`/healthz`: health for load balancers and compose. No PHI, no secrets, no FHIR call.

200 `{"status": "ok", …}` when the app and its database answer; 503 `{"status": "degraded",
"reason": …}` when the database does not (sessions and the stored worklist need it).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

from flask import Blueprint, Response, jsonify

from smartapp.launch.state import launch_state
from smartapp.web.database import current_database

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
    body: dict[str, object] = {
        "status": "ok",
        "version": app_version(),
        "fhir_base_configured": bool(config.fhir_base),
    }
    problem = current_database().ping()
    if problem is not None:
        body.update(status="degraded", reason=f"the app's database does not answer: {problem}")
    response = jsonify(body)
    response.status_code = 200 if problem is None else 503
    response.headers["Cache-Control"] = "no-store"
    return response
