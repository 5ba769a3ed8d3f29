"""The SMART stack as real processes: HAPI (tests/conftest.py), the sandbox EHR, the app.

    python -m sandbox_ehr --test-mode --port S --fhir-upstream <hapi> \
        --redirect-uri <app>/callback/<sandbox's callback id> --app-launch-url <app>/launch
    python -m smartapp.cli serve --port A     (SMARTAPP_* from the environment)

Both listen on free loopback ports (plain http is allowed on loopback), log to files under
tests/e2e/artifacts/ (the app at INFO, for the "no PHI in logs" test) and stop when the
test session ends. A few demo patients are seeded once, under an identifier system of
its own.

Test modules bind the fixtures they use at module level (pytest finds them there; an
import would trip ruff's F811 on every test parameter):

    from tests.e2e import stack as smart
    smart_stack = smart.smart_stack

`smart_stack` and `demo_cohort` are session fixtures; when several modules import them the
processes still start once (a shared, reference-counted instance) and the cohort is
seeded once. `sandbox_settings` resets the sandbox's run-time knobs (`/_admin/config`)
before and after each test that uses it.
"""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from smartapp.config import default_callback_id
from smartapp.fhir import FhirClient
from tests.support.seeded import SeededCohort, seed_demo
from tests.support.servers import app_env, free_port, python_server, sandbox_server

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CLIENT_ID = "smartapp-demo"
NEUROLOGIST = "sandbox-neurologist"
#: The demo patients the SMART tests open (seeding the whole cohort takes much longer).
STACK_SLUGS = ("hbsag-positive", "recurrent-infections", "interrupted", "escaping")


@dataclass(frozen=True)
class SmartStack:
    hapi: str  # FHIR base of the real HAPI server (an open server for the app)
    sandbox: str  # sandbox EHR base URL; its FHIR base (the iss) is `sandbox_fhir`
    app: str  # the app's base URL (= SMARTAPP_PUBLIC_URL)
    app_log: Path
    sandbox_log: Path
    #: An "EHR UI" origin on another site (localhost, not 127.0.0.1) allowed to frame the
    #: app (SMARTAPP_FRAME_ANCESTORS); nothing listens there until a test serves a page.
    ehr_ui_port: int

    @property
    def ehr_ui_origin(self) -> str:
        return f"http://localhost:{self.ehr_ui_port}"

    @property
    def sandbox_fhir(self) -> str:
        return f"{self.sandbox}/fhir"

    def launcher_url(self, patient: str, *, user: str = NEUROLOGIST) -> str:
        """The sandbox EHR's "open the app for this patient" URL (an EHR launch)."""
        return f"{self.sandbox}/launcher?app={self.app}/launch&patient={patient}&user={user}"

    # -- the sandbox's run-time knobs (it runs with --test-mode) ---------------------------
    def configure_sandbox(self, **changes: Any) -> dict[str, Any]:
        reply = requests.post(f"{self.sandbox}/_admin/config", json=changes, timeout=10)
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result

    def reset_sandbox(self) -> None:
        reply = requests.post(f"{self.sandbox}/_admin/reset", timeout=10)
        assert reply.status_code == 200, reply.text

    # -- logs ----------------------------------------------------------------------------
    def app_log_text(self) -> str:
        return self.app_log.read_text(encoding="utf-8", errors="replace")

    def sandbox_log_text(self) -> str:
        return self.sandbox_log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def _scratch() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="smartapp-stack-") as folder:
        yield folder


def sandbox_redirect_uri(app: str, sandbox: str) -> str:
    """The app's redirect URI for the sandbox EHR (each EHR has its own: mix-up defence)."""
    return f"{app}/callback/{default_callback_id(f'{sandbox}/fhir')}"


def launch_options(app: str, sandbox: str) -> list[str]:
    """The sandbox EHR's flags for launching `app` (run-time knobs on: --test-mode)."""
    return [
        "--test-mode",
        "--redirect-uri",
        sandbox_redirect_uri(app, sandbox),
        "--app-launch-url",
        f"{app}/launch",
    ]


