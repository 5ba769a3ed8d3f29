"""Which records an alert rests on (`Finding.grounds`), so an acknowledgement covers that
alert while the context around it moves on: next month's dose, routine HBV DNA monitoring,
a normal result of the other immunoglobulin. New grounds make it a new alert."""

from __future__ import annotations

from domain.records import LabKind

from .builders import anti_hbc, check, course, dose, hbsag, igg, igm, lab, record, task


def acknowledged(check_id: str, *cites):
    return task(check_id, None, cites=cites)


def test_a_dose_interval_acknowledgement_survives_later_doses_not_a_new_short_gap() -> None:
    doses = [*course(-200, 3), dose(-150), dose(-146)]  # doses 4 and 5: 4 days apart
    first = check("dose-interval", record(doses))
    assert first.status.value == "alert"
    flagged = [d for d in doses if d.source.reference in (first.grounds or ())]
    assert len(flagged) == 2  # only the two close doses, not all five
    ack = acknowledged("dose-interval", *flagged)

    later = [*doses, dose(-118), dose(-90)]  # regular doses since
    assert check("dose-interval", record(later, ack)).acknowledgement is not None

    again = [*later, dose(-86)]  # a new short gap
    assert check("dose-interval", record(again, ack)).acknowledgement is None


def test_anti_hbc_acknowledgement_survives_hbv_dna_monitoring_and_repeat_hbsag() -> None:
    positive = anti_hbc(-300, "positive")
    base = [course(-280, 4), hbsag(-300, "negative"), positive]
    ack = acknowledged("hbv-serology", positive)
    assert check("hbv-serology", record(*base, ack)).acknowledgement is not None
    monitoring = [lab(LabKind.HBV_DNA, -30, qualitative="negative"), hbsag(-30, "negative")]
    finding = check("hbv-serology", record(*base, *monitoring, ack))
    assert finding.status.value == "alert"
    assert finding.acknowledgement is not None


def test_a_positive_hbsag_after_an_acknowledged_anti_hbc_is_a_new_alert() -> None:
    positive = anti_hbc(-300, "positive")
    ack = acknowledged("hbv-serology", positive)
    rec = record(course(-280, 4), hbsag(-300, "negative"), positive, hbsag(-5, "positive"), ack)
    finding = check("hbv-serology", rec)
    assert finding.severity.value == "critical"
    assert finding.acknowledgement is None


def test_low_igg_acknowledgement_survives_a_normal_igm_not_a_new_low_igg() -> None:
    low = igg(-60, 500.0)
    base = [course(-300, 6), low, igm(-60, 80.0)]
    ack = acknowledged("ig-low", low)
    assert check("ig-low", record(*base, ack)).acknowledgement is not None
    assert check("ig-low", record(*base, igm(-5, 90.0), ack)).acknowledgement is not None
    assert check("ig-low", record(*base, igg(-5, 480.0), ack)).acknowledgement is None


def test_findings_without_declared_grounds_rest_on_all_their_evidence() -> None:
    finding = check("hbv-serology", record(course(-280, 4), hbsag(-5, "positive")))
    assert finding.grounds is not None  # hbv-serology declares them
    other = check("ig-low", record(course(-300, 6), igg(-60, 1000.0), igm(-60, 80.0)))
    assert other.status.value == "ok"
    assert other.ground_references() == tuple(e.reference for e in other.evidence)
