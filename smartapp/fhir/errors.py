"""Errors the FHIR client raises, each with a one-line message a person can act on.

Messages are built from the server's OperationOutcome (severity, code, diagnostics) when
there is one. They may quote the server's diagnostics, which can name a resource id, so
callers should log `FhirError.status` at INFO and the message itself at DEBUG only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests

_WHITESPACE = re.compile(r"\s+")
_MAX_TEXT = 300
_MAX_ISSUES = 3


def _one_line(text: str, limit: int = _MAX_TEXT) -> str:
    flat = _WHITESPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _issue_text(issue: Mapping[str, Any]) -> str:
    text = issue.get("diagnostics")
    details = issue.get("details")
    if not text and isinstance(details, Mapping):
        text = details.get("text")
        codings = details.get("coding")
        if not text and isinstance(codings, list) and codings and isinstance(codings[0], Mapping):
            text = codings[0].get("display") or codings[0].get("code")
    return _one_line(str(text)) if text else ""


def summarise_outcome(outcome: Mapping[str, Any]) -> str:
    """One line from an OperationOutcome: `error processing: diagnostics; …`."""
    issues = outcome.get("issue")
    if not isinstance(issues, list) or not issues:
        return "no details given"
    parts: list[str] = []
    for issue in issues[:_MAX_ISSUES]:
        if not isinstance(issue, Mapping):
            continue
        head = " ".join(str(issue[key]) for key in ("severity", "code") if issue.get(key))
        text = _issue_text(issue)
        parts.append(f"{head}: {text}" if head and text else head or text)
    if len(issues) > _MAX_ISSUES:
        parts.append(f"and {len(issues) - _MAX_ISSUES} more issue(s)")
    return "; ".join(part for part in parts if part) or "no details given"


def outcome_has_errors(outcome: Mapping[str, Any]) -> bool:
    """True when an OperationOutcome carries an `error` or `fatal` issue."""
    issues = outcome.get("issue")
    if not isinstance(issues, list):
        return False
    return any(
        isinstance(issue, Mapping) and issue.get("severity") in ("error", "fatal")
        for issue in issues
    )


class FhirError(Exception):
    """A FHIR interaction failed. `str(err)` is one line; details are attributes."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        outcome: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(_one_line(message, limit=600))
        #: HTTP status of the failed response, None when no response came back.
        self.status = status
        #: The server's OperationOutcome, when it sent one.
        self.outcome = outcome

    @property
    def message(self) -> str:
        return str(self)


class TokenExpired(FhirError):
    """HTTP 401: the access token expired or was revoked; refresh it or relaunch."""


class PermissionDenied(FhirError):
    """HTTP 403: the granted scopes (or the user's rights) do not cover the request."""


class OffServerError(FhirError):
    """A URL points outside the FHIR base; it was not requested and no token was sent."""


class ServerUnavailable(FhirError):
    """No usable answer: connection refused, timeout, or 5xx/429 after all retries."""


def outcome_of(response: requests.Response) -> dict[str, Any] | None:
    """The OperationOutcome in a response body, or None (HTML error pages, empty bodies)."""
    if not response.content:
        return None
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        return body
    return None


def describe_status(status: int, reason: str | None, outcome: Mapping[str, Any] | None) -> str:
    """`HTTP 404 Not Found: error not-found: Resource Patient/x is not known`."""
    text = f"HTTP {status}"
    if reason:
        text += f" {reason}"
    if outcome is not None:
        text += f": {summarise_outcome(outcome)}"
    return text


def error_from_response(response: requests.Response, what: str) -> FhirError:
    """The error for a non-2xx response; `what` names the interaction ("Patient read")."""
    status = response.status_code
    outcome = outcome_of(response)
    detail = describe_status(status, response.reason, outcome)
    retry_after = response.headers.get("Retry-After")
    if status in (429, 503) and retry_after:
        detail += f"; the server asked to retry after {_one_line(retry_after, 40)}"
    if status == 401:
        return TokenExpired(
            f"{what} refused: the access token has expired or was revoked ({detail}); "
            "refresh the token or relaunch the app",
            status=status,
            outcome=outcome,
        )
    if status == 403:
        return PermissionDenied(
            f"{what} not permitted by the granted scopes ({detail})",
            status=status,
            outcome=outcome,
        )
    if status == 412:
        return FhirError(
            f"{what} failed: a conditional match found more than one resource or the "
            f"version changed ({detail})",
            status=status,
            outcome=outcome,
        )
    return FhirError(f"{what} failed: {detail}", status=status, outcome=outcome)
