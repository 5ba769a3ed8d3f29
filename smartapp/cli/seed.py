"""`smartapp seed`: load the demo cohort (or a generated one) into a FHIR server."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from smartapp.cli.common import (
    EXIT_OK,
    EXIT_UNUSABLE,
    config_and_mappings,
    fhir_base_from,
    fhir_client,
    parse_date,
)
from smartapp.terminal import terminal_safe


def add_parser(sub: Any) -> argparse.ArgumentParser:
    seed_cmd: argparse.ArgumentParser = sub.add_parser(
        "seed", help="load the demo cohort (or a generated one)"
    )
    seed_cmd.add_argument("--fhir-base", help="FHIR server (default $SMARTAPP_FHIR_BASE)")
    seed_cmd.add_argument("--count", type=int, help="generate N random patients instead")
    seed_cmd.add_argument("--random-seed", type=int, default=0)
    seed_cmd.add_argument("--anchor", type=parse_date, help="the day dates are relative to")
    seed_cmd.set_defaults(handler=cmd_seed)
    return seed_cmd


def cmd_seed(args: argparse.Namespace) -> int:
    from smartapp.demo.bundles import demo_bundles
    from smartapp.demo.generator import generate_cohort
    from smartapp.demo.seed import seed

    config, _ = config_and_mappings(args)
    anchor = args.anchor or date.today()
    base = fhir_base_from(args, config)
    bundles = (
        generate_cohort(args.count, anchor, seed=args.random_seed)
        if args.count
        else demo_bundles(anchor)
    )
    with fhir_client(base, config, deadline=False) as client:
        report = seed(client, bundles)
    print(terminal_safe(report.describe()))
    return EXIT_OK if not report.errors else EXIT_UNUSABLE
