"""Reading the app's pages in tests, and the demo patients' resources.

`page(client)` gets a page; `elements`, `article` and `finding_cards` take the HTML apart;
`demo(slug)` is a demo situation's resources, `retarget` the same for another patient id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date
from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient

from smartapp.demo.bundles import demo_patient_resources

Resource = dict[str, Any]


def demo(slug: str, as_of: date | None = None) -> list[Resource]:
    return demo_patient_resources(as_of or date.today(), slug)


def patient_resource(patient_id: str, *, name: str = "Test Patient", **extra: Any) -> Resource:
    given, _, family = name.partition(" ")
    return {
        "resourceType": "Patient",
        "id": patient_id,
        "name": [{"given": [given], "family": family}],
        "gender": "female",
        "birthDate": "1985-04-12",
        **extra,
    }


def retarget(resources: Iterable[Resource], new_id: str) -> list[Resource]:
    """The same resources for a Patient with another id (references rewritten)."""
    text = json.dumps(list(resources))
    old_ids = {r["id"] for r in json.loads(text) if r["resourceType"] == "Patient"}
    for old in old_ids:
        text = re.sub(rf'"Patient/{re.escape(old)}"', f'"Patient/{new_id}"', text)
        text = text.replace(f'"id": "{old}"', f'"id": "{new_id}"')
    result: list[Resource] = json.loads(text)
    return result


def page(client: FlaskClient, path: str = "/patient") -> tuple[int, str, dict[str, str]]:
    response = client.get(path)
    return response.status_code, response.get_data(as_text=True), dict(response.headers)


# -- reading the HTML ----------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    """Every start tag of the page with its attributes, in document order."""
    collector = _Collector()
    collector.feed(html)
    return collector.elements


def article(html: str, check: str) -> str:
    """The HTML of the finding card for `check`."""
    start = html.index(f'id="finding-{check}"')
    start = html.rindex("<article", 0, start)
    return html[start : html.index("</article>", start)]


def finding_cards(html: str, section_id: str) -> list[dict[str, str]]:
    """The attributes of each finding card inside the section with `section_id`."""
    start = html.index(f'id="{section_id}"')
    end = html.index("</section>", start)
    return [attrs for tag, attrs in elements(html[start:end]) if tag == "article"]
