"""A pass run beside another, on a second core when the process has one.

Its use: a run's result passes (the working tables, the checks, the send
figures; :mod:`seqsim.results.build`) read the same finished tables and write
nothing shared, and their heavy parts are compiled loops and NumPy operations
that let go of the GIL, so two of them run at once on two cores in about the
time of the longer one. With one core (or an affinity of one) the pass runs
at once, in the caller's thread, so the order and the memory it holds are
those of calling it directly. :func:`spare_core` also decides whether
:class:`seqsim.pages.Prefault` starts its thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Beside", "spare_core"]

T = TypeVar("T")


def spare_core() -> bool:
    """Return whether this process may run on more than one core."""
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:  # not Linux
        return (os.cpu_count() or 1) > 1


class Beside(Generic[T]):
    """``function(*args, **kwargs)`` started on another thread (or, without a spare
    core, computed now); :meth:`result` waits for it and returns it, or raises
    what it raised."""

    def __init__(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> None:
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if spare_core():
            self._thread = threading.Thread(target=self._run, args=(function, args, kwargs),
                                            name="seqsim-beside", daemon=True)
            self._thread.start()
        else:
            self._run(function, args, kwargs)

    def _run(self, function: Callable[..., T], args: tuple, kwargs: dict[str, Any]) -> None:
        try:
            self._value = function(*args, **kwargs)
        except BaseException as error:  # handed to the caller by result()
            self._error = error

    def result(self) -> T:
        """Return the function's value once it is computed; raise its exception."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
