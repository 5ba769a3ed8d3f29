"""Who may read and write what, in one place: every feature asks here.

- `may_read(context, patient_id)`: a launch with a patient in context sees that patient
  only, whatever else it was granted (patient lock); open servers and user-level launches
  may ask for any patient (the FHIR server still applies its own rules).
- `write_refusal(context)`: why this launch may not save a plan or acknowledge a finding
  (CarePlan, Task and Provenance write rights, none of them filtered), or None.
- `check_write_post(context, form)`: the checks every write-back POST passes after CSRF:
  rights, the form's launch and the form's patient; raises `PageError` (nothing written).
- `worklist_access()`: the FHIR access the worklist may use for this request — a
  user-level launch, an open server, or the app's Backend Services token for a person
  signed in with the app's own login; never a patient-locked launch.
- `check_worklist_post(access, form)`: a worklist form belongs to the current launch and
  Tasks may be created with this access.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from fhir_mappings.search import population as fp
from smartapp.launch.context import LaunchContext, current_context, same_launch
from smartapp.launch.errors import LaunchError
from smartapp.launch.login import SignedInUser
from smartapp.launch.population import population_token
from smartapp.launch.scopes import GrantedScopes
from smartapp.launch.state import launch_state
from smartapp.web.errors import PageError

log = logging.getLogger(__name__)

#: The resource types a saved plan writes: each needs an unfiltered write grant.
PLAN_TYPES = ("CarePlan", "Task", "Provenance")
#: The types the worklist reads (to learn which ones the granted scopes allow).
WORKLIST_READ_TYPES = (*fp.EXPORT_TYPES, "Group")


# -- one patient ----------------------------------------------------------------------------


def may_read(context: LaunchContext, patient_id: str) -> bool:
    """A launch with a patient in context sees that patient only, whatever else it was
    granted (patient lock); open servers and user-level launches may ask for any patient."""
    return context.may_open(patient_id)


def filtered_write_scopes(context: LaunchContext) -> list[str]:
    """Write grants on the plan's types that carry a filter (and so do not count)."""
    return [
        scope
        for rtype in PLAN_TYPES
        if not context.can_write(rtype)
        for scope in context.scopes.filtered_writes(rtype)
    ]


def write_refusal(context: LaunchContext) -> str | None:
    """Why this launch may not save (None when it may): CarePlan, Task and Provenance."""
    filtered = filtered_write_scopes(context)
    if filtered:
        return (
            "This launch is read-only: the EHR granted write access only to some CarePlans, "
            f"Tasks or Provenance records ({', '.join(filtered[:3])}), and the app saves its "
            "plan only with write access to all of them, so nothing can be saved from here. "
            "Nothing was written."
        )
    if not context.can_write_plan:
        return (
            "This launch is read-only: the EHR did not grant write access to CarePlan and "
            "Task, so the plan cannot be saved and findings cannot be acknowledged from this "
            "app. Nothing was written."
        )
    if not context.can_write("Provenance"):
        return (
            "The EHR did not grant write access to Provenance, which every save records "
            "(who saved what, and when), so the plan cannot be saved and findings cannot be "
            "acknowledged from this app. Nothing was written."
        )
    return None


def write_forbidden(reason: str) -> PageError:
    return PageError(403, "Saving is not allowed for this launch", reason)


def no_patient() -> PageError:
    return PageError(
        400,
        "No patient selected",
        "This launch has no patient in context, so there is no plan to save. Nothing was "
        "written. Open the app from a patient's chart.",
    )


def check_write(context: LaunchContext) -> str:
    """The patient this launch may write for; PageError (403/400) when it may not."""
    refusal = write_refusal(context)
    if refusal is not None:
        raise write_forbidden(refusal)
    if not context.patient:
        raise no_patient()
    return context.patient


def check_write_post(context: LaunchContext, form: Mapping[str, str]) -> str:
    """The checks every write POST passes (after CSRF): rights, launch, patient. Returns
    the patient written for; raises PageError (nothing written) otherwise."""
    refusal = write_refusal(context)
    if refusal is not None:
        log.info("write-back refused: the launch has no write rights")
        raise write_forbidden(refusal)
    if not same_launch(context, form.get("launch_id")):
        log.info("write-back refused: the form belongs to another launch")
        raise PageError(
            400,
            "This page belongs to an earlier launch",
            "The app was opened again in this browser (for another patient, or in another "
            "tab) since this page was shown, so nothing was written. Go back to the "
            "dashboard of the current launch and try again.",
        )
    if not context.patient:
        raise no_patient()
    if form.get("patient") != context.patient:
        log.info("write-back refused: the form was shown for another patient")
        raise PageError(
            400,
            "This form was for another patient",
            "The patient in context is not the one this form was shown for, so nothing was "
            "written. Go back to the dashboard and try again.",
        )
    return context.patient


