"""launch.html as this app serves it: its forms pointed at this app, its stylesheet at
/static/, its local server and sandbox EHR fields at the configured ones."""

from __future__ import annotations

from pathlib import Path

from markupsafe import escape

#: The launch page at the repository root (also opened as a file by developers).
#: launch.html lives at the repository root; an installed app (the Docker image) keeps a
#: copy in its working directory.
LAUNCH_PAGES = (Path(__file__).resolve().parents[3] / "launch.html", Path("launch.html"))
#: The app origin written into launch.html for use as a file; replaced when served here.
LAUNCH_PAGE_DEFAULT_APP = "http://127.0.0.1:8000"
#: Stylesheet path of launch.html as a file (relative to the repository root).
LAUNCH_PAGE_FILE_CSS = "smartapp/web/static/"


#: The local open server launch.html offers when opened as a file.
LAUNCH_PAGE_DEFAULT_FHIR = "http://127.0.0.1:8080/fhir"
LAUNCH_PAGE_DEFAULT_EHR = "http://127.0.0.1:9090"


def launch_page_html(
    app_origin: str, local_fhir: str | None = None, sandbox_ehr: str | None = None
) -> str:
    """launch.html with its forms pointed at `app_origin` and its CSS at /static/; the local
    open server field defaults to `local_fhir` (the configured default server), and the
    sandbox EHR form and link point at `sandbox_ehr`, when given."""
    page = next((path for path in LAUNCH_PAGES if path.is_file()), LAUNCH_PAGES[0])
    text = page.read_text(encoding="utf-8")
    origin = str(escape(app_origin.rstrip("/")))
    text = text.replace(LAUNCH_PAGE_DEFAULT_APP, origin)
    if local_fhir:
        text = text.replace(LAUNCH_PAGE_DEFAULT_FHIR, str(escape(local_fhir)))
    if sandbox_ehr:
        text = text.replace(LAUNCH_PAGE_DEFAULT_EHR, str(escape(sandbox_ehr.rstrip("/"))))
    text = text.replace(f'href="{LAUNCH_PAGE_FILE_CSS}', 'href="/static/')
    # The note for readers of the file copy does not apply when the app serves the page.
    start, end = "<!-- file-only -->", "<!-- /file-only -->"
    while start in text and end in text.split(start, 1)[1]:
        head, rest = text.split(start, 1)
        text = head + rest.split(end, 1)[1]
    return text
