"""`/patient`: the neurologist's dashboard for the patient in the launch context (SPEC §4).

Thin: the launch context and a FHIR client come from `smartapp.launch.context`, the read
and the checks from `smartapp.patient_service`, the page data from `page.py`. The page
is rendered on the server and needs no script (CSP: no inline script or style).

Failures never show a traceback:
- no launch in this browser → a 401 page telling how to launch;
- the FHIR server fails or refuses part of the read → the page still renders, with a
  visible "data incomplete" banner; the affected checks say unknown (the rules do that);
- the token expired and cannot be refreshed → the "relaunch" page (RelaunchRequired).

Timing: `Server-Timing: fhir;dur=…, rules;dur=…, render;dur=…` (milliseconds). `rules`
covers reading the FHIR JSON into records and evaluating the checks; `render` covers the
view model and the template. The data panel shows the same numbers.

`/launch.html` serves the repository's launch page with its forms pointed at this app.

Modules: `routes.py` (the routes), `reading.py` (one patient read and evaluated, timed),
`page.py` with `views.py`, `looks.py`, `timeline.py`, `labs.py`, `vaccines.py`,
`data_panel.py` and `charts.py` (what the page shows, pure: no Flask, no I/O), and
`launch_page.py` (launch.html as served).
"""
