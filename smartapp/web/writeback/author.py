"""Who writes: the launching user's name for the Provenance, Task notes and
acknowledgements (the worklist's Task creation uses it too)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fhir_mappings.errors import Malformed
from fhir_mappings.names import human_name as fhir_human_name
from fhir_mappings.write.common import local_reference
from fhir_mappings.write.writeback import WriteContext
from smartapp.fhir import FhirClient, FhirError, TokenExpired
from smartapp.launch.context import LaunchContext

log = logging.getLogger(__name__)

#: `by` when the launch names no user (open-server mode has no sign-in).
UNNAMED_USER = "an unidentified user (open server, no sign-in)"
NAME_MAX = 120


def human_name(names: Any) -> str | None:
    """A person's name for the note (fhir_mappings.names), at most NAME_MAX characters;
    None when there is none or `name` is malformed."""
    try:
        text = fhir_human_name(names)
    except Malformed:
        return None
    return text[:NAME_MAX] if text else None


def user_display(client: FhirClient, context: LaunchContext) -> str | None:
    """The launching user's name (one GET of the fhirUser resource), or None."""
    reference = local_reference(context.fhir_user, context.fhir_base)
    if reference is None:
        return None
    try:
        resource = client.read(reference)
    except TokenExpired:
        raise
    except FhirError as err:
        log.info("fhirUser name not read (HTTP %s); the reference is used", err.status)
        return None
    return human_name(resource.get("name"))


def user_label(context: LaunchContext, display: str | None) -> str:
    """Who acknowledges, for the note: the name, else the reference, else 'unidentified'."""
    if display:
        return display
    if context.fhir_user:
        return local_reference(context.fhir_user, context.fhir_base) or context.fhir_user
    return UNNAMED_USER


def write_context(client: FhirClient, context: LaunchContext, now: datetime) -> WriteContext:
    display = user_display(client, context) if context.fhir_user else None
    return WriteContext(
        now=now,
        author_reference=context.fhir_user,
        author_display=display,
        fhir_base=context.fhir_base,
    )
