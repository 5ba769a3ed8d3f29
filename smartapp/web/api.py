"""`GET /api/patient/<id>`: the CLI's `check` JSON (SPEC §4) for a patient, as the launch
context allows.

- No launch in this browser session → 401 `{"error", "message"}`.
- A launch with a patient in context (an EHR launch, or a standalone launch that picked a
  patient) may read that patient only → 403 for any other id, whatever other scopes were
  granted (patient lock). Open-server launches, user-level launches without a patient and
  patients opened from the population worklist (under the app's sign-in) may read any id;
  the FHIR server still enforces its own access rules.
- A malformed id → 400. Server trouble is not an error here: the JSON is returned with
  `data.incomplete` / `data.problems` filled and the affected checks `unknown`, exactly
  as the dashboard shows it.
- `?as_of=YYYY-MM-DD` evaluates as of another day, like `smartapp check --as-of`.

The body is exactly `smartapp.report.summary_json(summary)`.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, jsonify, request

from fhir_mappings.ids import is_fhir_id
from smartapp.launch.context import current_context
from smartapp.report import summary_json
from smartapp.web.access import may_read
from smartapp.web.dashboard.reading import read_patient, server_timing
from smartapp.web.errors import PageError

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/patient/<patient_id>")
def patient_summary(patient_id: str) -> Response:
    context = current_context()
    if context is None:
        raise PageError(
            401,
            "Not launched",
            "There is no active launch in this browser session: launch the app from your "
            "EHR or from launch.html first.",
        )
    if not is_fhir_id(patient_id):
        raise PageError(400, "Invalid patient id", "A FHIR id is 1-64 letters, digits, '-' or '.'.")
    if not may_read(context, patient_id):
        raise PageError(
            403,
            "Not allowed",
            "This launch is for one patient only; it cannot read another patient.",
        )
    as_of_text = request.args.get("as_of")
    try:
        as_of = date.fromisoformat(as_of_text) if as_of_text else date.today()
    except ValueError:
        raise PageError(400, "Invalid as_of", "as_of must be a date like 2025-01-31.") from None
    read = read_patient(context, patient_id, as_of)
    response = jsonify(summary_json(read.summary))
    response.headers["Server-Timing"] = server_timing(
        ("fhir", read.fhir_ms), ("rules", read.rules_ms)
    )
    return response
