"""`/worklist`: the care coordinator's worklist (SPEC §1, §4 Web; docs/worklist.md).

Routes:
- `GET  /worklist` — the stored worklist (`store.py`), one page of it:
  patient, status (icon + word), phase, next dose due, what needs attention (checks by
  their short names), highest severity, open Tasks with owner and due date. Filters, sort
  order and page are URL query parameters (`smartapp.worklist.filters`), so a link
  reproduces the view. It says how old the list is, shows a running refresh's progress
  and a failed refresh's error; the first visit (or the first on a new day) starts a
  refresh in the background. A data panel says what the last refresh cost.
- `GET  /worklist.csv` — every filtered row (all pages) as CSV, formula cells escaped.
- `POST /worklist/refresh` — "Read the server again": a background refresh. CSRF-checked.
- `GET  /worklist/refresh-status` — the refresh's progress as JSON (the page polls it).
- `POST /worklist/tasks` — create the selected patients' Tasks (write-back, one
  transaction per patient) and show what happened per patient. CSRF-checked.
- `GET  /worklist/open/<patient_id>` — put that patient in context and open `/patient`.

Who may see it (`smartapp.web.access.worklist_access`):
- a launch that may list patients: a standalone launch with `user/` scopes and no patient
  in context (a coordinator), or an open server (HAPI sandbox, local HAPI);
- otherwise, when `SMARTAPP_BACKEND_ISS` is set, a person signed in with the app's own
  login (`SMARTAPP_LOGIN_*`, `smartapp.launch.login`) and on its allowlist, with the
  app's Backend Services token (`smartapp.launch.population`). Without login settings
  that mode serves no one in the browser.
A launch with a patient in context never lists other patients nor reaches the backend
token, whatever other scopes the EHR granted (patient lock): it gets a 403 page saying
how to open the worklist.

Sorting, filtering, paging and the CSV download never read the FHIR server: they read the
stored worklist.

Modules: `routes.py` (the routes), `reading.py` (the FHIR access a request brings, the
background refreshes it starts, the stored worklist it sees), `page.py` (what the page
shows), `store.py` (the stored worklist and its refreshes), `errors.py` (how refusals
and failures look, registered once on the blueprint).
"""
