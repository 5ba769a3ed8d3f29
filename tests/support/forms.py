"""The sandbox EHR's authorize pages as a browser reads them: one form, its hidden fields,
buttons and select options (`parse_form(html)`)."""

from __future__ import annotations

from html.parser import HTMLParser


class Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, tuple[str, str]] = {}  # id -> (name, value)
        self.selects: dict[str, list[str]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "button":
            self.buttons[a.get("id", "")] = (a.get("name", ""), a.get("value", ""))
        elif tag == "select":
            self._select = a.get("name")
            self.selects[a["name"]] = []
        elif tag == "option" and self._select:
            self.selects[self._select].append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def parse_form(html: str) -> Form:
    form = Form()
    form.feed(html)
    return form
