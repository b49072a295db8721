"""Several test sessions sharing one broker: a lease file per process, the last one out stops it."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from newsalert.adapters.local_kafka.config import BrokerConfig
from newsalert.adapters.local_kafka.control import StartResult, start, stop_locked
from newsalert.adapters.local_kafka.state import live_leases, locked, read_state


@contextlib.contextmanager
def lease(cfg: BrokerConfig, purpose: str = "tests") -> Iterator[StartResult]:
    """Use the local broker for the duration of the block: start it if needed (recorded as
    ``purpose``), and at the end stop it only if it was started for ``purpose`` and no other live
    process holds a lease. Parallel test sessions on one machine therefore never stop the broker
    under each other, and a broker started by hand (purpose "cli") is never stopped by tests.
    """
    cfg.lease_dir.mkdir(parents=True, exist_ok=True)
    mine = cfg.lease_dir / str(os.getpid())
    mine.write_text(purpose)
    try:
        yield start(cfg, purpose=purpose)
    finally:
        mine.unlink(missing_ok=True)
        # Check and stop under one lock, so a session taking a lease meanwhile cannot lose its broker.
        with locked(cfg):
            state = read_state(cfg)
            if not live_leases(cfg) and state is not None and state.purpose == purpose:
                stop_locked(cfg)