@contextmanager
def start_stack(hapi_base: str, log_dir: Path = ARTIFACTS) -> Iterator[SmartStack]:
    """Start the sandbox EHR and the app in front of `hapi_base`; stop both on exit."""
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(free_port())
    sandbox_port, app_port, ehr_ui_port = sorted(ports)
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    app = f"http://127.0.0.1:{app_port}"
    app_log = log_dir / "smart-stack-app.log"
    sandbox_log = log_dir / "smart-stack-sandbox.log"
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(_scratch()))
        # The sandbox EHR is the app's CDS Hooks client (its /cds page), keys at its jku.
        cds_clients = scratch / "cds-clients.json"
        cds_clients.write_text(
            json.dumps(
                {
                    "clients": [
                        {
                            "iss": sandbox,
                            "jku": f"{sandbox}/cds/jwks.json",
                            "services": ["*"],
                            "label": "Sandbox EHR",
                        }
                    ]
                }
            ),
            encoding="utf-8",
        )
        stack.enter_context(
            sandbox_server(sandbox_port, hapi_base, sandbox_log, *launch_options(app, sandbox))
        )
        stack.enter_context(
            python_server(
                ["-m", "smartapp.cli", "serve", "--port", str(app_port)],
                "/healthz",
                app_log,
                port=app_port,
                env=app_env(
                    {
                        "SMARTAPP_ISSUERS": f"{sandbox}/fhir,{hapi_base}",
                        "SMARTAPP_OPEN_SERVERS": hapi_base,
                        "SMARTAPP_CLIENT_ID": CLIENT_ID,
                        "SMARTAPP_PUBLIC_URL": app,
                        "SMARTAPP_FRAME_ANCESTORS": f"http://localhost:{ehr_ui_port}",
                        # A database of its own (created at start-up): nothing left from before.
                        "SMARTAPP_DATABASE_URL": f"sqlite:///{scratch}/app.db",
                        "SMARTAPP_CDS_CLIENTS": str(cds_clients),
                    }
                ),
            )
        )
        yield SmartStack(hapi_base, sandbox, app, app_log, sandbox_log, ehr_ui_port)


# -- one shared instance per test session ------------------------------------------------------

_shared_lock = threading.Lock()
_shared: dict[str, Any] = {"refs": 0, "stack": None, "exit": None, "cohorts": {}}


@contextmanager
def shared_stack(hapi_base: str) -> Iterator[SmartStack]:
    """`start_stack` once per process, however many session fixtures ask for it."""
    with _shared_lock:
        if _shared["stack"] is None:
            exit_stack = ExitStack()
            try:
                _shared["stack"] = exit_stack.enter_context(start_stack(hapi_base))
            except BaseException:
                exit_stack.close()
                raise
            _shared["exit"] = exit_stack
        _shared["refs"] += 1
        stack: SmartStack = _shared["stack"]
    try:
        yield stack
    finally:
        with _shared_lock:
            _shared["refs"] -= 1
            if _shared["refs"] == 0:
                exit_stack = _shared["exit"]
                _shared["stack"] = _shared["exit"] = None
                exit_stack.close()


#: The demo patients `STACK_SLUGS`, seeded once per server.
DemoCohort = SeededCohort


def seed_demo_cohort(hapi_base: str) -> DemoCohort:
    """The demo patients `STACK_SLUGS` under a fresh identifier system, seeded once."""
    with _shared_lock:
        cohort: DemoCohort | None = _shared["cohorts"].get(hapi_base)
        if cohort is not None:
            return cohort
        with FhirClient(hapi_base) as client:
            cohort = seed_demo(client, "smart", slugs=STACK_SLUGS)
        _shared["cohorts"][hapi_base] = cohort
        return cohort


# -- fixtures (bind them in the test module, see above) ---------------------------------------


@pytest.fixture(scope="session")
def smart_stack(hapi_base: str) -> Iterator[SmartStack]:
    with shared_stack(hapi_base) as stack:
        yield stack


@pytest.fixture(scope="session")
def demo_cohort(hapi_base: str) -> DemoCohort:
    return seed_demo_cohort(hapi_base)


@pytest.fixture
def sandbox_settings(smart_stack: SmartStack) -> Iterator[Callable[..., dict[str, Any]]]:
    """`sandbox_settings(grant_scopes_filter="read-only", …)`; reset before and after."""
    smart_stack.reset_sandbox()
    try:
        yield smart_stack.configure_sandbox
    finally:
        smart_stack.reset_sandbox()
