"""The `smartapp` command run as a user runs it: a child process from the repository root."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.servers import REPO


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m smartapp.cli *args` with `env` over this process's environment; its exit
    code is the caller's to check."""
    return subprocess.run(
        [sys.executable, "-m", "smartapp.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
