"""The Flask web shell: app factory, blueprints, security, error pages, logging."""

from __future__ import annotations

import logging
import re

from flask import Flask

from smartapp.cds.views import bp as cds_bp
from smartapp.config import AppConfig, ConfigError, load_config
from smartapp.launch.keys import AppKey, load_app_key
from smartapp.launch.population import startup_notice
from smartapp.launch.session_store import SessionStore
from smartapp.launch.state import LaunchState, init_launch_state
from smartapp.launch.views import bp as launch_bp
from smartapp.store import Database, StoreError
from smartapp.store.startup import open_database, session_store
from smartapp.web.api import bp as api_bp
from smartapp.web.dashboard.routes import bp as dashboard_bp
from smartapp.web.database import init_database
from smartapp.web.errors import register_error_handlers
from smartapp.web.health import bp as health_bp
from smartapp.web.security import install_security
from smartapp.web.worklist.routes import bp as worklist_bp
from smartapp.web.writeback.routes import bp as writeback_bp

_QUERY = re.compile(r"\?[^\s\"]*")


class RedactQueryStrings(logging.Filter):
    """Access logs keep paths but drop query strings (`code`, `state`, `patient`, `iss`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg = _QUERY.sub("?…", message)
            record.args = None
        return True


def configure_logging(level: str) -> None:
    logging.getLogger("smartapp").setLevel(level)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    access = logging.getLogger("werkzeug")
    if not any(isinstance(item, RedactQueryStrings) for item in access.filters):
        access.addFilter(RedactQueryStrings())


def register_blueprints(app: Flask) -> None:
    """THE list of blueprints the app serves, in this order: add a feature here (one line).
    Importing a feature's routes only builds its blueprint; nothing registers itself."""
    app.register_blueprint(launch_bp)  # /launch, /callback, /open, /.well-known/jwks.json
    app.register_blueprint(health_bp)  # /healthz
    app.register_blueprint(dashboard_bp)  # /patient, /launch.html
    app.register_blueprint(api_bp)  # /api/patient/<id>
    app.register_blueprint(writeback_bp)  # /patient/plan, /patient/findings/<check>/acknowledge
    app.register_blueprint(
        worklist_bp
    )  # /worklist, /worklist.csv, /worklist/tasks, /worklist/open/<id>
    app.register_blueprint(cds_bp)  # /cds-services (CDS Hooks), /cds-services/report, /docs/…


def _app_key(config: AppConfig) -> AppKey | None:
    key = (
        load_app_key(config.private_key_path, kid=config.key_id)
        if config.private_key_path
        else None
    )
    needs_key = config.client_auth_method == "private_key_jwt" or any(
        tenant.auth_method == "private_key_jwt" for tenant in config.all_tenants()
    )
    if needs_key and key is None:
        raise ConfigError("SMARTAPP_PRIVATE_KEY: a tenant uses private_key_jwt but no key is set")
    return key


def create_app(
    config: AppConfig | None = None,
    *,
    store: SessionStore | None = None,
    database: Database | None = None,
) -> Flask:
    """Build the web app. Raises ConfigError (one clear line) on a bad setting, or when the
    database cannot be reached or its schema is behind (`smartapp db upgrade`).

    Sessions live in the database (`config.database_url`; in memory when it is None, for
    unit tests); `store` replaces them (tests)."""
    if config is None:
        config = load_config(require_secret=True)
    if not config.secret_key:
        raise ConfigError("SMARTAPP_SECRET_KEY: required to sign sessions (any long random string)")
    configure_logging(config.log_level)
    startup_log = logging.getLogger("smartapp")
    notice = startup_notice(config)
    if notice:
        startup_log.warning(notice)
    if config.public_url:
        for tenant in config.all_tenants():
            if not tenant.open_server:
                startup_log.info(
                    "redirect URI for %s: %s/callback/%s",
                    tenant.display_name,
                    config.public_url,
                    tenant.callback_id,
                )
    app = Flask(__name__)
    app.secret_key = config.secret_key
    # Forms and JSON posts are small; CDS Hooks prefetch is the largest expected body.
    app.config["MAX_CONTENT_LENGTH"] = 8 * 1024 * 1024
    app.jinja_env.autoescape = True
    app_key = _app_key(config)
    if database is None:
        try:
            database = open_database(config)
        except StoreError as err:
            raise ConfigError(f"SMARTAPP_DATABASE_URL: {err}") from err
    store = store or session_store(config, database)
    init_launch_state(app, LaunchState(config=config, store=store, app_key=app_key))
    init_database(app, database)
    install_security(app, config, store)
    register_error_handlers(app)
    register_blueprints(app)
    return app
