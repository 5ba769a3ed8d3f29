"""Which lab results the rules may use, sorted once per evaluation.

A result is *used* only when it is final (final/amended/corrected), interpretable, dated,
and carries what its kind needs (an interpreted qualitative value, or a converted
quantity). Pending results are shown in the evidence as pending and never used; results
that could not be interpreted are shown and never satisfy a requirement (SPEC §2).
Results dated after as_of had not been reported on that day and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from operator import attrgetter
from typing import NamedTuple

from fhir_mappings.records import LabKind, LabResult, ResultStatus

#: Kinds read as an interpreted qualitative value (positive/negative).
QUALITATIVE_KINDS = frozenset(
    {
        LabKind.HBSAG,
        LabKind.ANTI_HBC_TOTAL,
        LabKind.ANTI_HBC_IGM,
        LabKind.PREGNANCY_STATUS,
        LabKind.VARICELLA_IGG,
    }
)
#: Kinds whose presence is what counts (a CBC was done); a lymphocyte % has no count.
PRESENCE_KINDS = frozenset({LabKind.CBC_PANEL, LabKind.WBC, LabKind.LYMPHOCYTES})


#: Sort key of dated results: earliest day, then latest (only usable results are sorted,
#: and those are always dated).
lab_date_key: Callable[[LabResult], tuple[date, date]] = attrgetter("when.earliest", "when.latest")


# Bound once: an Enum member read off its class costs ~0.1 µs in CPython 3.11, and these
# run for every lab of every patient.
_FINAL = ResultStatus.FINAL
_PENDING = ResultStatus.PENDING
_HCG = LabKind.HCG


def is_usable(lab: LabResult) -> bool:
    """Final, interpretable, dated, and holding the value its kind is read by."""
    if lab.status is not _FINAL or not lab.interpretable or lab.when is None:
        return False
    kind = lab.kind
    if kind in QUALITATIVE_KINDS:
        return lab.qualitative is not None
    if kind in PRESENCE_KINDS:
        return True
    if kind is _HCG:
        return lab.qualitative is not None or lab.value is not None
    return lab.value is not None


class LabSeries(NamedTuple):
    """Results of some kinds dated on or before as_of (or undated), split by usability."""

    usable: tuple[LabResult, ...]  # oldest first
    unusable: tuple[LabResult, ...]  # final, but uninterpretable or undated
    pending: tuple[LabResult, ...]

    @property
    def latest(self) -> LabResult | None:
        return self.usable[-1] if self.usable else None

    def unreadable_since_latest(self) -> tuple[LabResult, ...]:
        """Unusable results that may be as recent as the latest usable one (or undated):
        the latest value cannot be known, so a reassuring answer would not be safe."""
        latest = self.latest
        if latest is None or latest.when is None:
            return self.unusable
        since = latest.when.earliest
        return tuple(lab for lab in self.unusable if lab.when is None or lab.when.latest >= since)


EMPTY_SERIES = LabSeries((), (), ())


def index_labs(labs: Iterable[LabResult], as_of: date) -> dict[LabKind, LabSeries]:
    """One pass over the record's results: each kind's series, usable ones oldest first."""
    buckets: dict[LabKind, tuple[list[LabResult], list[LabResult], list[LabResult]]] = {}
    for lab in labs:
        when = lab.when
        if when is not None and when.earliest > as_of:
            continue  # not yet reported as of that day
        bucket = buckets.get(lab.kind)
        if bucket is None:
            bucket = buckets[lab.kind] = ([], [], [])
        if lab.status is _PENDING:
            bucket[2].append(lab)
        elif is_usable(lab):
            bucket[0].append(lab)
        else:
            bucket[1].append(lab)
    index: dict[LabKind, LabSeries] = {}
    for kind, (usable, unusable, pending) in buckets.items():
        if len(usable) > 1:
            usable.sort(key=lab_date_key)
        index[kind] = LabSeries(tuple(usable), tuple(unusable), tuple(pending))
    return index


def series_of(index: Mapping[LabKind, LabSeries], *kinds: LabKind) -> LabSeries:
    """The results of one kind, or of several kinds merged in date order."""
    if len(kinds) == 1:
        return index.get(kinds[0], EMPTY_SERIES)
    parts = [index[kind] for kind in kinds if kind in index]
    if not parts:
        return EMPTY_SERIES
    if len(parts) == 1:
        return parts[0]
    usable = sorted((lab for part in parts for lab in part.usable), key=lab_date_key)
    return LabSeries(
        tuple(usable),
        tuple(lab for part in parts for lab in part.unusable),
        tuple(lab for part in parts for lab in part.pending),
    )
