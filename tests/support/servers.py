"""Start real servers for integration and browser tests: HAPI FHIR, the sandbox EHR, the app.

Each runs as a child process on a free loopback port and is stopped when the test
session ends. HAPI takes about a minute to start, so it is started once per session.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, *, timeout_s: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited early; log:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(
        f"{url} did not answer within {timeout_s} s; log:\n{log.read_text()[-4000:]}"
    )


@contextmanager
def running(
    cmd: list[str],
    health_url: str,
    log: Path,
    *,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **(env or {})}
        )
        try:
            wait_for(health_url, timeout_s=timeout_s, proc=proc, log=log)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def hapi_server(log_dir: Path) -> Iterator[str]:
    """A real HAPI FHIR JPA server; yields its FHIR base URL."""
    external = os.environ.get("SMARTAPP_TEST_FHIR_BASE")
    if external:  # a developer's already-running server
        yield external.rstrip("/")
        return
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    with running(
        [str(REPO / "hapi" / "run"), "--port", str(port)],
        f"{base}/metadata",
        log_dir / "hapi.log",
        timeout_s=420,
    ):
        yield base


@contextmanager
def python_server(
    module_args: list[str],
    health_path: str,
    log: Path,
    *,
    port: int,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """A Python server (`python -m …`) on `port`; yields its base URL."""
    base = f"http://127.0.0.1:{port}"
    with running(
        [sys.executable, *module_args], f"{base}{health_path}", log, timeout_s=60, env=env
    ):
        yield base


def sandbox_server(
    port: int, fhir_upstream: str, log: Path, *options: str
) -> AbstractContextManager[str]:
    """The sandbox EHR on `port` in front of the FHIR server `fhir_upstream`, with `options`
    (its command-line flags); yields its base URL."""
    args = ["-m", "sandbox_ehr", "--port", str(port), "--fhir-upstream", fhir_upstream]
    return python_server([*args, *options], "/healthz", log, port=port)


def app_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment of an app server a test starts: `settings` over a new secret key, INFO
    logs and Secure cookies; every other SMARTAPP_* setting of the developer's shell is
    blanked, so nothing inherited changes the set-up."""
    inherited = {name: "" for name in os.environ if name.startswith("SMARTAPP_")}
    return {
        **inherited,
        "SMARTAPP_SECRET_KEY": secrets.token_urlsafe(32),
        "SMARTAPP_LOG_LEVEL": "INFO",
        "SMARTAPP_INSECURE_COOKIES": "0",
        **settings,
    }
