"""The registry: check metadata, the incomplete-data rule, acknowledgements, action codes."""

from __future__ import annotations

from domain.findings import Severity, Status
from domain.records import AREAS, SourceRef
from smartapp.rules import ACTIONS, CHECKS, find_acknowledgement

from .builders import (
    anti_hbc,
    baseline,
    check,
    course,
    d,
    dose,
    hbsag,
    infection,
    mri,
    record,
    summary,
    task,
)

ACTION_CODES = {
    "order-hbv-screening",
    "review-hbv-serology",
    "order-immunoglobulins",
    "review-low-immunoglobulins",
    "order-cbc",
    "give-dose",
    "review-dose-record",
    "review-vaccine-timing",
    "review-live-vaccine",
    "hold-for-infection",
    "review-hypersensitivity",
    "review-pml",
    "review-pregnancy",
    "book-mri",
    "wait-for-vaccine-interval",
    "await-pending-result",
}


def test_action_codes_are_exactly_the_app_code_system() -> None:
    assert {a.code for a in ACTIONS} == ACTION_CODES
    assert all(a.display for a in ACTIONS)


def test_every_check_declares_known_areas_a_citation_and_a_cited_docstring() -> None:
    for c in CHECKS:
        assert c.areas and c.areas <= set(AREAS)
        assert c.citation
        doc = c.evaluate.__doc__ or ""
        assert "USPI" in doc or "SPEC" in doc, c.id


def test_incomplete_labs_turn_an_ok_into_unknown() -> None:
    rec = record(hbsag(-5), anti_hbc(-5), incomplete=("labs",))
    f = check("hbv-serology", rec)
    assert f.status is Status.UNKNOWN and f.action is None
    assert f.detail.startswith("Data incomplete: labs")
    assert f.evidence  # what was read is still shown


def test_incomplete_doses_turn_not_applicable_into_unknown() -> None:
    f = check("dose-schedule", record(incomplete=("doses",)))
    assert f.status is Status.UNKNOWN
    assert "Data incomplete: doses" in f.detail


def test_alerts_and_overdue_from_the_data_present_stand_when_incomplete() -> None:
    rec = record(hbsag(-5, "positive"), course(-60, 4), incomplete=("labs", "doses"))
    f = check("hbv-serology", rec)
    assert f.status is Status.ALERT and f.severity is Severity.CRITICAL
    assert "Data may be incomplete (labs)" in f.detail
    assert check("hbv-screening", rec).status is Status.OVERDUE


def test_an_incomplete_area_a_check_does_not_read_changes_nothing() -> None:
    rec = record(hbsag(-5), anti_hbc(-5), incomplete=("imaging",))
    assert check("hbv-serology", rec).status is Status.OK


def test_incomplete_patient_makes_a_not_applicable_pregnancy_unknown() -> None:
    assert check("pregnancy", record(gender="male", incomplete=("patient",))).status is (
        Status.UNKNOWN
    )
    # ... but a not_applicable for lack of doses does not care about the patient area.
    assert check("mri-monitoring", record(incomplete=("patient",))).status is (
        Status.NOT_APPLICABLE
    )


def test_incomplete_imaging_makes_an_ok_mri_unknown() -> None:
    rec = record(course(-100, 5), mri(-50), incomplete=("imaging",))
    assert check("mri-monitoring", rec).status is Status.UNKNOWN


# --- acknowledgements ---------------------------------------------------------------------


def test_closed_task_with_a_reason_for_the_same_due_date_acknowledges_the_finding() -> None:
    rec = record(course(-60, 4), task("hbv-screening", d(-60), owner="Practitioner/7"))
    f = check("hbv-screening", rec)
    assert f.status is Status.OVERDUE  # the status is kept
    assert f.acknowledgement is not None
    assert f.acknowledgement.by == "Dr Rivera"
    assert f.acknowledgement.on == "2025-06-10"
    assert f.acknowledgement.reason == "Arranged by hepatology"


def test_acknowledgement_lapses_when_the_due_date_changes() -> None:
    rec = record(course(-60, 4), task("hbv-screening", d(-61)))
    assert check("hbv-screening", rec).acknowledgement is None


