"""The virtual clock.

The engine reads the time in one place, :func:`seqsim.units.now`, which is
``datetime.now()`` in UTC. A :class:`VirtualClock` freezes that with
freezegun at a start instant and moves it only when told to, so a month of
polls runs in seconds and every run is reproducible. The engine binds the
value of :func:`seqsim.units.now` into its SQL as a parameter: DuckDB's own ``now()`` and
the SQL-standard current-time functions read the machine's clock, which
freezegun cannot reach, so the engine never calls them (a test greps for
them).

freezegun also freezes ``time.perf_counter``/``monotonic``; code that measures
real elapsed time (progress bars, benchmarks) must use :func:`real_seconds`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from types import TracebackType

import freezegun.api as _freezegun_api
from freezegun import freeze_time

from seqsim.errors import EngineError
from seqsim.units import to_naive_utc

__all__ = ["VirtualClock", "real_seconds"]

# Modules that must keep the real clock while time is frozen: tqdm rates and
# refresh intervals would otherwise stand still, and an event loop running in
# another thread of the process (a Dask worker's, whose task is this run) would
# see time jump back to the virtual instant and stop firing its timers.
_REAL_TIME_MODULES = ["tqdm", "asyncio", "tornado", "distributed"]
# Modules freezegun need not search for clock functions: it reads every
# attribute of every loaded module, and each read of a scipy attribute that
# names a submodule imports it (some 540 modules: 1.4 s on a process's first
# run). scipy never reads the clock.
_UNSCANNED_MODULES = ["scipy"]


def real_seconds() -> float:
    """Return a real monotonic clock in seconds, unaffected by freezegun."""
    # Looked up at call time: freezegun rebinds any module-level name that holds
    # time.perf_counter while time is frozen, but not its own saved original.
    return _freezegun_api.real_perf_counter()


class VirtualClock:
    """A frozen clock that only moves forward when told to.

    Use as a context manager::

        with VirtualClock(datetime(2025, 7, 1)) as clock:
            clock.tick(timedelta(seconds=15))
            clock.now  # 2025-07-01 00:00:15

    Inside the block :func:`seqsim.units.now` (and ``datetime.now()``)
    return the virtual time.
    """

    def __init__(self, start: datetime) -> None:
        self._start = to_naive_utc(start)
        self._current = self._start
        self._freezer = None
        self._factory = None

    def __enter__(self) -> VirtualClock:
        self._freezer = freeze_time(self._start,
                                    ignore=_REAL_TIME_MODULES + _UNSCANNED_MODULES)
        self._factory = self._freezer.start()
        self._current = self._start
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._freezer is not None:
            self._freezer.stop()
        self._freezer = None
        self._factory = None

    @property
    def start(self) -> datetime:
        """The instant the clock was frozen at."""
        return self._start

    @property
    def now(self) -> datetime:
        """The current virtual instant (naive UTC)."""
        return self._current

    def advance_to(self, instant: datetime) -> datetime:
        """Move the clock to ``instant`` and return it.

        Raises:
            EngineError: the clock is not running, or ``instant`` is earlier
                than the current virtual time (time never runs backwards).
        """
        if self._factory is None:
            raise EngineError("clock: not running; use VirtualClock as a context manager")
        instant = to_naive_utc(instant)
        if instant < self._current:
            raise EngineError(
                f"clock.advance_to: {instant.isoformat()} is not valid; it is before the "
                f"current virtual time {self._current.isoformat()}"
            )
        if instant != self._current:
            self._factory.move_to(instant)
            self._current = instant
        return instant

    def tick(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new instant.

        Raises:
            EngineError: ``delta`` is negative or the clock is not running.
        """
        if delta < timedelta(0):
            raise EngineError(f"clock.tick: {delta} is not valid; expected a duration >= 0")
        return self.advance_to(self._current + delta)
