"""Errors of the launch flow. Their messages are shown to clinicians, so they are plain
sentences and never contain tokens, codes or patient details."""

from __future__ import annotations


class LaunchError(Exception):
    """The launch cannot go on; `message` is safe to show and to log."""

    status: int = 400
    title: str = "The app could not be launched"

    def __init__(self, message: str, *, status: int | None = None, title: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title


class IssuerNotAllowed(LaunchError):
    """`iss` is not on the allowlist; nothing was fetched."""

    title = "This FHIR server is not allowed"


class DiscoveryError(LaunchError):
    """`.well-known/smart-configuration` is missing, unreachable or unusable."""

    status = 502
    title = "The EHR's SMART configuration could not be used"


class StateError(LaunchError):
    """The callback's `state` is missing, unknown, already used or expired."""

    title = "This sign-in response cannot be accepted"


class AuthorizationDenied(LaunchError):
    """The authorization server answered the callback with an `error`."""

    status = 403
    title = "The EHR did not authorize the app"


class TokenError(LaunchError):
    """The token endpoint refused or failed."""

    status = 502
    title = "The EHR did not issue an access token"


class IdTokenError(LaunchError):
    """The id_token failed validation: `fhirUser` cannot be trusted."""

    status = 401
    title = "Your identity could not be verified"


class RelaunchRequired(LaunchError):
    """No usable token (expired without refresh token, or no launch): relaunch from the EHR."""

    status = 401
    title = "Your session has expired"

    def __init__(self, message: str | None = None):
        super().__init__(
            message or "Your session has expired — please relaunch the app from the EHR."
        )
