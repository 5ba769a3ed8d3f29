"""Fixtures for the CDS Hooks tests: the app with one registered CDS client (inline JWKS)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from smartapp.cds.views import CdsState, install_cds
from smartapp.config import AppConfig
from smartapp.launch.session_store import MemorySessionStore
from smartapp.web import create_app
from tests.cds.cds_fakes import cds_config, write_clients
from tests.launch.launch_fakes import make_config


@pytest.fixture
def cds_clients_path(tmp_path: Path) -> str:
    return write_clients(tmp_path)


@pytest.fixture
def config(cds_clients_path: str) -> AppConfig:
    return cds_config(make_config(), cds_clients_path)


@pytest.fixture
def app(config: AppConfig) -> Flask:
    flask_app = create_app(config, store=MemorySessionStore())
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def cds(app: Flask) -> CdsState:
    return install_cds(app)
