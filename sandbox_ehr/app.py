"""`create_sandbox(config)`: the sandbox EHR as a Flask app."""

from __future__ import annotations

import secrets

import requests
from flask import Flask, Response

from sandbox_ehr import admin, cds_client, discovery, fhir_proxy, launcher, views
from sandbox_ehr.clients import ClientRegistry
from sandbox_ehr.config import RuntimeSettings, SandboxConfig
from sandbox_ehr.keys import SigningKey
from sandbox_ehr.server import SandboxAuthorizationServer
from sandbox_ehr.state import EXTENSION_KEY, SandboxState
from sandbox_ehr.tokens import Store


def create_sandbox(config: SandboxConfig | None = None) -> Flask:
    config = config or SandboxConfig()
    if not config.users:
        raise ValueError("SandboxConfig.users: at least one user is needed")
    app = Flask(__name__, static_folder=None)
    app.config["SECRET_KEY"] = config.secret_key or secrets.token_urlsafe(32)
    http = requests.Session()
    runtime = RuntimeSettings.from_config(config)
    state = SandboxState(
        config=config,
        runtime=runtime,
        clients=ClientRegistry.from_config(config, http, config.now),
        store=Store(),
        signing_key=SigningKey.load_or_create(config.signing_key_file),
        http=http,
    )
    app.extensions[EXTENSION_KEY] = state
    SandboxAuthorizationServer(app, state)

    app.register_blueprint(discovery.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(fhir_proxy.bp)
    app.register_blueprint(launcher.bp)
    app.register_blueprint(cds_client.bp)
    if config.test_mode:
        app.register_blueprint(admin.bp)
    app.after_request(_security_headers)
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # Codes and launch ids travel in URLs: keep them out of Referer headers.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        # No script anywhere. frame-ancestors is left open: the authorize pages may run
        # inside the app's frame within an EHR.
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'none'; base-uri 'none'"
        )
    return response
