"""A progress bar for long runs, timed by the real clock.

The simulation runs under a frozen virtual clock; tqdm is listed among the
modules freezegun leaves on real time (see :mod:`seqsim.run.clock`), so the bar's
rate and refresh interval are real seconds.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from tqdm.std import tqdm

__all__ = ["Progress"]

#: Real seconds a run must last before the automatic bar appears.
AUTO_DELAY_S = 2.0


class Progress:
    """Counts polls done out of ``total``.

    ``enabled``: None shows the bar only once a run has lasted
    :data:`AUTO_DELAY_S` real seconds; True shows it from the start; False
    never does. ``unit_scale`` shows 12.3k rather than 12,345 (polls; not runs).
    """

    def __init__(self, total: int, *, enabled: bool | None = None, unit: str = "poll",
                 unit_scale: bool = True) -> None:
        self._options: dict[str, Any] = {
            "total": total,
            "unit": unit,
            "unit_scale": unit_scale,
            "delay": 0 if enabled else AUTO_DELAY_S,
            "mininterval": 0.5,
            "leave": bool(enabled),
            "dynamic_ncols": True,
        }
        self._bar: Any = None if enabled is False else tqdm(**self._options)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()

    def _restart(self) -> None:
        # tqdm's reset() always draws the bar, which would print a 0% frame on
        # every short run and defeat the delay; a bar that never drew closes
        # silently, so the automatic bar is replaced instead.
        if self._options["delay"]:
            self._bar.close()
            self._bar = tqdm(**self._options)
        else:
            self._bar.reset(total=self._bar.total)

    def advance(self, polls: int, stats: Any = None) -> None:
        """Count ``polls`` more polls; ``stats`` (a PollStats) feeds the postfix.

        ``advance(0)`` before any poll restarts the bar's clock: an engine calls
        it once its one-off start-up (a compile) is done, so the bar shows the
        run's own rate and appears only when the run itself is long.
        """
        if self._bar is None:
            return
        if polls == 0 and self._bar.n == 0:
            self._restart()
            return
        self._bar.update(polls)
        if stats is not None and self._bar.n % 500 < polls:
            self._bar.set_postfix(
                active=stats.active, backlog=stats.backlog, refresh=False
            )
