"""Which lab results the rules may use, and which one is the latest (SPEC §2).

A result is *used* only when it is final (final/amended/corrected), interpretable, dated,
and carries what its kind needs (an interpreted qualitative value, or a converted
quantity). Pending results are shown in the evidence as pending and never used; results
that could not be interpreted are shown and never satisfy a requirement.

Which result is the latest: by date and, on the same day, by time when both carry one
(`ClinicalDate.certainly_before`). When the order of the newest results cannot be told —
the same day without times, or a partial date whose span contains the other's date — the
worse one counts (positive over negative, low over normal, pregnant over not pregnant,
detectable over not): `LabSeries.latest`. Every tuple here is in a fixed order that does
not depend on the order the server returned the entries in.

Dates after the as-of date (SPEC §2): a partial date whose span contains the as-of date is
placed on it (its span is cut at the as-of date); a result dated after the as-of date is
placed on its `issued` day when that is not after the as-of date; otherwise it is a data
problem: shown, listed (`DataProblem`), never used — and, being unusable, it keeps every
check that would have used it from saying `ok`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date
from typing import NamedTuple

from domain.records import (
    ClinicalDate,
    ClinicalDateKind,
    LabKind,
    LabResult,
    Qualitative,
    ResultStatus,
)

#: Kinds read as an interpreted qualitative value (positive/negative).
QUALITATIVE_KINDS = frozenset(
    {
        LabKind.HBV_DNA,  # detectable or not (fhir_mappings.read.qualitative.read_hbv_dna)
        LabKind.ANTI_HBC_TOTAL,
        LabKind.ANTI_HBC_IGM,
        LabKind.PREGNANCY_STATUS,
        LabKind.VARICELLA_IGG,
    }
)
#: Kinds read as a qualitative value or, failing that, a quantity the rules judge
#: (quantitative HBsAg in IU/mL, hCG in mIU/mL).
QUALITATIVE_OR_QUANTITY_KINDS = frozenset({LabKind.HBSAG, LabKind.HCG})
#: Kinds whose presence is what counts (a CBC was done); a lymphocyte % has no count.
PRESENCE_KINDS = frozenset({LabKind.CBC_PANEL, LabKind.WBC, LabKind.LYMPHOCYTES})
#: Quantities where a lower value is the worse one (low immunoglobulins, no B cells yet).
LOW_IS_WORSE = frozenset({LabKind.IGG, LabKind.IGM, LabKind.CD19})


# Bound once: an Enum member read off its class costs ~0.1 µs in CPython 3.11, and these
# run for every lab of every patient.
_FINAL = ResultStatus.FINAL
_PENDING = ResultStatus.PENDING
_POSITIVE = Qualitative.POSITIVE
_NEGATIVE = Qualitative.NEGATIVE
_DAY = ClinicalDateKind.DAY


def is_usable(lab: LabResult) -> bool:
    """Final, interpretable, dated, usable as of the day, and holding what its kind needs."""
    if (
        lab.status is not _FINAL
        or not lab.interpretable
        or lab.when is None
        or lab.unused_because is not None
    ):
        return False
    kind = lab.kind
    if kind in QUALITATIVE_KINDS:
        return lab.qualitative is not None
    if kind in PRESENCE_KINDS:
        return True
    if kind in QUALITATIVE_OR_QUANTITY_KINDS:
        return lab.qualitative is not None or lab.value is not None
    return lab.value is not None


def worse_rank(lab: LabResult) -> tuple[int, float]:
    """Higher is worse: the rank that decides between results whose order cannot be told."""
    if lab.kind in LOW_IS_WORSE:
        return 0, -(lab.value if lab.value is not None else 0.0)
    if lab.qualitative is _POSITIVE:
        return 2, 0.0
    if lab.qualitative is _NEGATIVE:
        return 0, 0.0
    return 1, lab.value if lab.value is not None else 0.0


def order_key(lab: LabResult) -> tuple[date, date, str, tuple[int, float], str, str]:
    """Oldest first, then the worse of a tie; the reference and raw text make it total."""
    when = lab.when
    if when is None:
        return date.min, date.min, "", worse_rank(lab), lab.source.reference, lab.raw
    # The date as written orders times within a day well enough for display; which result
    # is the latest is `latest_of`'s job, with instants.
    return when.earliest, when.latest, when.text, worse_rank(lab), lab.source.reference, lab.raw


def in_order(labs: Iterable[LabResult]) -> tuple[LabResult, ...]:
    """`labs` sorted by `order_key` (none or one: as they are, no key worked out)."""
    items = labs if isinstance(labs, list) else list(labs)
    return tuple(items) if len(items) < 2 else tuple(sorted(items, key=order_key))


def latest_of(usable: Iterable[LabResult]) -> LabResult | None:
    """The latest of dated results: those no other result is certainly after, and of those
    (when their order cannot be told) the worse one (SPEC §2)."""
    results = [lab for lab in usable if lab.when is not None]
    if not results:
        return None
    if len(results) == 1:
        return results[0]
    newest_start = max(lab.when.earliest for lab in results if lab.when is not None)
    # Whatever ends before the newest start is certainly older; the rest are compared.
    candidates = [
        lab for lab in results if lab.when is not None and lab.when.latest >= newest_start
    ]
    if len(candidates) > 1:
        candidates = [
            lab
            for lab in candidates
            if not any(
                other is not lab
                and lab.when is not None
                and other.when is not None
                and lab.when.certainly_before(other.when)
                for other in candidates
            )
        ]
    return max(candidates, key=_decider)


def _decider(lab: LabResult) -> tuple[tuple[int, float], str, str]:
    return worse_rank(lab), lab.source.reference, lab.raw


class LabSeries(NamedTuple):
    """Results of some kinds, split by usability, each part in a fixed order."""

    usable: tuple[LabResult, ...]  # oldest first
    unusable: tuple[LabResult, ...]  # final, but uninterpretable, undated or misdated
    pending: tuple[LabResult, ...]
    #: The latest usable result (SPEC §2: the worse one when the order cannot be told).
    latest: LabResult | None

    @classmethod
    def of(
        cls,
        usable: Iterable[LabResult],
        unusable: Iterable[LabResult] = (),
        pending: Iterable[LabResult] = (),
    ) -> LabSeries:
        ordered = in_order(usable)
        return cls(ordered, in_order(unusable), in_order(pending), latest_of(ordered))

    def unreadable_since_latest(self) -> tuple[LabResult, ...]:
        """Unusable results that may be as recent as the latest usable one (or undated, or
        misdated): the latest value cannot be known, so a reassuring answer is not safe."""
        latest = self.latest
        if latest is None or latest.when is None:
            return self.unusable
        since = latest.when.earliest
        return tuple(
            lab
            for lab in self.unusable
            if lab.when is None or lab.unused_because is not None or lab.when.latest >= since
        )

    def pending_since_latest(self) -> tuple[LabResult, ...]:
        """Pending results not certainly older than the latest usable one (or all of them
        when none is usable): a newer answer may be on its way (SPEC §2 "Pending results")."""
        latest = self.latest
        if latest is None or latest.when is None:
            return self.pending
        newest = latest.when
        return tuple(
            lab for lab in self.pending if lab.when is None or not lab.when.certainly_before(newest)
        )


EMPTY_SERIES = LabSeries((), (), (), None)


class DataProblem(NamedTuple):
    """A record the rules could not use, and why (CLI `data.problems`, the data panel)."""

    reference: str
    reason: str

    def sentence(self) -> str:
        return f"{self.reference}: {self.reason}"


def place_on_as_of(lab: LabResult, as_of: date) -> LabResult:
    """The result as the rules use it on `as_of` (see the module docstring)."""
    when = lab.when
    if when is None or when.latest <= as_of:
        return lab
    if when.earliest <= as_of:
        # A partial date whose span contains the as-of date: never "future-dated".
        return replace(lab, when=ClinicalDate(when.earliest, as_of, when.text, when.precision))
    issued = lab.issued
    if issued is not None and issued.latest <= as_of:
        return replace(lab, when=issued)
    issued_text = f", issued {issued.text}" if issued is not None else ""
    reason = (
        f"dated {when.text}{issued_text}, after the as-of date {as_of.isoformat()}: "
        "a date error or a result not yet due; not used"
    )
    return replace(lab, unused_because=reason)


def index_labs(
    labs: Iterable[LabResult], as_of: date
) -> tuple[dict[LabKind, LabSeries], tuple[DataProblem, ...]]:
    """One pass over the record's results: each kind's series, and the results the rules
    could not use because of their date."""
    buckets: dict[LabKind, tuple[list[LabResult], list[LabResult], list[LabResult]]] = {}
    problems: list[DataProblem] = []
    for lab in labs:
        when = lab.when
        if when is not None and when.latest > as_of:
            lab = place_on_as_of(lab, as_of)
            if lab.unused_because is not None and lab.status is _FINAL:
                problems.append(DataProblem(lab.source.reference, lab.unused_because))
        bucket = buckets.get(lab.kind)
        if bucket is None:
            bucket = buckets[lab.kind] = ([], [], [])
        if lab.status is _PENDING:
            if lab.unused_because is None:
                bucket[2].append(lab)
        elif is_usable(lab):
            bucket[0].append(lab)
        else:
            bucket[1].append(lab)
    index = {
        kind: LabSeries.of(usable, unusable, pending)
        for kind, (usable, unusable, pending) in buckets.items()
    }
    problems.sort()
    return index, tuple(problems)


def series_of(index: Mapping[LabKind, LabSeries], *kinds: LabKind) -> LabSeries:
    """The results of one kind, or of several kinds merged in date order."""
    if len(kinds) == 1:
        return index.get(kinds[0], EMPTY_SERIES)
    parts = [index[kind] for kind in kinds if kind in index]
    if not parts:
        return EMPTY_SERIES
    if len(parts) == 1:
        return parts[0]
    return LabSeries.of(
        (lab for part in parts for lab in part.usable),
        (lab for part in parts for lab in part.unusable),
        (lab for part in parts for lab in part.pending),
    )


# --- values known as bounds, and lower limits (SPEC §2 "Comparators", "Quantitative") ----

#: A referenceRange.low without a unit is read in the value's unit only when it lies within
#: these factors of the default limit (SPEC §2); otherwise the default is used.
UNITLESS_LIMIT_FACTORS = (0.25, 4.0)


class Limit(NamedTuple):
    value: float
    #: Where it came from, for the detail ("the laboratory's range", "default").
    source: str
    #: Why the laboratory's own limit was not used, for the evidence ("" when it was).
    note: str = ""


def lower_limit(lab: LabResult, default: float, unit_text: str) -> Limit:
    """The result's own referenceRange.low when present and plausible, else `default`."""
    own = lab.lower_limit
    if own is None:
        return Limit(default, "default")
    if lab.lower_limit_unitless:
        low, high = (default * factor for factor in UNITLESS_LIMIT_FACTORS)
        if not low <= own <= high:
            note = (
                f"the laboratory's lower limit has no unit and, read as {own:g} {unit_text}, "
                f"is not between {low:g} and {high:g} (a quarter and four times the default): "
                f"the default {default:g} {unit_text} is used"
            )
            return Limit(default, "default", note)
        return Limit(own, "the laboratory's range, read in the value's unit (no unit given)")
    return Limit(own, "the laboratory's range")


def below(value: float, comparator: str, limit: float) -> bool | None:
    """Whether a value is below `limit`: True, False, or None when its bound does not settle
    it (`<0.5 g/L` against 0.4 g/L). A value exactly at the limit is not below it."""
    if not comparator:
        return value < limit
    if comparator == "<":
        return True if value <= limit else None
    if comparator == "<=":
        return True if value < limit else None
    if comparator in (">", ">="):
        return False if value >= limit else None
    return None


def at_or_above(value: float, comparator: str, limit: float) -> bool | None:
    """Whether a value is at or above `limit` (None when its bound does not settle it)."""
    result = below(value, comparator, limit)
    return None if result is None else not result
