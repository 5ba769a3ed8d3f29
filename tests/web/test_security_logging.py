"""No PHI or secrets in INFO logs: app messages and the dev server's access log."""

from __future__ import annotations

import logging

from smartapp.web import RedactQueryStrings
from tests.launch.launch_fakes import OPEN_ISS
from tests.support.navigation import TYPED


def test_open_server_launch_logs_no_patient_id(client, caplog):
    with caplog.at_level(logging.INFO):
        client.get(
            "/open",
            query_string={"iss": OPEN_ISS, "patient": "patient-secret-42"},
            headers=TYPED,
        )
    assert "open-server session started" in caplog.text
    assert "patient-secret-42" not in caplog.text


def test_refused_launch_logs_no_query_values(client, caplog):
    with caplog.at_level(logging.INFO):
        client.get("/launch", query_string={"iss": "https://x.example/fhir", "launch": "L-secret"})
    assert "L-secret" not in caplog.text


def test_access_log_query_strings_are_redacted():
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - - [%s] "%s" %s %s',
        ("127.0.0.1", "now", "GET /callback?code=C0DE&state=ST4TE HTTP/1.1", "302", "-"),
        None,
    )
    assert RedactQueryStrings().filter(record)
    message = record.getMessage()
    assert "C0DE" not in message and "ST4TE" not in message
    assert "GET /callback?… HTTP/1.1" in message
