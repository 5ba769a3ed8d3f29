"""Lab trends (IgG, IgM) and the HBV results table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from domain.records import LabKind, LabResult, Qualitative, ResultStatus
from smartapp.rules.evidence import UNIT_TEXT, number
from smartapp.rules.results import below, lower_limit, place_on_as_of
from smartapp.web.dashboard.charts import PendingMark, Sample, trend_chart
from smartapp.web.dashboard.looks import clinical_date
from smartapp.web.dashboard.views import HbvRow, LabRow, LabTrend

# -- labs ---------------------------------------------------------------------------------

TREND_KINDS: tuple[tuple[LabKind, str, str], ...] = (
    (LabKind.IGG, "igg", "IgG"),
    (LabKind.IGM, "igm", "IgM"),
)

HBV_TESTS: dict[LabKind, str] = {
    LabKind.HBSAG: "HBsAg",
    LabKind.ANTI_HBC_TOTAL: "Anti-HBc (total)",
    LabKind.ANTI_HBC_IGM: "Anti-HBc IgM",
    LabKind.HBV_DNA: "HBV DNA",
    LabKind.ANTI_HBS: "Anti-HBs",
}


def _lab_day(lab: LabResult) -> date:
    return lab.when.earliest if lab.when else date.min


def _bound_text(lab: LabResult) -> str:
    """The value as written, comparator included ("<30", "710")."""
    return f"{lab.comparator}{number(lab.value)}" if lab.value is not None else "no value"


def lab_trend(
    kind: LabKind, key: str, name: str, labs: Iterable[LabResult], as_of: date, limit: float
) -> LabTrend:
    results = sorted((lab for lab in labs if lab.kind is kind), key=_lab_day, reverse=True)
    rows = []
    samples = []
    pending: list[PendingMark] = []
    for lab in results:
        chosen = lower_limit(lab, limit, "mg/dL")
        own_limit = chosen.value if chosen.source != "default" else None
        used_limit = chosen.value
        limit_text = (
            f"{number(own_limit)} (laboratory)"
            if own_limit is not None
            else f"{number(limit)} (default)"
        )
        if chosen.note:
            limit_text += f"; {chosen.note}"
        placed = place_on_as_of(lab, as_of)
        usable = (
            lab.status is ResultStatus.FINAL
            and lab.interpretable
            and lab.value is not None
            and placed.when is not None
            and placed.unused_because is None
        )
        verdict = below(lab.value, lab.comparator, used_limit) if lab.value is not None else None
        if lab.status is ResultStatus.PENDING:
            flag, flag_key = "Pending: not used", "pending"
            if lab.when is not None and lab.when.earliest <= as_of:
                pending.append(
                    PendingMark(lab.when.earliest, f"{name} pending since {lab.when.describe()}")
                )
        elif placed.unused_because is not None:
            flag, flag_key = f"Not used: {placed.unused_because}", "unusable"
        elif not lab.interpretable or lab.value is None:
            flag, flag_key = "Cannot be converted to mg/dL: not used", "unusable"
        elif verdict is None:
            flag, flag_key = (
                f"Known only as a bound ({lab.comparator}): may or may not be below the limit",
                "bound",
            )
        elif verdict:
            flag, flag_key = "Below lower limit", "low"
        else:
            flag, flag_key = "At or above lower limit", "normal"
        if usable and lab.value is not None and placed.when is not None:
            samples.append(
                Sample(
                    placed.when.earliest,
                    lab.value,
                    own_limit,
                    f"{name} {_bound_text(lab)} mg/dL on {lab.when.describe() if lab.when else ''}",
                    lab.comparator,
                )
            )
        rows.append(
            LabRow(
                date=clinical_date(lab.when),
                value=_bound_text(lab),
                recorded=lab.raw,
                lower_limit=limit_text,
                flag=flag,
                flag_key=flag_key,
                reference=lab.source.reference,
                matched_by=lab.source.matched_by,
            )
        )
    chart = trend_chart(samples, as_of=as_of, default_limit=limit, pending=pending)
    if samples:
        latest = max(samples, key=lambda s: s.day)
        low = sum(1 for point in chart.points if point.below_limit)
        bounds = sum(1 for point in chart.points if point.bound)
        description = (
            f"{len(samples)} {name} result(s) in mg/dL from {min(s.day for s in samples)} to "
            f"{latest.day}; latest {latest.comparator}{number(latest.value)} mg/dL; {low} below "
            f"the lower limit (dashed line; default {number(limit)} mg/dL)"
        )
        if bounds:
            description += f"; {bounds} known only as a bound (drawn as a bar with an arrow)"
        if pending:
            description += f"; {len(pending)} pending (marked on the time axis, no value)"
        description += "."
    else:
        description = f"No usable {name} result."
    return LabTrend(key, name, "mg/dL", chart, tuple(rows), description)


def hbv_rows(labs: Iterable[LabResult], as_of: date) -> tuple[HbvRow, ...]:
    rows = []
    for lab in sorted((lab for lab in labs if lab.kind in HBV_TESTS), key=_lab_day, reverse=True):
        placed = place_on_as_of(lab, as_of)
        if not lab.interpretable:
            result, key = "Cannot be interpreted", "unusable"
        elif lab.qualitative is Qualitative.POSITIVE:
            word = "Detectable" if lab.kind is LabKind.HBV_DNA else "Positive"
            result, key = word, "positive"
        elif lab.qualitative is Qualitative.NEGATIVE:
            word = "Not detectable" if lab.kind is LabKind.HBV_DNA else "Negative"
            result, key = word, "negative"
        elif lab.value is not None:
            unit = UNIT_TEXT.get(lab.unit or "", lab.unit or "")
            result, key = f"{_bound_text(lab)} {unit}".strip(), "value"
        else:
            result, key = "No result", "unusable"
        if lab.status is ResultStatus.PENDING:
            status = "Pending: not used"
        elif placed.unused_because is not None:
            status = f"Not used: {placed.unused_because}"
        else:
            status = "Final"
        rows.append(
            HbvRow(
                date=clinical_date(lab.when),
                test=HBV_TESTS[lab.kind],
                result=result,
                result_key=key,
                recorded=lab.raw,
                status=status,
                reference=lab.source.reference,
                matched_by=lab.source.matched_by,
            )
        )
    return tuple(rows)
