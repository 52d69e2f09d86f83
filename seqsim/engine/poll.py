"""What a poll takes and reports, and the interface every engine's processor has.

The run loop (:mod:`seqsim.run.simulate`) hands each poll the leads that
arrived since the previous one (:class:`Arrivals`) and records what the poll
did (:class:`PollStats`, a row of the timeline). A :class:`Processor` is one
engine's implementation of the production poll; engines differ in how they
store state, never in what they decide (:mod:`seqsim.engine.rules`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

import numpy as np
import pandas as pd

from seqsim.engine.rules import first_poll_at_or_after
from seqsim.engine.wait_log import WaitLog

__all__ = ["LEAD_KEY", "Arrivals", "Clock", "PollStats", "Processor", "arrival_bounds",
           "lead_keys"]

#: The optional arrivals column of each lead's global key (see :func:`lead_keys`).
LEAD_KEY = "lead_key"


def lead_keys(arrivals: pd.DataFrame, phone_codes: np.ndarray | None = None) -> np.ndarray:
    """Return per arrival its lead's key, which keys the lead's sending draws
    (:func:`seqsim.engine.rules.send_draw`): int64, the same on every arrival of a lead.

    A frame with a :data:`LEAD_KEY` column (a shard's subset of a run's
    arrivals, keeping the whole run's keys) gives that column; otherwise the
    key is the lead's index in order of first arrival, 0..n-1 over the run's
    n leads: ``pd.factorize`` of the phones, which ``phone_codes`` may pass
    when the caller has them.
    """
    if LEAD_KEY in arrivals:
        return arrivals[LEAD_KEY].to_numpy(dtype=np.int64)
    if phone_codes is None:
        phone_codes, _ = pd.factorize(arrivals["phone"].to_numpy(dtype=object))
    return phone_codes.astype(np.int64, copy=False)


def arrival_bounds(times: np.ndarray, start: datetime, poll: timedelta,
                   total: int) -> np.ndarray:
    """Return, for each of ``total + 1`` polls, the index of its first arrival:
    poll ``k`` enrols ``arrivals[bounds[k]:bounds[k + 1]]``, those arriving after
    poll ``k - 1`` and no later than poll ``k`` (int64). ``times``: the arrivals'
    times (datetime64), sorted."""
    offsets = times.astype("datetime64[us]") - np.datetime64(start, "us")
    arrival_poll = (first_poll_at_or_after(offsets, np.timedelta64(poll)) if len(offsets)
                    else offsets.astype(np.int64))
    return np.searchsorted(arrival_poll, np.arange(total + 1), side="left").astype(np.int64)


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
        self.keys: list[int] = lead_keys(frame).tolist()
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

    def down(self, clock: Clock, at: datetime) -> PollStats:
        """Return the timeline row of a poll that an outage prevents (the devices
        still send what they hold: recorded and counted here)."""
        ...

    def next_event(self) -> datetime | None:
        """Return the earliest instant a poll could change anything (None: never)."""
        ...

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return every table of the run, canonical (see :mod:`seqsim.engine.schema`)."""
        ...

    def wait_log(self) -> WaitLog:
        """Return what the lateness attribution needs besides the tables."""
        ...
