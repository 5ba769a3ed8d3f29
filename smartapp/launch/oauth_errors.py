"""What an EHR's OAuth refusal means, said safely: a fixed sentence and the EHR's code.

RFC 6749 errors carry a code (`error`) and free text (`error_description`). The page shows
only our own sentence for the code plus the code itself (when it has the shape of an OAuth
code): the free text comes from outside, so it is never put on the page. It is logged, on
one line, cut short, with anything that looks like a token or code replaced by `[…]`.
"""

from __future__ import annotations

import logging
import re

#: Our sentence for each OAuth error code (RFC 6749 §4.1.2.1 and §5.2).
EXPLANATIONS = {
    "access_denied": "Access was denied: the app was not authorized to open this record.",
    "invalid_scope": "The EHR did not accept the permissions the app asked for.",
    "unauthorized_client": "The EHR does not allow this app to sign in this way.",
    "invalid_client": "The EHR did not recognise the app's credentials.",
    "invalid_grant": "The EHR no longer accepts this sign-in (it expired or was already used).",
    "invalid_request": "The EHR reported that the sign-in request was invalid.",
    "unsupported_grant_type": "The EHR does not support this kind of sign-in.",
    "unsupported_response_type": "The EHR does not support this kind of sign-in.",
    "server_error": "The EHR's sign-in service had an error; please try again.",
    "temporarily_unavailable": "The EHR's sign-in service is busy; please try again shortly.",
}
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: Long runs of token characters: access tokens, codes, JWTs, keys.
_SECRET_LIKE = re.compile(r"[A-Za-z0-9_\-.~+/=]{24,}")
_MAX_LOGGED = 200


def safe_code(code: object) -> str:
    """The EHR's error code when it has the shape of one, else `unrecognised`."""
    return code if isinstance(code, str) and _CODE.match(code) else "unrecognised"


def explain(code: object) -> str:
    """Our sentence for the code, with the code: "… (EHR code: invalid_scope)"."""
    shown = safe_code(code)
    sentence = EXPLANATIONS.get(shown, "The EHR refused the sign-in.")
    return f"{sentence} (EHR code: {shown})"


def loggable(description: object) -> str:
    """The EHR's `error_description` fit for a log line (module doc); "" when absent."""
    if not isinstance(description, str):
        return ""
    text = _CONTROL.sub(" ", description).strip()
    text = _SECRET_LIKE.sub("[…]", text)
    return text[:_MAX_LOGGED] + ("…" if len(text) > _MAX_LOGGED else "")


def log_refusal(
    logger: logging.Logger, where: str, tenant: str, code: object, description: object
) -> None:
    """One WARNING line: where, which tenant, the code and the (cleaned) description."""
    logger.warning(
        "%s refused by tenant %s: %s%s",
        where,
        tenant,
        safe_code(code),
        f" ({loggable(description)})" if loggable(description) else "",
    )
