"""`python -m sandbox_ehr --port N --fhir-upstream URL [--public-url URL] …`"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from sandbox_ehr.app import create_sandbox
from sandbox_ehr.config import DEFAULT_APP_LAUNCH_URL, DEFAULT_REDIRECT_URIS, SandboxConfig

log = logging.getLogger("sandbox_ehr")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sandbox_ehr", description=__doc__)
    p.add_argument("--port", type=int, default=9090)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument(
        "--fhir-upstream", required=True, help="the real FHIR base, e.g. http://127.0.0.1:8080/fhir"
    )
    p.add_argument(
        "--public-url", help="the sandbox base URL as browsers see it (default http://HOST:PORT)"
    )
    p.add_argument(
        "--redirect-uri", action="append", help="redirect URI of the default clients (repeatable)"
    )
    p.add_argument("--app-launch-url", default=DEFAULT_APP_LAUNCH_URL)
    p.add_argument(
        "--login-redirect-uri",
        action="append",
        help="redirect URI of the sign-in client smartapp-login (repeatable; default "
        "{origin of --app-launch-url}/login/callback)",
    )
    p.add_argument(
        "--cds-services",
        help="CDS Hooks discovery URL for the /cds client page "
        "(default {origin of --app-launch-url}/cds-services)",
    )
    p.add_argument("--clients", help="JSON file {'clients': [...]} of extra client registrations")
    p.add_argument("--client-jwks-uri", help="JWKS URL of smartapp-asymmetric and smartapp-backend")
    p.add_argument("--client-jwks", help="JWKS file of smartapp-asymmetric and smartapp-backend")
    p.add_argument("--signing-key", help="RS256 key file (PEM or JWK); created when missing")
    p.add_argument("--auto-login", metavar="USER_ID", help="skip the login page as this user")
    p.add_argument("--auto-approve", action="store_true", help="skip the consent page")
    p.add_argument("--read-only", action="store_true", help="never grant c/u/d permissions")
    p.add_argument("--access-token-lifetime", type=int, default=3600)
    p.add_argument("--test-mode", action="store_true", help="enable /_admin/config")
    p.add_argument(
        "--insecure-transport",
        action="store_true",
        help="allow plain http on a non-loopback host (docker networks); never in production",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.insecure_transport:
        # authlib refuses http except on loopback; this process is only the sandbox.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    client_jwks = json.loads(Path(args.client_jwks).read_text()) if args.client_jwks else None
    config = SandboxConfig(
        public_url=args.public_url or f"http://{args.host}:{args.port}",
        fhir_upstream=args.fhir_upstream,
        app_redirect_uris=tuple(args.redirect_uri or DEFAULT_REDIRECT_URIS),
        app_launch_url=args.app_launch_url,
        login_redirect_uris=tuple(args.login_redirect_uri or ()),
        clients_file=args.clients,
        client_jwks=client_jwks,
        client_jwks_uri=args.client_jwks_uri,
        signing_key_file=args.signing_key,
        auto_login_user=args.auto_login,
        auto_approve=args.auto_approve,
        grant_scopes_filter="read-only" if args.read_only else None,
        access_token_lifetime=args.access_token_lifetime,
        test_mode=args.test_mode,
        cds_services_url=args.cds_services,
    )
    try:
        app = create_sandbox(config)
    except (ValueError, OSError) as err:
        print(f"sandbox_ehr: {err}", file=sys.stderr)  # noqa: T201
        return 2
    log.info(
        "sandbox EHR at %s, FHIR base %s/fhir, upstream %s",
        config.base_url,
        config.base_url,
        config.upstream_base,
    )
    app.run(host=args.host, port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
