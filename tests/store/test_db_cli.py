"""`smartapp db …` as an operator runs it (a real process, real databases)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from smartapp.store.migrate import head_revision

REPO = Path(__file__).resolve().parents[2]


def smartapp_db(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartapp.cli", "db", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "SMARTAPP_SECRET_KEY": "", "SMARTAPP_TOKEN_KEY": "", **env},
        timeout=60,
        check=False,
    )


def test_status_upgrade_status(database_url: str) -> None:
    behind = smartapp_db("status", SMARTAPP_DATABASE_URL=database_url)
    assert behind.returncode == 3
    assert f"schema revision none (this version needs {head_revision()})" in behind.stdout
    done = smartapp_db("upgrade", SMARTAPP_DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert f"schema upgraded from nothing to {head_revision()}" in done.stdout
    again = smartapp_db("upgrade", SMARTAPP_DATABASE_URL=database_url)
    assert "already at revision" in again.stdout
    assert smartapp_db("status", SMARTAPP_DATABASE_URL=database_url).returncode == 0
    purge = smartapp_db("purge", SMARTAPP_DATABASE_URL=database_url, SMARTAPP_SECRET_KEY="s" * 32)
    assert purge.returncode == 0 and "expired session(s) deleted" in purge.stdout


def test_the_default_database_is_a_file_in_the_data_directory(tmp_path: Path) -> None:
    done = smartapp_db("upgrade", SMARTAPP_DATA_DIR=str(tmp_path), SMARTAPP_DATABASE_URL="")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "smartapp.db").is_file()


def test_an_unreachable_database_is_one_line_exit_2_without_the_password() -> None:
    done = smartapp_db("upgrade", SMARTAPP_DATABASE_URL="postgresql://u:pw-secret@127.0.0.1:9/x")
    assert done.returncode == 2
    assert done.stderr.startswith("smartapp: the app's database (")
    assert done.stderr.count("\n") == 1 and "pw-secret" not in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_settings_name_the_variable() -> None:
    bad_url = smartapp_db("status", SMARTAPP_DATABASE_URL="mysql://db/app")
    assert bad_url.returncode == 2
    assert bad_url.stderr == (
        "smartapp: SMARTAPP_DATABASE_URL: 'mysql' is not supported "
        "(use sqlite:/// or postgresql://)\n"
    )
    bad_key = smartapp_db("status", SMARTAPP_TOKEN_KEY="not-a-key")
    assert bad_key.returncode == 2
    assert bad_key.stderr.startswith("smartapp: SMARTAPP_TOKEN_KEY: key 1 is not a Fernet key")
    assert "not-a-key" not in bad_key.stderr


def test_new_key_prints_a_usable_key() -> None:
    from smartapp.store.cipher import TokenCipher

    done = smartapp_db("new-key")
    key = done.stdout.strip()
    assert done.returncode == 0
    assert TokenCipher([key]).decrypt(TokenCipher([key]).encrypt({"a": 1})) == {"a": 1}
