"""Fixtures for the CDS Hooks tests: the app with one registered CDS client (inline JWKS).

`app` and `client` are the shared ones (tests.launch.launch_fakes, a pytest plugin) built
from the `config` below."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from smartapp.cds.views import CdsState, install_cds
from smartapp.config import AppConfig
from tests.cds.cds_fakes import cds_config, write_clients
from tests.launch.launch_fakes import make_config


@pytest.fixture
def cds_clients_path(tmp_path: Path) -> str:
    return write_clients(tmp_path)


@pytest.fixture
def config(cds_clients_path: str) -> AppConfig:
    return cds_config(make_config(), cds_clients_path)


@pytest.fixture
def cds(app: Flask) -> CdsState:
    return install_cds(app)
