"""How a status or an action looks on a page: icon AND word, never a colour alone."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Look:
    """A status or an action as shown: CSS class suffix, the word, and the icon (an SVG
    symbol id)."""

    key: str
    word: str
    icon: str
