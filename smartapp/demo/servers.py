"""How `scripts/demo` runs the sandbox EHR and the app, in one place the tests share.

Besides the EHR launch, the launcher and the open FHIR server, the demo runs population
mode: the worklist reads every patient with the app's Backend Services token (client
`smartapp-backend` at the sandbox, signed with a demo-only key generated into the demo's
folder), and only people who signed in to the app see it — OpenID Connect with the sandbox
EHR as the identity provider (client `smartapp-login`), members of `ms-coordinators` only.

    python -m smartapp.demo.servers sandbox --hapi URL --ehr URL --app URL --dir .demo
    python -m smartapp.demo.servers app     --hapi URL --ehr URL --app URL --dir .demo

Each replaces itself with the server (`exec`), so the caller's process id is the server's.
The app keeps its database in the demo's folder and upgrades its schema before serving.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from joserfc.jwk import RSAKey

from smartapp.config import default_callback_id
from smartapp.launch.keys import load_app_key, public_jwks

#: The sandbox's users (sandbox_ehr/config.py) the demo's closing text names.
COORDINATOR = "sandbox-coordinator"  # in ms-coordinators: signs in to the population worklist
NEUROLOGIST = "sandbox-neurologist"  # not in it: refused by the app's sign-in
ALLOWED_GROUP = "ms-coordinators"
#: The sandbox's published secret of its sign-in client (demo and tests only).
LOGIN_CLIENT_SECRET = "sandbox-login-secret"  # noqa: S105 - the sandbox's public test secret
PUBLIC_SERVER = "https://hapi.fhir.org/baseR4"


@dataclass(frozen=True)
class DemoUrls:
    hapi: str  # the FHIR base of the real server, e.g. http://127.0.0.1:8080/fhir
    ehr: str  # the sandbox EHR's origin
    app: str  # the app's origin

    @property
    def ehr_fhir(self) -> str:
        return f"{self.ehr}/fhir"


def demo_files(folder: Path, urls: DemoUrls) -> dict[str, Path]:
    """Write what both servers read: the app's key (kept between runs), its public JWKS
    (the sandbox's backend client trusts it) and the CDS Hooks client list."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "demo-app-key.pem"
    if not key.is_file():
        key.write_bytes(RSAKey.generate_key(2048).as_pem(private=True))
        key.chmod(0o600)
    jwks = folder / "demo-app-jwks.json"
    jwks.write_text(json.dumps(public_jwks(load_app_key(str(key)))), encoding="utf-8")
    cds = folder / "cds-clients.json"
    # The sandbox EHR is the app's CDS Hooks client (its /cds page), keys at its jku.
    clients = {"iss": urls.ehr, "jku": f"{urls.ehr}/cds/jwks.json", "services": ["*"]}
    cds.write_text(json.dumps({"clients": [{**clients, "label": "Sandbox EHR"}]}), "utf-8")
    return {"key": key, "jwks": jwks, "cds_clients": cds}


def sandbox_args(urls: DemoUrls, files: dict[str, Path]) -> list[str]:
    """`python -m sandbox_ehr …` arguments (after the interpreter)."""
    callback = f"{urls.app}/callback/{default_callback_id(urls.ehr_fhir)}"  # one per EHR
    return [
        "-m",
        "sandbox_ehr",
        "--port",
        str(urlsplit(urls.ehr).port),
        "--fhir-upstream",
        urls.hapi,
        "--redirect-uri",
        callback,
        "--app-launch-url",
        f"{urls.app}/launch",
        "--login-redirect-uri",
        f"{urls.app}/login/callback",
        "--client-jwks",
        str(files["jwks"]),
    ]


def app_env(
    urls: DemoUrls, folder: Path, files: dict[str, Path], secret_key: str | None = None
) -> dict[str, str]:
    """The app's settings; `secret_key` None: a fresh demo-only one."""
    return {
        # The demo's own SQLite database, next to its logs (not the user's default one).
        "SMARTAPP_DATA_DIR": str(folder),
        "SMARTAPP_CDS_CLIENTS": str(files["cds_clients"]),
        "SMARTAPP_SECRET_KEY": secret_key or f"demo-only-{secrets.token_hex(16)}",
        "SMARTAPP_ISSUERS": f"{urls.ehr_fhir},{urls.hapi},{PUBLIC_SERVER}",
        "SMARTAPP_OPEN_SERVERS": f"{urls.hapi},{PUBLIC_SERVER}",
        "SMARTAPP_CLIENT_ID": "smartapp-demo",
        "SMARTAPP_FHIR_BASE": urls.hapi,
        "SMARTAPP_PUBLIC_URL": urls.app,
        "SMARTAPP_SANDBOX_EHR": urls.ehr,
        # Population mode: the worklist with the app's own token, behind the app's sign-in.
        "SMARTAPP_BACKEND_ISS": urls.ehr_fhir,
        "SMARTAPP_BACKEND_CLIENT_ID": "smartapp-backend",
        "SMARTAPP_PRIVATE_KEY": str(files["key"]),
        "SMARTAPP_LOGIN_ISSUER": urls.ehr,
        "SMARTAPP_LOGIN_CLIENT_ID": "smartapp-login",
        "SMARTAPP_LOGIN_CLIENT_SECRET": LOGIN_CLIENT_SECRET,
        "SMARTAPP_LOGIN_ALLOWED_GROUPS": ALLOWED_GROUP,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smartapp.demo.servers", description=__doc__)
    parser.add_argument("server", choices=("sandbox", "app"))
    parser.add_argument("--hapi", required=True, help="FHIR base of the real server")
    parser.add_argument("--ehr", required=True, help="origin of the sandbox EHR")
    parser.add_argument("--app", required=True, help="origin of the app")
    parser.add_argument("--dir", type=Path, required=True, help="folder for keys and lists")
    args = parser.parse_args(argv)
    urls = DemoUrls(args.hapi.rstrip("/"), args.ehr.rstrip("/"), args.app.rstrip("/"))
    files = demo_files(args.dir, urls)
    if args.server == "sandbox":
        command = [sys.executable, *sandbox_args(urls, files)]
        env = dict(os.environ)
    else:
        port = str(urlsplit(urls.app).port)
        command = [sys.executable, "-m", "smartapp.cli", "serve", "--port", port]
        secret = os.environ.get("SMARTAPP_SECRET_KEY")
        env = {**os.environ, **app_env(urls, args.dir, files, secret)}
        # A demo database from an earlier version of the app is brought up to date first.
        upgrade = [sys.executable, "-m", "smartapp.cli", "db", "upgrade"]
        done = subprocess.run(upgrade, env=env, check=False)  # noqa: S603 - fixed arguments
        if done.returncode != 0:
            return done.returncode
    sys.stdout.flush()
    os.execve(sys.executable, command, env)  # noqa: S606 - our own interpreter, fixed args
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
