"""What a poll takes and reports, and the interface every engine's processor has.

The run loop (:mod:`seqsim.run.simulate`) hands each poll the leads that
arrived since the previous one (:class:`Arrivals`) and records what the poll
did (:class:`PollStats`, a row of the timeline). A :class:`Processor` is one
engine's implementation of the production poll; engines differ in how they
store state, never in what they decide (:mod:`seqsim.engine.rules`).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd

__all__ = ["Arrivals", "Clock", "PollStats", "Processor"]


class Arrivals:
    """A run's arrivals, as the frame and as plain lists for cheap slicing."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.times_us: list[int] = (
            frame["time"].to_numpy().astype("datetime64[us]").astype(np.int64).tolist()
        )
        self.phones: list[str] = frame["phone"].tolist()
        self.triggers: list[str] = frame["trigger"].tolist()
        self.devices: list[str] = frame["device_id"].tolist()
        self.zones: list[str] = (
            frame["timezone"].tolist() if "timezone" in frame else ["UTC"] * len(frame)
        )


class PollStats(NamedTuple):
    """What one poll did (a row of the timeline)."""

    time: datetime
    enrolled: int
    sent: int
    failed: int
    skipped: int
    backlog: int
    active: int
    completed_contacts: int


class Clock(Protocol):
    """The virtual clock a poll moves forward (deliveries happen between polls)."""

    def advance_to(self, instant: datetime) -> datetime:
        """Move the clock to ``instant`` (never backwards) and return it."""
        ...


class Processor(Protocol):
    """One engine's production poll, as the run loop drives it."""

    def poll(self, clock: Clock, at: datetime, arrivals: Arrivals, lo: int, hi: int, *,
             recovering: bool = False) -> PollStats:
        """Run one poll at ``at``, enrolling ``arrivals[lo:hi]``; return its timeline row.

        ``recovering``: the first poll after an outage, which applies the catch-up.
        """
        ...

    def idle(self, at: datetime) -> PollStats:
        """Return the timeline row of a poll at which nothing can change."""
        ...

    def down(self, at: datetime) -> PollStats:
        """Return the timeline row of a poll that an outage prevents."""
        ...

    def next_event(self) -> datetime | None:
        """Return the earliest instant a poll could change anything (None: never)."""
        ...

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return every table of the run, canonical (see :mod:`seqsim.engine.schema`)."""
        ...
