"""Write the demo cohort as collection Bundle files.

    python -m smartapp.demo.export DIR [--anchor YYYY-MM-DD] [--slug SLUG ...]

Files are generated, never committed: the demo's dates are relative to the anchor (today
by default), so a stored file would go stale. Each file `DIR/<slug>.json` can be checked
with `smartapp check --bundle DIR/<slug>.json --as-of <anchor>`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from smartapp.demo.bundles import DEMO_SYSTEM, demo_collection_bundle, demo_system
from smartapp.demo.situations import DEMO_SLUGS


def export(
    directory: Path,
    anchor: date,
    *,
    slugs: Sequence[str] = DEMO_SLUGS,
    identifier_system: str = DEMO_SYSTEM,
) -> list[Path]:
    """Write one collection Bundle per situation; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for slug in slugs:
        bundle = demo_collection_bundle(anchor, slug, identifier_system=identifier_system)
        path = directory / f"{slug}.json"
        path.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smartapp.demo.export",
        description="Write the demo patients as FHIR collection Bundles (one file each).",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--anchor",
        type=_parse_date,
        default=None,
        help="the day the demo is relative to (default: today)",
    )
    parser.add_argument(
        "--slug",
        action="append",
        choices=DEMO_SLUGS,
        metavar="SLUG",
        help="only this situation (repeatable; default: all)",
    )
    parser.add_argument("--run-id", help="suffix for a demo identifier system of your own")
    args = parser.parse_args(argv)
    anchor = args.anchor or date.today()
    try:
        system = demo_system(args.run_id)
    except ValueError as err:
        parser.error(str(err))
    paths = export(args.directory, anchor, slugs=args.slug or DEMO_SLUGS, identifier_system=system)
    sys.stdout.write(f"wrote {len(paths)} bundles to {args.directory} (anchor {anchor})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
