"""Text for a terminal: what FHIR servers write must not drive the user's terminal.

A patient name, a finding detail or a server's error message can carry escape sequences
(`ESC ]…` retitles the window or writes a hyperlink, `ESC [2J` clears the screen, a
carriage return overprints a line) and bidirectional overrides (text that reads
differently than it is stored). Every CLI line the app prints to a terminal goes through
`terminal_safe`; JSON output needs nothing (json.dumps escapes them).
"""

from __future__ import annotations

import re

#: C0 controls except tab and newline, DEL, C1 controls, and the Unicode bidi controls.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` without the characters a terminal would act on (module doc)."""
    return _UNSAFE.sub("", text)
