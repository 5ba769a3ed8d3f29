"""THE list of blueprints the web app registers, in order ("module:attribute").

Add yours here (one line); `create_app` imports and registers every entry.
"""

from __future__ import annotations

import importlib

from flask import Blueprint

BLUEPRINTS: tuple[str, ...] = (
    "smartapp.launch.views:bp",  # /launch, /callback, /open, /.well-known/jwks.json
    "smartapp.web.health:bp",  # /healthz
    "smartapp.web.dashboard:bp",  # /patient, /launch.html
    "smartapp.web.api:bp",  # /api/patient/<id>
    "smartapp.web.writeback_views:bp",  # /patient/plan, /patient/findings/<check>/acknowledge
    "smartapp.web.worklist:bp",  # /worklist, /worklist.csv, /worklist/tasks, /worklist/open/<id>
    "smartapp.cds.views:bp",  # /cds-services (CDS Hooks), /cds-services/report, /docs/…
)


def load_blueprints(names: tuple[str, ...] = BLUEPRINTS) -> list[Blueprint]:
    found: list[Blueprint] = []
    for name in names:
        module_name, _, attribute = name.partition(":")
        blueprint = getattr(importlib.import_module(module_name), attribute or "bp")
        if not isinstance(blueprint, Blueprint):
            raise TypeError(f"{name} is not a flask.Blueprint")
        found.append(blueprint)
    return found
