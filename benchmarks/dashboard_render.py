"""Server-side render time of the dashboard (`/patient`) over the demo cohort (SPEC §5).

    python benchmarks/dashboard_render.py [--fhir-base URL] [--app-url URL] [--repeat 10]

Without --fhir-base it starts the local HAPI server (hapi/run) on a free port; without
--app-url it starts the app (`python -m smartapp.cli serve`) on a free port with that
server as an allowlisted open server (an --app-url app must list --fhir-base in
SMARTAPP_ISSUERS and SMARTAPP_OPEN_SERVERS). It seeds the demo cohort and one generated
patient with 5 years of history under a fresh identifier system, opens each patient in
open-server mode (`/open`), discards that first view (warm-up), then renders `/patient`
--repeat times and reads the app's own `Server-Timing` header:

- `fhir`: the FHIR read (the batch round trip(s) to the server);
- `rules`: reading the FHIR JSON into records and evaluating every check;
- `render`: the view model and the Jinja template;
- `server` = rules + render: what the app adds on top of the FHIR server's time;
- `total`: the whole HTTP request as the client sees it.

Prints one row per patient (medians) and the p50/p95 of every measure over all views.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.seeded import fhir_server, seed_demo_and_history
from tests.support.loopback import LoopbackSession
from tests.support.servers import free_port

RESULTS = Path(__file__).resolve().parent / "results"
MEASURES = ("fhir", "rules", "render", "server", "total")


@dataclass
class PatientRun:
    label: str
    resources: int = 0
    round_trips: int = 0
    samples: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MEASURES})


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def server_timing(header: str) -> dict[str, float]:
    found = re.findall(r"([A-Za-z0-9_-]+);dur=([0-9.]+)", header)
    return {name: float(ms) for name, ms in found}


@contextmanager
def app_server(fhir_base: str) -> Iterator[str]:
    """The app as a real process (gunicorn, one worker, as `smartapp serve` runs it)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.gettempdir()) / f"dashboard_render_app_{port}.log"
    env = {
        **os.environ,
        "SMARTAPP_SECRET_KEY": secrets.token_urlsafe(32),
        "SMARTAPP_ISSUERS": fhir_base,
        "SMARTAPP_OPEN_SERVERS": fhir_base,
        "SMARTAPP_PUBLIC_URL": url,
        "SMARTAPP_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartapp.cli", "serve", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"the app exited early; see {log}")
                try:
                    if requests.get(f"{url}/healthz", timeout=2).ok:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"the app did not start; see {log}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def measure(app: str, fhir_base: str, label: str, patient_id: str, repeat: int) -> PatientRun:
    run = PatientRun(label)
    with LoopbackSession() as session:
        # /open → /patient: the first (discarded) view; the session now holds the context.
        first = session.get(
            f"{app}/open", params={"iss": fhir_base, "patient": patient_id}, timeout=120
        )
        if first.status_code != 200 or not first.url.endswith("/patient"):
            raise SystemExit(f"{label}: /open gave {first.status_code} at {first.url}")
        summary = re.search(r"Data: (\d+) FHIR requests?, (\d+) resources read", first.text)
        if summary:
            run.round_trips, run.resources = int(summary.group(1)), int(summary.group(2))
        for _ in range(repeat):
            started = time.perf_counter()
            response = session.get(f"{app}/patient", timeout=120)
            total = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{label}: /patient gave {response.status_code}")
            timing = server_timing(response.headers.get("Server-Timing", ""))
            run.samples["fhir"].append(timing["fhir"])
            run.samples["rules"].append(timing["rules"])
            run.samples["render"].append(timing["render"])
            run.samples["server"].append(timing["rules"] + timing["render"])
            run.samples["total"].append(total)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fhir-base", help="a running FHIR server (default: start hapi/run)")
    parser.add_argument("--app-url", help="a running app (default: start one)")
    parser.add_argument("--repeat", type=int, default=10, help="views per patient")
    args = parser.parse_args()

    with ExitStack() as stack:
        base = fhir_server(stack, args.fhir_base, RESULTS).rstrip("/")
        print(f"seeding the demo cohort and a 5-year patient into {base} ...", flush=True)
        ids = seed_demo_and_history(base, "render", generator_seed=11)
        app = args.app_url.rstrip("/") if args.app_url else stack.enter_context(app_server(base))
        print(f"app {app}; {len(ids)} patients x {args.repeat} views\n", flush=True)

        runs = [
            measure(app, base, slug, pid, args.repeat)
            for slug, pid in sorted(ids.items(), key=lambda item: (item[0].startswith("gen"), item))
        ]

    def label(run: PatientRun) -> str:
        return "generated, 5 years" if run.label.startswith("gen") else run.label

    print(
        f"{'patient (medians, ms)':36} {'res':>4} {'rt':>3} {'fhir':>7} {'rules':>7} "
        f"{'render':>7} {'server':>7} {'total':>7}"
    )
    for run in runs:
        med = {m: statistics.median(run.samples[m]) for m in MEASURES}
        print(
            f"{label(run):36} {run.resources:4d} {run.round_trips:3d} {med['fhir']:7.1f} "
            f"{med['rules']:7.1f} {med['render']:7.1f} {med['server']:7.1f} {med['total']:7.1f}"
        )
    views = sum(len(run.samples["total"]) for run in runs)
    print(f"\nover all {views} views ({len(runs)} patients x {args.repeat}), ms:")
    print(f"{'measure':10} {'p50':>8} {'p95':>8} {'max':>8}")
    for measure_name in MEASURES:
        values = [v for run in runs for v in run.samples[measure_name]]
        print(
            f"{measure_name:10} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
            f"{max(values):8.1f}"
        )
    print(f"\nround trips per view: at most {max(run.round_trips for run in runs)}")


if __name__ == "__main__":
    main()
