"""The app's action codes (CodeSystem `fhir_mappings/codesystems/actions.json` holds the same).

A finding carries an action only when its status is due, overdue or alert, or when it is
unknown because a test is missing and the fix is to order it. Keep the codes exactly.
"""

from __future__ import annotations

from domain.findings import Action

ORDER_HBV_SCREENING = Action("order-hbv-screening", "Order HBV screening (HBsAg and anti-HBc)")
REVIEW_HBV_SEROLOGY = Action(
    "review-hbv-serology", "Review hepatitis B serology with a liver disease expert"
)
ORDER_IMMUNOGLOBULINS = Action("order-immunoglobulins", "Order quantitative serum IgG and IgM")
REVIEW_LOW_IMMUNOGLOBULINS = Action("review-low-immunoglobulins", "Review low immunoglobulins")
ORDER_CBC = Action("order-cbc", "Order a complete blood count with differential")
GIVE_DOSE = Action("give-dose", "Give the ofatumumab dose")
REVIEW_DOSE_RECORD = Action("review-dose-record", "Review the ofatumumab dose record")
REVIEW_VACCINE_TIMING = Action("review-vaccine-timing", "Review vaccine timing")
REVIEW_LIVE_VACCINE = Action("review-live-vaccine", "Review live vaccine given around ofatumumab")
HOLD_FOR_INFECTION = Action("hold-for-infection", "Hold ofatumumab until the infection resolves")
REVIEW_HYPERSENSITIVITY = Action("review-hypersensitivity", "Review hypersensitivity to ofatumumab")
REVIEW_PML = Action("review-pml", "Withhold ofatumumab and evaluate for PML")
REVIEW_PREGNANCY = Action("review-pregnancy", "Review pregnancy before giving ofatumumab")
BOOK_MRI = Action("book-mri", "Book a brain MRI")
WAIT_FOR_VACCINE_INTERVAL = Action(
    "wait-for-vaccine-interval", "Wait for the vaccine interval before starting ofatumumab"
)
#: A due or overdue test has a registered/preliminary result: wait for it, order nothing
#: (SPEC §2 "Pending results"). Not a Task of its own (`TASKED` excludes it).
AWAIT_PENDING_RESULT = Action("await-pending-result", "Await the pending result")

ACTIONS: tuple[Action, ...] = (
    ORDER_HBV_SCREENING,
    REVIEW_HBV_SEROLOGY,
    ORDER_IMMUNOGLOBULINS,
    REVIEW_LOW_IMMUNOGLOBULINS,
    ORDER_CBC,
    GIVE_DOSE,
    REVIEW_DOSE_RECORD,
    REVIEW_VACCINE_TIMING,
    REVIEW_LIVE_VACCINE,
    HOLD_FOR_INFECTION,
    REVIEW_HYPERSENSITIVITY,
    REVIEW_PML,
    REVIEW_PREGNANCY,
    BOOK_MRI,
    WAIT_FOR_VACCINE_INTERVAL,
    AWAIT_PENDING_RESULT,
)

#: Actions the write-back turns into a Task: every one but waiting for a pending result.
UNTASKED = frozenset({AWAIT_PENDING_RESULT.code})
