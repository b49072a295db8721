"""A minimal compiled rule for matcher tests: what ``ArticleMatcher`` and ``Engine`` need of one."""

from __future__ import annotations

from dataclasses import dataclass

from newsalert.domain.query.parser import parse_query


@dataclass(frozen=True)
class Rule:
    """A rule id, its query (parsed on demand, as ``node``) and the subscribers it notifies."""

    id: str
    query: str
    notify: tuple[str, ...]

    @property
    def node(self):
        return parse_query(self.query)