# -- the worklist ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorklistAccess:
    #: "open" (open server), "launch" (user-level launch) or "backend" (Backend Services).
    mode: str
    fhir_base: str
    label: str
    context: LaunchContext | None
    readable: frozenset[str] | None
    #: Why Tasks cannot be created from here (None: they can).
    write_refusal: str | None
    #: The launch id the forms echo (empty in backend mode).
    launch_id: str
    #: For the cache: whose worklist this is.
    cache_key: str
    #: Who signed in with the app's own login (backend mode only).
    user: SignedInUser | None = None

    @property
    def can_write(self) -> bool:
        return self.write_refusal is None


class WorklistUnavailable(LaunchError):
    """No launch context that may list patients, and no population sign-in."""

    status = 403
    title = "The worklist is not available here"


def _readable(scopes: GrantedScopes) -> frozenset[str]:
    return frozenset(rtype for rtype in WORKLIST_READ_TYPES if scopes.can_read(rtype))


def _backend_refusal(scopes: GrantedScopes) -> str | None:
    if all(scopes.can_write(rtype) for rtype in PLAN_TYPES):
        return None
    return (
        "The app's backend credentials may read but not write CarePlan, Task and Provenance "
        "(SMARTAPP_BACKEND_SCOPES), so Tasks cannot be created from this worklist."
    )


def worklist_access() -> WorklistAccess:
    """The FHIR access for this request (module doc); WorklistUnavailable (403) or
    LoginRequired (401) if none."""
    context = current_context()
    config = launch_state().config
    if context is not None and context.patient_locked:
        raise WorklistUnavailable(
            "This launch is for one patient (patient-level access: the EHR opened the app "
            "with a patient in context), so it cannot list or open other patients. Open the "
            "worklist with a standalone launch that grants user-level access (a care "
            "coordinator's login), or with the app's own sign-in where your organisation has "
            "set it up."
        )
    if context is not None and context.user_level and not context.population:
        return WorklistAccess(
            mode="open" if context.open_server else "launch",
            fhir_base=context.fhir_base,
            label=context.tenant_label,
            context=context,
            readable=None if context.open_server else _readable(context.scopes),
            write_refusal=write_refusal(context),
            launch_id=context.launch_id,
            cache_key=f"session:{context.session_id}:{context.launch_id}",
        )
    if config.backend_iss:
        user, token = population_token()
        tenant = config.tenant(config.backend_iss)
        return WorklistAccess(
            mode="backend",
            fhir_base=config.backend_iss,
            label=tenant.display_name if tenant else config.backend_iss,
            context=None,
            readable=_readable(token.scope),
            write_refusal=_backend_refusal(token.scope),
            launch_id="",
            cache_key=f"backend:{config.backend_iss}",
            user=user,
        )
    if context is not None:
        raise WorklistUnavailable(
            "This launch cannot list patients (it has no user-level access). Open the "
            "worklist with a standalone launch that grants user-level access (a care "
            "coordinator's login)."
        )
    raise WorklistUnavailable(
        "There is no launch in this browser session. Open the app with a standalone launch "
        "(a care coordinator's login, /launch) or against an open FHIR server first."
    )


def launch_ended() -> WorklistUnavailable:
    return WorklistUnavailable("The launch has ended; launch the app again.")


def check_worklist_post(access: WorklistAccess, form: Mapping[str, str]) -> None:
    """A worklist write (Tasks): the form belongs to the current launch (backend mode has
    none) and this access may write; PageError (nothing written) otherwise."""
    if access.mode != "backend" and (
        access.context is None or not same_launch(access.context, form.get("launch_id"))
    ):
        raise PageError(
            400,
            "This form belongs to an earlier launch",
            "The app was launched again since this page was shown, so nothing was written. "
            "Reload the worklist and try again.",
        )
    if access.write_refusal:
        raise PageError(403, "Tasks cannot be created here", access.write_refusal)
