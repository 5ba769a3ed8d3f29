"""Discovery documents: SMART configuration, OpenID configuration, the JWKS, health."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from sandbox_ehr.state import SandboxState, sandbox

bp = Blueprint("discovery", __name__)

CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-ehr-patient",
    "context-standalone-patient",
    "context-banner",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v2",
    "permission-v1",
]
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
AUTH_METHODS = ["client_secret_basic", "private_key_jwt", "none"]
SCOPES_SUPPORTED = [
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "online_access",
    "offline_access",
    "patient/*.cruds",
    "user/*.cruds",
    "system/*.cruds",
    "patient/*.read",
    "patient/*.write",
    "user/*.read",
    "user/*.write",
    "system/*.read",
    "system/*.write",
]


def _endpoints(st: SandboxState) -> dict[str, Any]:
    """Who the sandbox is and where its endpoints are: the same in both discovery documents."""
    return {
        "issuer": st.issuer,
        "jwks_uri": st.jwks_url,
        "authorization_endpoint": st.authorize_url,
        "token_endpoint": st.token_url,
    }


def smart_configuration(st: SandboxState) -> dict[str, Any]:
    return {
        **_endpoints(st),
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
        "authorization_response_iss_parameter_supported": True,
    }


def openid_configuration(st: SandboxState) -> dict[str, Any]:
    return {
        **_endpoints(st),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile", "email", "groups"],
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nonce",
            "fhirUser",
            "name",
            "preferred_username",
            "email",
            "groups",
        ],
        "authorization_response_iss_parameter_supported": True,
        "grant_types_supported": GRANT_TYPES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
    }


def _json(data: dict[str, Any]) -> Response:
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/fhir/.well-known/smart-configuration")
def smart_config() -> Response:
    return _json(smart_configuration(sandbox()))


@bp.get("/.well-known/openid-configuration")
def openid_config() -> Response:
    return _json(openid_configuration(sandbox()))


@bp.get("/jwks")
def jwks() -> Response:
    return _json(sandbox().signing_key.jwks())


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})
