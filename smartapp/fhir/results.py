"""What searches return: the resources read and whether the read was complete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Resource = dict[str, Any]


@dataclass(frozen=True)
class SearchResult:
    """All pages of one search. `complete` is False when any page could not be read;
    `problem` then says why in one sentence for the "data incomplete" banner."""

    resources: list[Resource]
    complete: bool
    problem: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """Several searches read in one batch. Areas named in `failed_areas` are incomplete
    (their checks must say unknown); `problems` has one sentence per failure."""

    resources: list[Resource]
    failed_areas: frozenset[str]
    problems: tuple[str, ...]
    #: The searches sent, relative to the base, in order (for the "data" panel).
    queries: list[str]
    #: `Type/id` of resources a history read (`Type/_history?_since=`) reported deleted.
    deleted: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failed_areas and not self.problems
