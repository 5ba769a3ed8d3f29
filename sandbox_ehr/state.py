"""The one object every part of the sandbox shares, kept in `app.extensions`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import requests
from flask import current_app

from sandbox_ehr.clients import ClientRegistry
from sandbox_ehr.config import RuntimeSettings, SandboxConfig
from sandbox_ehr.keys import SigningKey
from sandbox_ehr.tokens import Store

EXTENSION_KEY = "sandbox_ehr"


@dataclass
class SandboxState:
    config: SandboxConfig
    runtime: RuntimeSettings
    clients: ClientRegistry
    store: Store
    signing_key: SigningKey
    http: requests.Session

    def now(self) -> float:
        return self.config.now() + self.runtime.clock_offset

    @property
    def issuer(self) -> str:
        return self.config.base_url

    @property
    def fhir_base(self) -> str:
        return self.config.fhir_base

    @property
    def authorize_url(self) -> str:
        return f"{self.config.base_url}/auth/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.config.base_url}/auth/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.config.base_url}/jwks"


def sandbox() -> SandboxState:
    return cast(SandboxState, current_app.extensions[EXTENSION_KEY])
