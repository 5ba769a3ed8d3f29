"""`smartapp serve`: the web app under gunicorn, configured from the environment."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gunicorn.app.base import BaseApplication

from smartapp.config import load_config


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._app


def serve(
    *, port: int, host: str = "127.0.0.1", workers: int | None = None, threads: int | None = None
) -> None:
    """Validate the configuration and the database first (one clear line on error), then
    serve. Sessions live in the app's database, so any number of workers (and replicas on
    one database) serve one user's session alike.

    Workers and threads come from the options, else SMARTAPP_WORKERS / SMARTAPP_THREADS
    (default 1 and 8). SMARTAPP_PUBLIC_URL is required: without it the `Host` header of
    each request would choose the redirect URI.
    """
    from smartapp.config import ConfigError
    from smartapp.web import create_app
    from smartapp.web.capacity import limit_outbound
    from smartapp.web.database import current_database_of

    config = load_config(require_secret=True, require_public_url=True)
    if workers is not None:
        if workers < 1:
            raise ConfigError("--workers: must be at least 1")
        config = replace(config, workers=workers)
    if threads is not None:
        if threads < 2:
            raise ConfigError("--threads: must be at least 2 (one stays free for /healthz)")
        config = replace(config, threads=threads)
    app = create_app(config)
    # One thread per worker stays free for /healthz and local pages (smartapp.web.capacity).
    limit_outbound(app, config.threads - 1)
    database = current_database_of(app)
    # The schema check above opened connections; no worker may inherit them.
    database.close()
    _Gunicorn(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": config.workers,
            "threads": config.threads,
            "loglevel": config.log_level.lower(),
            "accesslog": None,  # access logs carry patient ids in URLs: PHI stays out of INFO logs
            "post_fork": lambda _server, _worker: database.after_fork(),
        },
    ).run()
