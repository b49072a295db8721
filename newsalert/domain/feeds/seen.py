"""Which entries of each feed were already published: bounded, newest kept.

One ``SeenIds`` per feed holds at most ``limit`` entry ids in publication order; adding past the
limit forgets the oldest. The limit must stay above the number of entries a feed lists at once,
or an entry that is still listed but forgotten would be published again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterable


class SeenIds:
    """An insertion-ordered set of ids bounded to ``limit`` (the oldest go first)."""

    def __init__(self, limit: int, ids: Iterable[str] = ()) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.add(ids)

    def __contains__(self, item: str) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ids: Iterable[str]) -> None:
        """Remember ``ids`` as the newest, forgetting the oldest beyond the limit."""
        for item in ids:
            self._ids[item] = None
            self._ids.move_to_end(item)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def unseen(self, ids: Iterable[str]) -> list[str]:
        """Those of ``ids`` not remembered, in their order, each once."""
        out: list[str] = []
        for item in ids:
            if item not in self._ids and item not in out:
                out.append(item)
        return out

    def ids(self) -> list[str]:
        """Every remembered id, oldest first."""
        return list(self._ids)
