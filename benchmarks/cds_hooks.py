"""Latency of the CDS Hooks services as an EHR sees it (issue 14): p50/p95 per scenario.

    python benchmarks/cds_hooks.py [--fhir-base URL] [--repeat 5] [--threads 8]

Without --fhir-base it starts the local HAPI server (hapi/run) on a free port. It seeds the
demo cohort plus one generated patient with 5 years of history under a fresh identifier
system, starts the app (`smartapp serve`, gunicorn, as deployed) with one registered CDS
client, and times, for every patient, `repeat` calls of:

- patient-view and order-sign (an ofatumumab draft), with the full prefetch (filled from the
  FHIR server beforehand, as an EHR would: not timed) — the app makes no FHIR request;
- the same without prefetch: `fhirServer` only, the app reads the patient in one batch.

Every call carries a fresh RS384 JWT (signed before the clock starts). Time is measured at
the client: HTTP round trip to the app included, as the EHR waits for it. The app reports the
FHIR requests each call made (Server-Timing `fhir-requests`), which the table shows.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from joserfc import jwt
from joserfc.jwk import RSAKey

from benchmarks.seeded import fhir_server, seed_demo_and_history
from sandbox_ehr.cds_orders import draft_order
from tests.support.servers import free_port, python_server

ISS = "https://benchmark-ehr.example.org"
RESULTS = Path(__file__).resolve().parent / "results"


def token(key: RSAKey, aud: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "exp": now + 120, "iat": now, "jti": uuid.uuid4().hex}
    return jwt.encode(
        {"alg": "RS384", "typ": "JWT", "kid": key.kid}, claims, key, algorithms=["RS384"]
    )


def fill_prefetch(
    http: requests.Session, base: str, templates: dict[str, str], pid: str
) -> dict[str, Any]:
    found = {}
    for key, template in templates.items():
        url = f"{base}/{template.replace('{{context.patientId}}', pid)}"
        found[key] = http.get(url, headers={"Accept": "application/fhir+json"}, timeout=60).json()
    return found


def body(
    hook: str, pid: str, *, prefetch: dict[str, Any] | None, fhir_base: str | None
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/benchmark", "patientId": pid}
    if hook == "order-sign":
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": draft_order("ofatumumab", pid)}],
        }
    request: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch is not None:
        request["prefetch"] = prefetch
    if fhir_base is not None:
        request["fhirServer"] = fhir_base
    return request


def fhir_requests(header: str) -> int:
    for metric in header.split(","):
        name, _, desc = metric.strip().partition(";desc=")
        if name == "fhir-requests":
            return int(desc)
    return -1


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fhir-base")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    key = RSAKey.generate_key(2048, parameters={"kid": "bench-1"})
    with ExitStack() as stack:
        base = fhir_server(stack, args.fhir_base, RESULTS)
        ids = seed_demo_and_history(base, "cds-bench", generator_seed=5)

        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cds-bench-")))
        clients = scratch / "cds-clients.json"
        jwks = {"keys": [key.as_dict(private=False)]}
        clients.write_text(json.dumps({"clients": [{"iss": ISS, "jwks": jwks, "services": ["*"]}]}))
        port = free_port()
        app = f"http://127.0.0.1:{port}"
        print(f"starting the app on {app}...", flush=True)
        stack.enter_context(
            python_server(
                [
                    "-m",
                    "smartapp.cli",
                    "serve",
                    "--port",
                    str(port),
                    "--threads",
                    str(args.threads),
                ],
                "/healthz",
                scratch / "app.log",
                port=port,
                env={
                    "SMARTAPP_SECRET_KEY": secrets.token_urlsafe(32),
                    "SMARTAPP_ISSUERS": base,
                    "SMARTAPP_OPEN_SERVERS": base,
                    "SMARTAPP_PUBLIC_URL": app,
                    "SMARTAPP_CDS_CLIENTS": str(clients),
                    "SMARTAPP_DATABASE_URL": f"sqlite:///{scratch}/app.db",
                    "SMARTAPP_LOG_LEVEL": "WARNING",
                    "SMARTAPP_TENANTS": "",
                    "SMARTAPP_MAPPINGS": "",
                    "SMARTAPP_TOKEN_KEY": "",
                },
            )
        )
        http = stack.enter_context(requests.Session())
        services = http.get(f"{app}/cds-services", timeout=30).json()["services"]
        templates = services[0]["prefetch"]
        prefetched = {pid: fill_prefetch(http, base, templates, pid) for pid in ids.values()}

        scenarios = [
            ("patient-view, full prefetch", "ofatumumab-patient-view", "patient-view", True),
            ("order-sign, full prefetch", "ofatumumab-order-sign", "order-sign", True),
            ("patient-view, no prefetch", "ofatumumab-patient-view", "patient-view", False),
            ("order-sign, no prefetch", "ofatumumab-order-sign", "order-sign", False),
        ]
        samples: dict[str, list[float]] = {name: [] for name, *_ in scenarios}
        requests_seen: dict[str, set[int]] = {name: set() for name, *_ in scenarios}
        cards: dict[str, int] = {name: 0 for name, *_ in scenarios}

        def request(
            service: str, hook: str, pid: str, with_prefetch: bool
        ) -> tuple[str, dict[str, Any], dict[str, str]]:
            """(URL, body, headers) of one hook call, built before the clock starts."""
            url = f"{app}/cds-services/{service}"
            data = body(
                hook,
                pid,
                prefetch=prefetched[pid] if with_prefetch else None,
                fhir_base=None if with_prefetch else base,
            )
            return url, data, {"Authorization": f"Bearer {token(key, url)}"}

        warm = next(iter(ids.values()))
        for _name, service, hook, with_prefetch in scenarios:  # warm-up, not counted
            url, data, headers = request(service, hook, warm, with_prefetch)
            http.post(url, json=data, headers=headers, timeout=60)
        for _ in range(args.repeat):
            for pid in ids.values():
                for name, service, hook, with_prefetch in scenarios:
                    url, data, headers = request(service, hook, pid, with_prefetch)
                    started = time.perf_counter()
                    reply = http.post(url, json=data, headers=headers, timeout=60)
                    elapsed = (time.perf_counter() - started) * 1000
                    assert reply.status_code == 200, reply.text[:300]
                    samples[name].append(elapsed)
                    requests_seen[name].add(fhir_requests(reply.headers.get("Server-Timing", "")))
                    cards[name] += len(reply.json()["cards"])

    lines = [
        f"{'scenario':30} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'FHIR req/call':>14} {'cards':>6}"
    ]
    for name, *_ in scenarios:
        values = samples[name]
        seen = "/".join(str(n) for n in sorted(requests_seen[name]))
        lines.append(
            f"{name:30} {len(values):6d} {percentile(values, 0.5):8.1f} "
            f"{percentile(values, 0.95):8.1f} {max(values):8.1f} {seen:>14} {cards[name]:6d}"
        )
    print()
    print("\n".join(lines))
    print(
        f"\n{len(ids)} patients (the demo cohort + one with 5 years of history), "
        f"{args.repeat} rounds"
    )


if __name__ == "__main__":
    main()
