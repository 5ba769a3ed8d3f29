"""Random synthetic cohorts of any size, for benchmarks and load tests (SPEC §4 `seed`).

Each patient has MS and 1-5 years (configurable) of ofatumumab history: loading doses and
doses every 28 days with random late doses, a few gaps and discontinuations (about 30% of
patients inject at home after loading: their maintenance doses are recorded only as the
pharmacy's one-pen dispenses); baseline and
yearly labs (HBsAg, anti-HBc, IgG/IgM in g/L or mg/dL, CBC, hCG); brain MRIs; flu, COVID
and other vaccines (rarely a live one); occasional infections. About 60-150 resources for
five years. Everything is a function of (seed, patient index, anchor): patient `i` is the
same whatever the cohort size, and the same seed gives the same cohort.

`generate_cohort` yields transaction Bundles of conditional updates (like the named demo,
see `smartapp.demo.bundles`); `generate_patient_resources` gives plain resources with ids
for benchmarks that need no server.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import date

from smartapp.demo.bundles import DEMO_SYSTEM, transaction_bundle, with_identifiers
from smartapp.demo.fhir_builders import (
    ANTI_HBC,
    HBSAG,
    HBV_DNA,
    HCG_URINE,
    HERPES_ZOSTER,
    KESIMPTA_NDC_PACKAGE,
    KESIMPTA_NDC_PACKAGE_11,
    KESIMPTA_NDC_SYRINGE,
    MRI_BRAIN,
    MRI_BRAIN_WWO,
    PNEUMONIA,
    UTI,
    VIRAL_SINUSITIS,
    PatientBuilder,
    Resource,
    birth_date_for_age,
)

_GIVEN_FEMALE = (
    "Anna", "Maria", "Sofia", "Emma", "Olivia", "Laura", "Sarah", "Julia", "Elena", "Grace",
    "Hannah", "Chloe", "Nora", "Amira", "Priya", "Mei", "Fatima", "Ingrid", "Lucia", "Zoe",
)  # fmt: skip
_GIVEN_MALE = (
    "James", "David", "Lucas", "Omar", "Daniel", "Mateo", "Noah", "Samuel", "Ethan", "Adam",
    "Jonas", "Ravi", "Kenji", "Tomas", "Felix", "Hugo", "Luis", "Ali", "Peter", "Marco",
)  # fmt: skip
_FAMILY = (
    "Synthwood", "Testbrook", "Mockridge", "Sampleton", "Fauxley", "Demoford", "Proxmire",
    "Simsworth", "Placeholm", "Dummett", "Fictor", "Modelly", "Replicant", "Standish",
    "Examplar", "Surrogate", "Pseudova", "Trialbury", "Benchley", "Loadman",
)  # fmt: skip
_TIME_ZONES = ("+00:00", "-05:00", "-04:00", "+01:00", "+02:00")
_INFECTIONS = (
    (UTI, ("N39.0", "Urinary tract infection, site not specified")),
    (VIRAL_SINUSITIS, None),
    (PNEUMONIA, ("J18.9", "Pneumonia, unspecified organism")),
    (HERPES_ZOSTER, None),
)


def patient_key(index: int, seed: int = 0) -> str:
    """The id (and identifier value) of generated patient `index` for `seed`."""
    return f"gen-{seed}-{index:06d}"


def generate_patient_resources(
    index: int,
    anchor: date,
    *,
    seed: int = 0,
    years: tuple[int, int] = (1, 5),
    identifier_system: str = DEMO_SYSTEM,
) -> list[Resource]:
    """Generated patient `index`: plain resources, Patient first, ids `gen-<seed>-<index>-…`,
    relative references, each with the identifier `{identifier_system}|{id}`."""
    return with_identifiers(_build(index, anchor, seed, years), identifier_system)


def generate_cohort_resources(
    n: int,
    anchor: date,
    *,
    seed: int = 0,
    years: tuple[int, int] = (1, 5),
    identifier_system: str = DEMO_SYSTEM,
) -> Iterator[list[Resource]]:
    """`n` generated patients as plain resource lists (for the rules benchmark)."""
    _check(n, years)
    for index in range(n):
        yield generate_patient_resources(
            index, anchor, seed=seed, years=years, identifier_system=identifier_system
        )


def generate_cohort(
    n: int,
    anchor: date,
    *,
    seed: int = 0,
    years: tuple[int, int] = (1, 5),
    identifier_system: str = DEMO_SYSTEM,
) -> Iterator[Resource]:
    """`n` generated patients, one transaction Bundle of conditional updates each."""
    _check(n, years)
    for index in range(n):
        yield transaction_bundle(_build(index, anchor, seed, years), identifier_system)


#: Share of generated patients whose maintenance doses are recorded only as dispenses.
HOME_SHARE = 0.3


def _check(n: int, years: tuple[int, int]) -> None:
    if n < 0:
        raise ValueError(f"cohort size must not be negative, got {n}")
    low, high = years
    if not 0 < low <= high:
        raise ValueError(f"years must be (low, high) with 0 < low <= high, got {years}")


def _build(index: int, anchor: date, seed: int, years: tuple[int, int]) -> list[Resource]:
    # Synthetic data, not security: a seeded PRNG is exactly what we want.
    rng = random.Random(f"ofatumumab-demo:{seed}:{index}")  # noqa: S311
    b = PatientBuilder(key=patient_key(index, seed), anchor=anchor, tz=rng.choice(_TIME_ZONES))
    female = rng.random() < 0.7
    age = rng.randint(20, 62)
    given = rng.choice(_GIVEN_FEMALE if female else _GIVEN_MALE)
    b.patient(
        given,
        rng.choice(_FAMILY),
        "female" if female else "male",
        birth_date_for_age(anchor, age, rng.randint(0, 364)),
    )
    history = round(rng.uniform(years[0], years[1]) * 365)
    first = -history
    b.ms(first - rng.randint(90, 3000), relapsing=rng.random() < 0.85)

    style = rng.choices(("reference", "contained", "atc"), weights=(5, 3, 2))[0]
    ndc = rng.choice((KESIMPTA_NDC_PACKAGE, KESIMPTA_NDC_PACKAGE_11, KESIMPTA_NDC_SYRINGE))
    medication = b.kesimpta_medication(ndc=ndc) if style == "reference" else None
    doses = _dose_days(rng, first)
    discontinued = doses[-1] < -120
    order = b.medication_request(
        first - rng.randint(10, 30),
        start=first,
        medication=medication,
        status="stopped" if discontinued else "active",
    )

    # Baseline work-up (USPI 2.1) and MRI.
    baseline = first - rng.randint(10, 60)
    anti_hbc = "positive" if rng.random() < 0.04 else "negative"
    _labs(b, rng, baseline, igg=rng.gauss(1050, 180), igm=rng.gauss(110, 35), anti_hbc=anti_hbc)
    if female and age <= 50:
        b.qualitative(HCG_URINE, baseline, "negative")
    b.brain_mri(baseline - rng.randint(0, 30), code=rng.choice((MRI_BRAIN_WWO, MRI_BRAIN)))
    if rng.random() < 0.2:
        b.immunization("zoster-recombinant", first - rng.randint(30, 90))

    # A share of patients inject at home after the loading doses: the clinic charts those,
    # the specialty pharmacy's dispenses record the rest (a separate random stream, so the
    # rest of the patient is the same either way).
    home = random.Random(f"ofatumumab-demo-home:{seed}:{index}").random() < HOME_SHARE  # noqa: S311
    for number, when in enumerate(doses):
        if home and number >= 3:
            b.kesimpta_dispense(when, style=style, medication=medication, request=order, ndc=ndc)
        else:
            b.kesimpta_dose(when, style=style, medication=medication, request=order, ndc=ndc)

    # Yearly follow-up: labs (IgM drifts down on anti-CD20 therapy), MRI, vaccines.
    igg, igm = rng.gauss(1000, 170), rng.gauss(100, 30)
    year = 1
    while first + 365 * year - 30 < -1:
        when = min(first + 365 * year + rng.randint(-30, 20), -1)
        igg = igg * rng.uniform(0.9, 1.03)
        igm = igm * rng.uniform(0.82, 1.0)
        if rng.random() < 0.92:
            _labs(b, rng, when, igg=igg, igm=igm, anti_hbc=anti_hbc)
        if rng.random() < 0.9:
            b.brain_mri(min(when + rng.randint(-20, 20), -1), code=MRI_BRAIN_WWO)
        year += 1
    for day in range(first, 0, 365):
        if rng.random() < 0.65:
            vaccine = rng.choice(("flu", "flu-high-dose"))
            b.immunization(vaccine, _vaccine_day(rng, doses, day, day + 360))
        if rng.random() < 0.25:
            b.immunization("covid-mrna", _vaccine_day(rng, doses, day, day + 360))
        if rng.random() < 0.05:
            b.immunization(rng.choice(("tdap", "pcv20")), _vaccine_day(rng, doses, day, day + 360))
    if rng.random() < 0.01:
        b.immunization("varicella", rng.randint(first, -1))

    # Infections: about one every four years, resolved after 1-3 weeks unless recent.
    for _ in range(_poisson(rng, 0.25 * history / 365)):
        code, icd10 = rng.choice(_INFECTIONS)
        onset = rng.randint(first, -1)
        resolved = onset + rng.randint(7, 21)
        if resolved < 0:
            b.condition(
                code,
                onset,
                clinical="resolved",
                category="encounter-diagnosis",
                abatement=resolved,
                icd10=icd10,
            )
        else:
            b.condition(code, onset, category="encounter-diagnosis", icd10=icd10)
    return b.resources


def _labs(
    b: PatientBuilder, rng: random.Random, when: int, *, igg: float, igm: float, anti_hbc: str
) -> None:
    b.qualitative(HBSAG, when, "negative", style=rng.choice(("concept", "string", "loinc-answer")))
    b.qualitative(ANTI_HBC, when, anti_hbc, style=rng.choice(("concept", "string")))
    if anti_hbc == "positive":
        b.quantitative(HBV_DNA, when, 10, "[IU]/mL", comparator="<", unit_display="IU/mL")
    b.igg(when, max(round(igg), 150), unit=rng.choice(("g/L", "mg/dL")))
    b.igm(when, max(round(igm), 5), unit=rng.choice(("g/L", "mg/dL")))
    b.cbc(when, wbc=round(rng.uniform(4.0, 9.5), 1), lymphocytes=round(rng.uniform(0.9, 2.8), 1))


def _dose_days(rng: random.Random, first: int) -> list[int]:
    """Loading doses at weeks 0, 1, 2, then every 28 days with random late doses, rare early
    ones, occasional gaps, and sometimes a discontinuation; all before the anchor."""
    days = [first, first + 7 + rng.choice((0, 0, 0, 1)), first + 14 + rng.choice((0, 0, 0, 1))]
    stop = rng.randint(first + 60, -1) if rng.random() < 0.08 else 0
    day = days[-1] + 14
    while day < stop:
        days.append(day)
        roll = rng.random()
        if roll < 0.80:
            step = 28
        elif roll < 0.92:
            step = 28 + rng.randint(1, 6)
        elif roll < 0.97:
            step = 28 + rng.randint(7, 20)
        elif roll < 0.99:
            step = 28 - rng.randint(1, 3)
        else:
            step = rng.randint(40, 150)
        day += step
    return [d for d in days if d < 0]


def _vaccine_day(rng: random.Random, doses: list[int], low: int, high: int) -> int:
    """A day in [low, high] before the anchor; nine times in ten mid-cycle (14-18 days
    after a dose, as the label advises), otherwise any day (clinics do not always manage)."""
    cycle = [
        d
        for d, following in zip(doses, [*doses[1:], 0], strict=True)
        if low <= d <= high - 18 and following - d >= 26
    ]
    if cycle and rng.random() < 0.9:
        return min(rng.choice(cycle) + rng.randint(14, 18), -1)
    return min(rng.randint(low, high), -1)


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method; means here are small (< 2).
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
