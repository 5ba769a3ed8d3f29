from __future__ import annotations

import pytest
from fhir_fakes import outcome

from smartapp.fhir.errors import outcome_has_errors, summarise_outcome
from smartapp.fhir.retry import RetryPolicy, retry_after_seconds


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"Retry-After": " 120 "}) == 120.0


def test_retry_after_as_http_date_is_measured_against_the_servers_date_header() -> None:
    headers = {
        "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
        "Retry-After": "Wed, 21 Oct 2026 07:28:07 GMT",
    }
    assert retry_after_seconds(headers) == 7.0


def test_retry_after_as_http_date_without_date_header_uses_now() -> None:
    headers = {"Retry-After": "Wed, 21 Oct 2026 07:28:07 GMT"}
    now = 1792567680.0  # 2026-10-21T07:28:00Z
    assert retry_after_seconds(headers, now=now) == 7.0
    assert retry_after_seconds(headers, now=now + 60) == 0.0  # in the past: no wait


@pytest.mark.parametrize("value", ["soon", "", "-3", "1.5"])
def test_unusable_retry_after_is_ignored(value: str) -> None:
    assert retry_after_seconds({"Retry-After": value}) is None
    assert retry_after_seconds({}) is None


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, backoff_s=0.5, max_backoff_s=3.0)
    assert [policy.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retries_are_bounded_and_only_for_transient_statuses() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.delay_for_status(0, 503, {}) == 0.5
    assert policy.delay_for_status(1, 502, {}) == 1.0
    assert policy.delay_for_status(2, 503, {}) is None  # out of retries
    for status in (400, 401, 403, 404, 410, 412, 422):
        assert policy.delay_for_status(0, status, {}) is None
    assert policy.delay_for_error(1) == 1.0
    assert policy.delay_for_error(2) is None


def test_retry_after_is_honoured_but_a_wait_beyond_the_cap_is_not_attempted() -> None:
    policy = RetryPolicy(max_retry_after_s=30)
    assert policy.delay_for_status(0, 429, {"Retry-After": "2"}) == 2.0
    assert policy.delay_for_status(0, 503, {"Retry-After": "30"}) == 30.0
    assert policy.delay_for_status(0, 503, {"Retry-After": "3600"}) is None


def test_outcome_summary_is_one_line_with_severity_code_and_diagnostics() -> None:
    oo = outcome("HAPI-0958: Failed to CREATE resource\n  because this search matched 2 resources")
    assert summarise_outcome(oo) == (
        "error processing: HAPI-0958: Failed to CREATE resource "
        "because this search matched 2 resources"
    )


def test_outcome_summary_falls_back_to_details_and_limits_issues() -> None:
    oo = {
        "resourceType": "OperationOutcome",
        "issue": [
            {"severity": "error", "code": "invalid", "details": {"text": "bad date"}},
            {"severity": "warning", "code": "x", "details": {"coding": [{"display": "odd"}]}},
            {"severity": "error", "code": "y"},
            {"severity": "error", "code": "z"},
            {"severity": "error", "code": "w"},
        ],
    }
    assert summarise_outcome(oo) == (
        "error invalid: bad date; warning x: odd; error y; and 2 more issue(s)"
    )
    assert summarise_outcome({"resourceType": "OperationOutcome"}) == "no details given"


def test_outcome_errors_are_error_or_fatal_issues() -> None:
    assert outcome_has_errors(outcome("x"))
    assert outcome_has_errors(outcome("x", severity="fatal"))
    assert not outcome_has_errors(outcome("x", severity="warning"))
