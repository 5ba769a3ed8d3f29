"""The app's canonical base: the one place its own URLs are defined (SPEC §4 "Write-back").

Identifier systems and the action CodeSystem hang off `CANONICAL`. Change it here (and the
`url` in `codesystems/actions.json`, which a test keeps in step) to publish under another base.
"""

from __future__ import annotations

CANONICAL = "https://ofatumumab-smartapp.example.org/fhir"

#: Task.identifier system: value `{patient}:{check}:{due}` (SPEC §4 "Write-back").
TASK_IDENTIFIER_SYSTEM = f"{CANONICAL}/task"
#: CarePlan.identifier system: value `{patient}`.
CAREPLAN_IDENTIFIER_SYSTEM = f"{CANONICAL}/careplan"
#: The action CodeSystem (Task.code, Finding.action).
ACTION_SYSTEM = f"{CANONICAL}/CodeSystem/ofatumumab-actions"
#: The app's check ids (SPEC §3 `check`), e.g. as the topic of a CDS Hooks card.
CHECK_SYSTEM = f"{CANONICAL}/CodeSystem/ofatumumab-checks"
