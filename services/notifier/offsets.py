"""Which offsets the notifier may commit: per partition, the end of the settled prefix.

Alerts of one partition are settled out of order (different subscribers are served
concurrently). Committing offset N tells Kafka that everything below N is done, so the commit
point of a partition is just past the longest prefix of fetched offsets that are all settled.
An unsettled alert therefore holds back the commit of every later alert of its partition: after a
crash they are delivered again (at least once), never skipped.

Offsets are tracked as fetched, not assumed contiguous, because compaction and transaction
markers leave gaps. On a rebalance a revoked partition is dropped; tickets issued before are
then stale, and settling them has no effect.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Hashable, Iterable


@dataclass(frozen=True)
class Ticket:
    """One fetched record awaiting its outcome."""

    partition: Hashable
    offset: int
    generation: int


@dataclass
class _Partition:
    generation: int
    fetched: deque[int] = field(default_factory=deque)
    settled: set[int] = field(default_factory=set)
    commit_point: int | None = None  # next offset to consume, once everything below is settled
    committed: int | None = None  # last commit point handed to the broker


class OffsetTracker:
    """Per-partition settled prefixes; see the module docstring."""

    def __init__(self) -> None:
        self._partitions: dict[Hashable, _Partition] = {}
        self._generation = 0

    def add(self, partition: Hashable, offset: int) -> Ticket:
        """Register a fetched record; offsets of one partition must come in increasing order."""
        state = self._partitions.get(partition)
        if state is None:
            self._generation += 1
            state = self._partitions[partition] = _Partition(self._generation)
        if state.fetched and offset <= state.fetched[-1]:
            raise ValueError(f"offset {offset} of {partition} fetched after {state.fetched[-1]}")
        state.fetched.append(offset)
        return Ticket(partition, offset, state.generation)

    def settle(self, ticket: Ticket) -> None:
        """Mark the ticket's record done (delivered, given up or dead-lettered)."""
        state = self._live_state(ticket)
        if state is None:
            return
        state.settled.add(ticket.offset)
        while state.fetched and state.fetched[0] in state.settled:
            done = state.fetched.popleft()
            state.settled.discard(done)
            state.commit_point = done + 1

    def is_live(self, ticket: Ticket) -> bool:
        """False once the ticket's partition was dropped (revoked) since it was issued."""
        return self._live_state(ticket) is not None

    def pending(self, partition: Hashable | None = None) -> int:
        """Records fetched and not yet part of the settled prefix (of one partition, or all)."""
        if partition is not None:
            state = self._partitions.get(partition)
            return len(state.fetched) if state else 0
        return sum(len(s.fetched) for s in self._partitions.values())

    def to_commit(self, partitions: Iterable[Hashable] | None = None) -> dict[Hashable, int]:
        """Commit points that moved since ``mark_committed`` (optionally only for ``partitions``)."""
        wanted = None if partitions is None else set(partitions)
        return {
            tp: s.commit_point
            for tp, s in self._partitions.items()
            if s.commit_point is not None and s.commit_point != s.committed and (wanted is None or tp in wanted)
        }

    def mark_committed(self, offsets: dict[Hashable, int]) -> None:
        """Record that the broker accepted these commit points."""
        for tp, offset in offsets.items():
            state = self._partitions.get(tp)
            if state is not None:
                state.committed = offset

    def drop(self, partitions: Iterable[Hashable]) -> None:
        """Forget revoked partitions; their outstanding tickets become stale."""
        for tp in partitions:
            self._partitions.pop(tp, None)

    def _live_state(self, ticket: Ticket) -> _Partition | None:
        state = self._partitions.get(ticket.partition)
        if state is None or state.generation != ticket.generation:
            return None
        return state
