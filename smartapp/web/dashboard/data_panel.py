"""The "data" panel: what was read (FHIR round trips, searches), the value sets and
settings in force, and how long it took."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from domain.findings import Summary
from smartapp.fhir.querylog import QueryLogEntry
from smartapp.rules.settings import RuleSettings
from smartapp.web.dashboard.views import DataPanel, FetchInfo, QueryRow, ValueSetRow

# -- data panel ---------------------------------------------------------------------------


def query_row(entry: QueryLogEntry, searches: int) -> QueryRow:
    url = entry.url or "/"
    if entry.method == "POST" and not entry.url:
        url = f"/ (batch of {searches} searches)"
    outcome = str(entry.status) if entry.status is not None else (entry.error or "no answer")
    return QueryRow(
        method=entry.method,
        url=url,
        outcome=outcome,
        ok=entry.status is not None and 200 <= entry.status < 300,
        entries=str(entry.entries) if entry.entries is not None else "",
        ms=f"{entry.elapsed_ms:.0f}",
        attempt=entry.attempt,
    )


def _setting_rows(values: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(key), str(value)) for key, value in sorted(values.items()))


def data_panel(
    summary: Summary, mappings: Any, settings: RuleSettings, fetch: FetchInfo
) -> DataPanel:
    described: Mapping[str, Any] = mappings.describe() if mappings is not None else {}
    valuesets = tuple(
        ValueSetRow(
            id=str(vs.get("id", "")),
            title=str(vs.get("title", "")),
            codes=int(vs.get("codes", 0)),
            prefixes=", ".join(str(p) for p in vs.get("prefixes", [])),
            site_additions=tuple(
                f"{add.get('system')}|{add.get('code')} {add.get('display') or ''}".strip()
                for add in vs.get("site_additions", [])
            ),
        )
        for vs in described.get("valuesets", [])
    )
    data = summary.data
    return DataPanel(
        read=data.read,
        skipped=data.skipped,
        uninterpretable=data.uninterpretable,
        problems=tuple(data.problems),
        incomplete=tuple(sorted(data.incomplete)),
        queries=tuple(query_row(entry, len(fetch.searches)) for entry in fetch.queries),
        searches=tuple(fetch.searches),
        round_trips=len(fetch.queries),
        fhir_ms=fetch.fhir_ms,
        rules_ms=fetch.rules_ms,
        site_file=described.get("site_file"),
        site_settings=_setting_rows(described.get("settings", {})),
        rxnorm=tuple(str(code) for code in described.get("rxnorm_ofatumumab", [])),
        valuesets=valuesets,
        settings=_setting_rows(dataclasses.asdict(settings)),
    )
