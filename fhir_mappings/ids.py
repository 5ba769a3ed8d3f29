"""What a FHIR resource id may be (FHIR R4 `id` datatype): 1-64 of A-Z a-z 0-9 - and ."""

from __future__ import annotations

import re

#: The whole id, nothing around it (use `is_fhir_id`, which matches it in full).
ID_PATTERN = r"[A-Za-z0-9\-.]{1,64}"
_ID = re.compile(ID_PATTERN)


def is_fhir_id(value: object) -> bool:
    """True for a string that is a valid FHIR resource id. A trailing newline is refused
    (`re.match` with `$` would accept one)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None
