"""Write-back from the dashboard: preview, confirm, acknowledge (SPEC §3 last paragraph, §4
"Write-back", §5 CSRF and idempotence).

Routes (all need a launch with a patient in context):
- `GET  /patient/plan` — the preview: what saving will create, update, complete and cancel
  (one FHIR batch read; writes nothing), with a Confirm form and a Cancel link.
- `POST /patient/plan` — confirm: `writeback_patient(..., expected_fingerprint=…)` reads
  again and writes only if the plan is the one the user reviewed. Success → 303 to
  `/patient?saved=1` with a flashed "Plan saved: …" banner; the record changed → the new
  preview (409) saying so; the server refused → "Nothing was written: …" (502).
- `POST /patient/findings/<check>/acknowledge` — close the finding's Task with the
  clinician's reason (required, at most 500 characters) → 303 to the finding's card, which
  then shows "Acknowledged by … on …: reason". An empty or too long reason re-shows the
  form with the error (400).

Every POST is CSRF-checked by `smartapp.web.security` before it gets here, must carry the
`launch_id` of the current launch (another launch in this browser since the page was
shown → 400, nothing written) and the patient id the page was shown for
(`smartapp.web.access.check_write_post`). Without CarePlan, Task and Provenance write
rights (SPEC §5 "fall back gracefully") no button is rendered and these routes answer 403.
A FHIR 401 gets one forced token refresh, then the relaunch page. Failures are pages
rendered by the handlers of `errors.py`, never a traceback. Double clicks are safe
(`confirmations.py`): the same confirm form (each rendered preview carries a random
`confirm_id`) posted again waits for the first post and shows its "Plan saved" outcome
without writing again (in this process, for two minutes); beyond that the write-back
itself is idempotent (deterministic ids and a per-patient lock in `smartapp.writeback`),
and a confirm of a plan that someone else has just saved shows the new preview (nothing
left to create) instead of writing.

Templates (`templates/writeback/`): `preview.html`, `acknowledge.html`, `message.html`,
and the dashboard includes `plan_actions.html` (the "Save plan" button), `flash.html`
(the confirmation banner) and `ack_form.html` (the form on each actionable finding card).
The includes ask the template globals `writeback_permission()` and `writeback_ack(f)`
(`page.py`) whether to render anything, so a read-only launch never gets a form.
"""
