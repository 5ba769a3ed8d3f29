"""How a particular server wants its searches asked (a tenant's quirks, smartapp.quirks).

Some servers refuse a search of a type unless it carries a parameter: Epic and Oracle
Health answer an Observation search without `category` with 400 (US Core's required
search combination for Observation is patient + category; docs/connecting.md). The
dialect rewrites such a search into one search per listed value of that parameter:
split rather than OR-ed (`category=a,b`), so it works whether or not the server accepts
several values. It applies to every search the client sends, whatever its type, so a new
search added to a table is covered without touching the table. In a batch the splits
travel in the same POST: a patient view stays one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote

#: A search that names resources directly needs nothing else.
_DIRECT = frozenset({"_id"})


@dataclass(frozen=True)
class SearchDialect:
    #: {resource type: (parameter, values)}: a search of that type without the parameter
    #: is sent once per value.
    splits: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.splits)

    def expand(self, relative_url: str) -> list[str]:
        """The search(es) to send for one type-level search URL (unchanged when no rule
        applies: other types, instance reads, paging links, or the parameter present)."""
        path, _, query = relative_url.partition("?")
        rtype = path.strip("/")
        rule = self.splits.get(rtype)
        if rule is None:
            return [relative_url]
        param, values = rule
        given = {name.split(":", 1)[0] for name, _ in parse_qsl(query, keep_blank_values=True)}
        if param in given or given & _DIRECT or not values:
            return [relative_url]
        joiner = "&" if query else ""
        return [f"{path}?{query}{joiner}{param}={quote(value, safe=':/')}" for value in values]

    def expand_all(self, searches: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """(area, URL) pairs with every search expanded, areas kept, order kept."""
        return [(area, url) for area, search in searches for url in self.expand(search)]