def test_alerts_without_a_due_date_match_tasks_without_one() -> None:
    positive = hbsag(-5, "positive")
    rec = record(positive, task("hbv-serology", None, status="completed", cites=[positive]))
    assert check("hbv-serology", rec).acknowledgement is not None


def test_an_alert_acknowledgement_covers_only_the_evidence_it_cites() -> None:
    # In March an infection is acknowledged; in May a different one is active. The
    # May alert must not show March's acknowledgement (its Task id ends in `none` too).
    march, november = infection(-80), infection(-3)
    acknowledged = task("infection-active", None, cites=[march])
    assert check("infection-active", record(march, acknowledged)).acknowledgement is not None
    later = check("infection-active", record(march, november, acknowledged))
    assert later.status is Status.ALERT
    assert later.acknowledgement is None


def test_a_task_citing_more_than_the_alert_still_covers_it() -> None:
    old, current = infection(-240, active=False), infection(-3)
    acknowledged = task("infection-active", None, cites=[old, current])
    assert check("infection-active", record(current, acknowledged)).acknowledgement is not None


def test_a_task_citing_nothing_covers_no_alert_evidence() -> None:
    # Safe default for Tasks written elsewhere or unreadable citations: shown as not dealt with.
    rec = record(infection(-3), task("infection-active", None))
    assert check("infection-active", rec).acknowledgement is None


def test_citations_match_whatever_the_reference_form() -> None:
    current = infection(-3)
    ref = current.source.reference
    forms = [f"https://ehr.example.org/fhir/{ref}", f"{ref}/_history/3"]
    for form in forms:
        t = task("infection-active", None, cites=[SourceRef(form, "x", "code")])
        assert check("infection-active", record(current, t)).acknowledgement is not None, form


def test_dated_findings_ignore_citations() -> None:
    # Their identity is the due date (SPEC §3): a new lab does not undo the acknowledgement.
    rec = record(course(-60, 4), task("hbv-screening", d(-60), cites=[]))
    assert check("hbv-screening", rec).acknowledgement is not None


def test_task_without_a_reason_or_still_open_is_not_an_acknowledgement() -> None:
    for t in (
        task("hbv-screening", d(-60), reason=None),
        task("hbv-screening", d(-60), reason="  "),
        task("hbv-screening", d(-60), status="requested"),
        task("hbv-serology", d(-60)),
    ):
        assert check("hbv-screening", record(course(-60, 4), t)).acknowledgement is None


def test_acknowledgement_names_the_note_author_not_the_owner() -> None:
    ack = find_acknowledgement(
        [task("pml", None, owner="Practitioner/7", acknowledged_on="2025-06-09", modified=None)],
        "pml",
        None,
    )
    assert ack is not None and ack.by == "Dr Rivera" and ack.on == "2025-06-09"


def test_acknowledgement_without_any_date_says_so() -> None:
    ack = find_acknowledgement([task("pml", None, modified=None)], "pml", None)
    assert ack is not None and ack.on == "date not recorded"


def test_a_task_the_app_closed_itself_is_not_an_acknowledgement() -> None:
    closed_by_app = task(
        "pml", None, status="completed", reason="Requirement met", acknowledged_by=None
    )
    assert find_acknowledgement([closed_by_app], "pml", None) is None


def test_the_latest_closing_task_wins() -> None:
    tasks = [
        task("pml", None, reason="old", modified="2025-01-01T00:00:00Z"),
        task("pml", None, reason="new", modified="2025-05-01T00:00:00Z"),
    ]
    ack = find_acknowledgement(tasks, "pml", None)
    assert ack is not None and ack.reason == "new"


def test_ok_findings_are_not_acknowledged() -> None:
    rec = record(baseline(-10), dose(-3), task("hbv-screening", None))
    f = check("hbv-screening", rec)
    assert f.status is Status.OK and f.acknowledgement is None


def test_findings_carry_actions_only_when_actionable() -> None:
    s = summary(record(hbsag(-5, "positive"), course(-300, 8), mri(-400)))
    for f in s.findings:
        if f.status in (Status.OK, Status.NOT_APPLICABLE):
            assert f.action is None, f.check
        if f.status in (Status.DUE, Status.OVERDUE, Status.ALERT):
            assert f.action is not None and f.action.code in ACTION_CODES, f.check
