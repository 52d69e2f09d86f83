"""Ctrl-C held back across work that must not stop part-way.

Python raises KeyboardInterrupt between any two bytecodes of the main thread,
inside a library's own code too. Two places cannot take that:

- a result's swap into place (:mod:`seqsim.results.store`), where an
  interrupt between the two renames would leave the path empty;
- numba loading (or compiling) the engine (:mod:`seqsim.engine.kernel_cache`):
  llvmlite's objects are made and freed in steps, and an interrupt between
  them left half-made objects whose later cleanup crashed the process
  (SIGSEGV instead of exit 130, found by ``make test-kill``).

:func:`interrupts_deferred` notes a SIGINT that arrives inside its block and
delivers it, to the handler that was in place, when the block ends.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["EXIT_INTERRUPTED", "interrupts_deferred"]

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports).
EXIT_INTERRUPTED = 130


@contextmanager
def interrupts_deferred(note: str | None = None) -> Iterator[None]:
    """Hold a SIGINT that arrives inside the block until the block ends.

    ``note``: a line written to stderr when the first SIGINT is held (for a
    block long enough that a user should hear the Ctrl-C was noticed).

    Only the main thread gets Python's signal handlers, so elsewhere (and
    where a C handler is installed, or SIGINT is ignored) the block runs as
    is. On leaving (also by an exception), a held SIGINT goes to the previous
    Python handler, or raises KeyboardInterrupt under the default one.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() \
            or previous in (None, signal.SIG_IGN):
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        if not held and note is not None:
            os.write(2, f"{note}\n".encode())  # not print: stderr may be mid-write
        held.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held and callable(previous):
            previous(signal.SIGINT, None)
        elif held:  # SIG_DFL: stop as Python's own handler would
            raise KeyboardInterrupt
