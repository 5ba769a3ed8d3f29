"""`/_admin/*`: test-only knobs on a running sandbox (registered only with `test_mode`)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from sandbox_ehr.state import sandbox

bp = Blueprint("admin", __name__, url_prefix="/_admin")


@bp.get("/config")
def get_config() -> Response:
    return jsonify(sandbox().runtime.as_dict())


@bp.post("/config")
def set_config() -> tuple[Response, int] | Response:
    st = sandbox()
    changes = request.get_json(silent=True)
    if not isinstance(changes, dict):
        return jsonify({"error": "send a JSON object"}), 400
    try:
        st.runtime.update(changes, st.config.users)
    except ValueError as err:
        return jsonify({"error": str(err)}), 400
    return jsonify(st.runtime.as_dict())


@bp.post("/reset")
def reset() -> Response:
    """Back to the configured settings (tokens already issued stay valid)."""
    st = sandbox()
    st.runtime.reset(st.config)
    return jsonify(st.runtime.as_dict())
