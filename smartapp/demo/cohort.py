"""What a demo situation is, and the `Cohort` a module of situations registers its own into.

Each module of situations keeps its own `Cohort`; `smartapp.demo.situations` lists them
(one explicit list, nothing registers by being imported) and combines them into the demo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from smartapp.demo.fhir_builders import PatientBuilder
from smartapp.rules import CHECKS

#: The check ids of SPEC §3, in the spec's order (the rules registry is the one list).
CHECK_IDS: tuple[str, ...] = tuple(check.id for check in CHECKS)

Build = Callable[[PatientBuilder], None]


@dataclass(frozen=True)
class Situation:
    slug: str
    #: The patient's family name: the situation, human-readable ("HBsAg-Positive").
    family: str
    gender: str
    age: int
    build: Build
    #: {check id: expected status} at as_of = anchor, for the checks the situation shows.
    expect: Mapping[str, str]
    severity: Mapping[str, str] = field(default_factory=dict)
    #: Expected Summary.phase ("pre-treatment", "loading", "maintenance", "interrupted").
    phase: str | None = None
    #: Expected Summary.schedule.earliest_start as an offset from the anchor.
    earliest_start: int | None = None
    given: str = "Demo"
    #: UTC offset of the patient's date-times (varied on purpose; calendar days never move).
    tz: str = "+00:00"
    #: MS onset as an offset in days; `ms_onset_year_only` records only its year ("2017").
    ms_onset: int = -2200
    ms_onset_year_only: bool = False
    ms_text: str | None = None

    @property
    def description(self) -> str:
        return " ".join((self.build.__doc__ or "").split())

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"


class Cohort:
    """The situations one module defines, in the order it defines them."""

    def __init__(self) -> None:
        self.situations: dict[str, Situation] = {}

    def situation(
        self,
        slug: str,
        family: str,
        *,
        gender: str,
        age: int,
        expect: Mapping[str, str],
        severity: Mapping[str, str] | None = None,
        phase: str | None = None,
        earliest_start: int | None = None,
        tz: str = "+00:00",
        ms_onset: int = -2200,
        ms_onset_year_only: bool = False,
        ms_text: str | None = None,
    ) -> Callable[[Build], Build]:
        """Register a situation; the decorated function adds its resources (docstring = story)."""
        unknown = (set(expect) | set(severity or {})) - set(CHECK_IDS)
        if unknown:
            raise ValueError(f"{slug}: unknown check ids {sorted(unknown)}")

        def register(build: Build) -> Build:
            if slug in self.situations:
                raise ValueError(f"duplicate situation {slug}")
            self.situations[slug] = Situation(
                slug=slug,
                family=family,
                gender=gender,
                age=age,
                build=build,
                expect=MappingProxyType(dict(expect)),
                severity=MappingProxyType(dict(severity or {})),
                phase=phase,
                earliest_start=earliest_start,
                tz=tz,
                ms_onset=ms_onset,
                ms_onset_year_only=ms_onset_year_only,
                ms_text=ms_text,
            )
            return build

        return register


def combine(cohorts: Iterable[Cohort]) -> Mapping[str, Situation]:
    """Every cohort's situations, in the order given; a slug may appear only once."""
    combined: dict[str, Situation] = {}
    for cohort in cohorts:
        for slug, spec in cohort.situations.items():
            if slug in combined:
                raise ValueError(f"duplicate situation {slug}")
            combined[slug] = spec
    return MappingProxyType(combined)
