"""A local sandbox EHR for demos and end-to-end tests of the app's SMART launch.

A real OAuth 2 authorization server (authlib) with SMART App Launch 2.x rules, in front of
a FHIR server whose access it enforces by scope and patient. Test infrastructure only:
the product (`smartapp`) never imports it.
"""

from sandbox_ehr.app import create_sandbox
from sandbox_ehr.clients import ClientRegistration
from sandbox_ehr.config import SandboxConfig, SandboxUser
from sandbox_ehr.scopes import ScopeFilter

__all__ = ["ClientRegistration", "SandboxConfig", "SandboxUser", "ScopeFilter", "create_sandbox"]
