"""The benchmark's SimPy peer: the same world written the way an analyst would.

One SimPy process per contact, started by a source process at its arrival:
it waits for the next poll, then for each step waits the step's delay and
the next poll, and queues for its device (a ``simpy.Resource`` of capacity
one, first come first served). Holding the device it waits, if the device is
over its rolling hourly or daily limit, until the limit lapses (rounded up
to the poll grid), then takes the device's pacing gap and sends. It models
the same arrivals (a Poisson stream or a burst), delays, poll grid and
limits as the seqsim workload, without tables.
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import datetime
from typing import Any

import numpy as np
import simpy

_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> float:
    return float(text[:-1]) * _DURATION[text[-1]]


class _Device:
    def __init__(self, hourly: int, daily: int, rng: np.random.Generator,
                 gap: tuple[float, float]) -> None:
        self.hourly, self.daily = hourly, daily
        self.last_hour: deque[float] = deque()
        self.last_day: deque[float] = deque()
        self.last_send = -1e18
        self.rng, self.gap = rng, gap

    def free_at(self, now: float) -> float:
        """Return when the rolling limits next allow a message (now if they do)."""
        while self.last_hour and self.last_hour[0] <= now - 3600:
            self.last_hour.popleft()
        while self.last_day and self.last_day[0] <= now - 86400:
            self.last_day.popleft()
        at = now
        if self.hourly and len(self.last_hour) >= self.hourly:
            at = max(at, self.last_hour[-self.hourly] + 3600)
        if self.daily and len(self.last_day) >= self.daily:
            at = max(at, self.last_day[-self.daily] + 86400)
        return at

    def take(self, now: float) -> float:
        if self.hourly:
            self.last_hour.append(now)
        if self.daily:
            self.last_day.append(now)
        send_at = max(now, self.last_send + self.rng.uniform(*self.gap))
        self.last_send = send_at
        return send_at


def simulate_simpy(data: dict[str, Any]) -> int:
    """Run the model for a benchmark scenario table; return messages sent."""
    sim, seq, wl, cap = data["simulation"], data["sequences"][0], data["workload"][0], \
        data["capacity"]
    rng = np.random.default_rng(sim.get("seed", 42))
    duration = _seconds(sim["duration"])
    poll = _seconds(sim["poll_interval"])
    days = seq["days"]
    delays = [0, *((b - a) * 3600 * 24 for a, b in itertools.pairwise(days))]
    if wl["kind"] == "burst":
        arrivals = np.zeros(wl["count"])
    else:
        start = datetime.fromisoformat(sim["start"])
        window = (datetime.fromisoformat(wl["end"]) - start).total_seconds()
        n = rng.poisson(wl["rate_per_hour"] * window / 3600)
        arrivals = np.sort(rng.uniform(0, window, n))
    gap = (seq["min_delay_seconds"], seq["max_delay_seconds"])
    env = simpy.Environment()
    devices = [_Device(cap["hourly_limit"], cap["daily_limit"], rng, gap)
               for _ in range(cap["devices"])]
    slots = [simpy.Resource(env, capacity=1) for _ in devices]
    sent = 0

    def next_poll(t: float) -> float:
        return -(-t // poll) * poll

    def contact(device: _Device, slot: simpy.Resource):
        nonlocal sent
        for delay in delays:
            if delay:
                yield env.timeout(delay)
            yield env.timeout(next_poll(env.now) - env.now)
            with slot.request() as turn:
                yield turn
                free = next_poll(device.free_at(env.now))
                if free > env.now:
                    yield env.timeout(free - env.now)
                send_at = device.take(env.now)
                if send_at > env.now:
                    yield env.timeout(send_at - env.now)
            sent += 1

    def source():
        for i, at in enumerate(arrivals.tolist()):
            if at > env.now:
                yield env.timeout(at - env.now)
            env.process(contact(devices[i % len(devices)], slots[i % len(devices)]))

    env.process(source())
    env.run(until=duration)
    return sent
