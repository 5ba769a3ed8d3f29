"""Errors at the FHIR boundary: values for people, not tracebacks (ARCHITECTURE "Habits")."""

from __future__ import annotations


class UnusableInput(ValueError):
    """The input cannot be read as one patient's FHIR data; `str(err)` is one line.

    The CLI exits 2 with this message (SPEC §4 `smartapp check`).
    """


class Malformed(ValueError):
    """One resource cannot be read (a wrong type, a bad date…): it is skipped and counted.

    Raised by the per-resource readers and caught by `read_patient_record`; never escapes it.
    `area` names the record area that lost data when the reader knows it (a DiagnosticReport
    feeds labs and imaging; an undated brain MRI only costs imaging).
    """

    def __init__(self, message: str, area: str | None = None) -> None:
        super().__init__(message)
        self.area = area
