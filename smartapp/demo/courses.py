"""Story pieces the demo situations share: a Kesimpta course, the pre-treatment work-up.

Offsets are days relative to the anchor (the day the demo is loaded): -10 is ten days before.
"""

from __future__ import annotations

from collections.abc import Sequence

from smartapp.demo.fhir_builders import HCG_URINE, PatientBuilder, When


def maintenance_course(last: int, maintenance_doses: int) -> list[int]:
    """Dose offsets of an on-schedule course: weeks 0, 1, 2, then every 28 days from week 4,
    ending with the `maintenance_doses`-th maintenance dose on day `last`."""
    first = last - 28 * maintenance_doses
    loading = [first, first + 7, first + 14]
    return loading + [first + 28 * k for k in range(1, maintenance_doses + 1)]


def first_dose_day(doses: Sequence[When]) -> int:
    """The earliest of the doses given as day offsets (a course starts there)."""
    offsets = [d for d in doses if isinstance(d, int)]
    if not offsets:
        raise ValueError("a course needs at least one dose given as an offset")
    return min(offsets)


def baseline_labs(
    b: PatientBuilder,
    when: int,
    *,
    hbv: bool = True,
    ig: bool = True,
    cbc: bool = True,
    hcg: bool = False,
    igg_unit: str = "g/L",
) -> None:
    """The pre-treatment work-up of USPI 2.1: HBV serology, quantitative Ig, CBC (+ hCG)."""
    if hbv:
        b.hbv_baseline(when)
    if ig:
        b.igg(when, 1050, unit=igg_unit)
        b.igm(when, 96)
    if cbc:
        b.cbc(when)
    if hcg:
        b.qualitative(HCG_URINE, when, "negative")


def therapy(
    b: PatientBuilder,
    doses: Sequence[When],
    *,
    style: str = "reference",
    hbv: bool = True,
    ig: bool = True,
    cbc: bool = True,
    hcg: bool = False,
    follow_up_labs: bool = True,
    annual_mri: bool = True,
    order_status: str = "active",
    order_end: When | None = None,
    dispenses: Sequence[tuple[When, int]] = (),
) -> None:
    """A patient on Kesimpta: order, baseline work-up and MRI, the doses (administrations,
    and pens the pharmacy dispensed: `(day, pens)`), follow-up.

    Baseline labs 30 days and MRI 45 days before the first dose; IgG/IgM/CBC every 6
    months and an MRI every year after the first dose (when that is in the past).
    """
    first = first_dose_day([*doses, *(when for when, _ in dispenses)])
    medication = b.kesimpta_medication() if style == "reference" else None
    order = b.medication_request(
        first - 21, start=first, medication=medication, status=order_status, end=order_end
    )
    baseline_labs(b, first - 30, hbv=hbv, ig=ig, cbc=cbc, hcg=hcg)
    b.brain_mri(first - 45)
    for when in doses:
        b.kesimpta_dose(when, style=style, medication=medication, request=order)
    for when, pens in dispenses:
        b.kesimpta_dispense(when, pens=pens, style=style, medication=medication, request=order)
    # Follow-up labs every 6 months and an MRI every year, as an MS clinic would do them.
    if follow_up_labs:
        when = first + 182 - 14
        while when < -3:
            b.igg(when, 980, unit="mg/dL")
            b.igm(when, 71)
            b.cbc(when, lymphocytes=1.5)
            when += 182
    if annual_mri:
        when = first + 365 - 20
        while when < -3:
            b.brain_mri(when)
            when += 365


def not_started(
    b: PatientBuilder,
    *,
    labs_at: int,
    start: int,
    hbv: bool = True,
    hcg: bool = False,
    hbsag: str = "negative",
    anti_hbc: str = "negative",
) -> None:
    """A patient about to start: work-up done at `labs_at`, an active order starting `start`."""
    b.medication_request(min(labs_at + 5, -1), start=start)
    if hbv:
        b.hbv_baseline(labs_at, hbsag=hbsag, anti_hbc=anti_hbc)
    baseline_labs(b, labs_at, hbv=False, hcg=hcg, igg_unit="mg/dL")
    b.brain_mri(labs_at - 20)
