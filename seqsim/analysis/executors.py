"""Where a sweep's runs execute: the caller's executor, a local process pool, or Dask.

`open_executor` is a context manager yielding a `concurrent.futures.Executor`
(or None: run in this process, one run after another). Pools it creates it
also shuts down; an executor or Dask ``Client`` passed in stays the caller's.

Runs in one process never overlap: the virtual clock (freezegun) is one
per process, so `run_serialised` holds a lock around each simulation. A
thread pool, or a Dask cluster with ``processes=False``, therefore gives the
right tables but no speed-up; processes (the default pool, a Dask cluster of
worker processes) run in parallel.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from seqsim.errors import SeqsimError
from seqsim.validation import fail, parse_int, show

__all__ = ["cpu_count", "open_executor", "run_serialised"]

T = TypeVar("T")

#: One simulation at a time per process: they share the process's frozen clock.
_ONE_CLOCK = threading.Lock()


def run_serialised(fn: Callable[[], T]) -> T:
    """Return ``fn()``, called while no other run of this process simulates."""
    with _ONE_CLOCK:
        return fn()


def cpu_count() -> int:
    """Return the cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _dask_client(scheduler: Any) -> tuple[Any, bool]:
    """Return a Dask client for ``scheduler`` and whether this call owns it.

    Raises:
        SeqsimError: distributed is not installed, or no scheduler answers.
    """
    if hasattr(scheduler, "get_executor"):
        return scheduler, False
    if not isinstance(scheduler, str) or not scheduler:
        raise fail("scheduler", scheduler, "a scheduler address such as 'tcp://10.0.0.5:8786' "
                   "or a dask.distributed.Client")
    try:
        from distributed import Client
    except ImportError:
        raise SeqsimError(f"scheduler: {show(scheduler)} needs dask.distributed; expected it "
                          "installed: pip install 'seqsim[dask]'") from None
    try:
        return Client(scheduler, timeout="10s"), True
    except OSError as exc:
        raise SeqsimError(f"scheduler: {show(scheduler)} is not valid; expected a Dask "
                          f"scheduler that answers ({exc})") from None


@contextmanager
def open_executor(executor: Any = None, scheduler: Any = None, workers: Any = None,
                  runs: int = 1) -> Iterator[Executor | None]:
    """Yield the executor a sweep of ``runs`` runs submits to (None: in this process).

    ``executor`` is used as given; ``scheduler`` (an address or a Dask
    ``Client``) gives ``client.get_executor()``; otherwise ``workers``
    processes (default: the cores, at most ``runs``), and one worker means
    no pool at all.

    Raises:
        SeqsimError: more than one of the three, a bad ``workers`` or executor,
            or a scheduler that cannot be reached.
    """
    chosen = [name for name, v in (("executor", executor), ("scheduler", scheduler),
                                   ("workers", workers)) if v is not None]
    if len(chosen) > 1:
        raise SeqsimError(f"{chosen[1]}: is not valid together with {chosen[0]}; expected one "
                          "of executor, scheduler or workers")
    if executor is not None:
        if not isinstance(executor, Executor):
            raise fail("executor", executor, "a concurrent.futures.Executor")
        yield executor
        return
    if scheduler is not None:
        client, owned = _dask_client(scheduler)
        try:
            # pure=False: every submission is a run to do, never a cached task.
            yield client.get_executor(pure=False)
        finally:
            if owned:
                client.close()
        return
    count = cpu_count() if workers is None else parse_int(
        "workers", workers, 1, "an integer >= 1 (processes)")
    count = min(count, max(1, runs))
    if count == 1:
        yield None
        return
    # spawn: a forked child would inherit DuckDB's and tqdm's threads mid-flight.
    pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
