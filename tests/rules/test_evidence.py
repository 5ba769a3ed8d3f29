"""Evidence: every record used, how a value was read, partial dates said as such."""

from __future__ import annotations

from domain.findings import Status
from domain.records import LabKind

from .builders import (
    anti_hbc,
    check,
    course,
    d,
    dose,
    hbsag,
    igg,
    igm,
    infection,
    lab,
    record,
    vaccine,
)


def test_evidence_says_how_a_recorded_value_was_read() -> None:
    f = check("hbv-serology", record(hbsag(-5, raw="Nonreactive"), anti_hbc(-5, raw="NEG")))
    displays = [e.display for e in f.evidence]
    assert any(d.endswith("Nonreactive; read as negative") for d in displays)
    f = check("ig-low", record(igg(-5, 710, raw="7.1 g/L"), igm(-5)))
    assert any(e.display.endswith("7.1 g/L; read as 710 mg/dL") for e in f.evidence)


def test_evidence_marks_unreadable_and_undated_results_as_not_used() -> None:
    f = check("ig-low", record(igg(-5, None, raw="7.1 furlongs"), igm(None)))
    displays = " | ".join(e.display for e in f.evidence)
    assert "could not be interpreted, not used" in displays
    assert "no date recorded, not used" in displays


def test_partial_dates_are_shown_as_partial() -> None:
    f = check("ig-low", record(igg("2025-03"), igm(-5)))
    assert any(e.date == "2025-03 (partial date: 2025-03-01 to 2025-03-31)" for e in f.evidence)


def test_counted_infections_are_evidence_for_ig_monitoring() -> None:
    f = check("ig-monitoring", record(course(-100, 5), igg(-50), igm(-50), infection(-20)))
    assert any(e.reference.startswith("Condition/") for e in f.evidence)


def test_well_timed_non_live_vaccines_are_evidence_for_an_ok_window() -> None:
    f = check("vaccine-window", record(course(-100, 6), vaccine(-25)))
    assert f.status is Status.OK and len(f.evidence) == 1


def test_the_deciding_vaccines_are_evidence_for_an_ok_before_start() -> None:
    rec = record(vaccine(-400, "live"), vaccine(-300, "live"), vaccine(-100), dose(-10))
    f = check("vaccine-before-start", rec)
    assert f.status is Status.OK
    assert [e.date for e in f.evidence] == [d(-300).isoformat(), d(-100).isoformat()]


def test_low_immunoglobulin_alert_also_names_the_unreadable_other_value() -> None:
    f = check("ig-low", record(igg(-5, 500), igm(-5, None, raw="0.3 g/furlong")))
    assert f.status is Status.ALERT
    assert "0.3 g/furlong" in f.detail


def test_cd19_counts_are_read_in_cells_per_microlitre() -> None:
    rec = record(dose(-200), lab(LabKind.CD19, -20, value=110.0), vaccine(0, "live"))
    f = check("vaccine-live-on-therapy", rec)
    assert "110 cells/uL" in f.detail
