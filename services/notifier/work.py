"""One delivery the notifier makes, and an alert held back for a digest."""

from __future__ import annotations

from dataclasses import dataclass, field

from newsalert.domain.delivery.endpoints import Endpoint
from newsalert.schemas import Alert, Batch, DeliveryAttempt, Digest
from newsalert.services.notifier.offsets import Ticket


@dataclass
class Work:
    """One delivery to make: an alert, a digest of held alerts or a batch of waiting ones (``alert`` is then None)."""

    ticket: Ticket | None  # the record it came from; None for a digest just closed
    alert: Alert | None
    endpoint: Endpoint
    attempt: int = 1
    history: list[DeliveryAttempt] = field(default_factory=list)
    digest: Digest | None = None
    held: list[Ticket] = field(default_factory=list)  # the digest's or batch's other alerts, settled with it
    batch: Batch | None = None
    size: int = 0  # bytes of the record it came from (bounds a batch's retry record)

    @property
    def group(self) -> Digest | Batch | None:
        """The digest or batch this delivery carries, if any."""
        return self.digest if self.digest is not None else self.batch

    @property
    def item(self) -> Alert | Digest | Batch:
        """What is POSTed: the digest, the batch or the alert."""
        group = self.group
        return group if group is not None else self.alert

    def tickets(self) -> list[Ticket]:
        """Every record settled when this delivery is."""
        return ([self.ticket] if self.ticket is not None else []) + self.held


@dataclass(frozen=True)
class Held:
    """An alert held back for its subscriber's digest; its record stays unsettled until then."""

    ticket: Ticket
    alert: Alert
    endpoint: Endpoint
