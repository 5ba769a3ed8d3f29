"""docs/connecting.md (and the README's summary) describe every tenant setting the code
accepts, and cite public sources only."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from smartapp.config import TENANT_KEYS
from smartapp.quirks import QUIRK_KEYS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "connecting.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_tenant_key_and_quirk_is_described() -> None:
    for key in TENANT_KEYS - {"iss", "client_id", "client_secret", "scopes", "label"}:
        assert f"`{key}`" in DOC, key
        assert f"`{key}`" in README, key
    for quirk in QUIRK_KEYS:
        assert f"| `{quirk}` |" in DOC, quirk
        assert quirk in README, quirk


def test_every_server_the_readme_names_has_its_notes() -> None:
    for server in ("Epic", "Oracle Health", "HAPI FHIR", "Smile CDR", "Medplum"):
        assert f"### {server}" in DOC
        assert f"| **{server}" in README


def test_sources_are_public_https_addresses() -> None:
    urls = re.findall(r"https?://[^\s)`,\[\]\"]+", DOC)
    assert len(urls) >= 20
    for url in urls:
        parts = urlsplit(url)
        if parts.hostname in {"host", "ehr.example.org", "api.medplum.com"}:
            continue  # placeholders and the example iss, not sources
        assert parts.scheme == "https", url
        assert parts.hostname and "." in parts.hostname, url
        assert not parts.hostname.startswith(("127.", "localhost")), url
