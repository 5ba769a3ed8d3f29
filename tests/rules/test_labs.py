"""cbc-baseline, and the shared lab-selection rules."""

from __future__ import annotations

from domain.findings import Status
from domain.records import LabKind

from .builders import AS_OF, cbc, check, course, d, lab, order, record


def test_cbc_panel_before_the_first_dose_is_ok() -> None:
    assert check("cbc-baseline", record(cbc(-50), course(-30, 3))).status is Status.OK


def test_wbc_with_lymphocytes_counts_as_a_cbc() -> None:
    wbc = lab(LabKind.WBC, -50, value=6.1)
    lymphocytes = lab(LabKind.LYMPHOCYTES, -48, value=1.8)
    f = check("cbc-baseline", record(wbc, lymphocytes, course(-30, 3)))
    assert f.status is Status.OK
    assert len(f.evidence) == 2


def test_lymphocyte_percentage_without_a_count_still_shows_a_cbc_was_done() -> None:
    wbc = lab(LabKind.WBC, -50, value=6.1)
    lymph_pct = lab(LabKind.LYMPHOCYTES, -50, value=None, raw="31 %")
    assert check("cbc-baseline", record(wbc, lymph_pct)).status is Status.OK


def test_wbc_alone_is_not_a_cbc() -> None:
    f = check("cbc-baseline", record(lab(LabKind.WBC, -50, value=6.1)))
    assert f.status is Status.DUE and f.due == AS_OF
    assert f.action is not None and f.action.code == "order-cbc"


def test_cbc_missing_after_start_is_overdue() -> None:
    f = check("cbc-baseline", record(course(-30, 3)))
    assert f.status is Status.OVERDUE and f.due == d(-30)


def test_cbc_due_date_is_the_planned_start() -> None:
    assert check("cbc-baseline", record(order(12))).due == d(12)


def test_pending_cbc_is_due_awaiting_the_result_not_ok() -> None:
    f = check("cbc-baseline", record(cbc(-2, pending=True)))
    assert f.status is Status.DUE
    assert f.action is not None and f.action.code == "await-pending-result"


def test_uninterpretable_cbc_never_satisfies_the_requirement() -> None:
    f = check("cbc-baseline", record(cbc(-2, interpretable=False)))
    assert f.status is Status.UNKNOWN


def test_undated_result_is_never_used() -> None:
    f = check("cbc-baseline", record(cbc(None)))
    assert f.status is Status.UNKNOWN
    assert any("no date" in e.display for e in f.evidence) or f.evidence[0].date is None


def test_results_dated_after_as_of_are_never_used_and_say_why() -> None:
    f = check("cbc-baseline", record(cbc(3)))
    assert f.status is Status.UNKNOWN
    assert "after the as-of date" in f.evidence[0].display
