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
delivers it, to the handler that was in place, when the block ends. A compile
holds one for 1-2 minutes: in the ``seqsim`` command
(:func:`exit_on_second_interrupt`) a second Ctrl-C there ends the process at
once, as command-line users expect; a library caller (a notebook, whose
kernel would be lost) keeps waiting.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["EXIT_INTERRUPTED", "exit_on_second_interrupt", "interrupts_deferred"]

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT, as a shell reports).
EXIT_INTERRUPTED = 130
_second_exits = False  # set by exit_on_second_interrupt
_HOLDING: list[object] = []  # the handlers of the blocks open now, outermost first


def exit_on_second_interrupt() -> None:
    """From now on, a second SIGINT inside a held block that has a ``note`` (a
    long one: a compile) ends the process at once with :data:`EXIT_INTERRUPTED`,
    after ``seqsim: interrupted`` on stderr. For the command line only: no
    cleanup runs (numba writes its cache files whole, by rename, so none is
    left half-written)."""
    global _second_exits
    _second_exits = True


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
            or previous in (None, signal.SIG_IGN) or previous in _HOLDING:
        # An enclosing block holds it already, and its note and second-Ctrl-C
        # exit must answer at once, not when this (inner, quiet) block ends.
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        if held and note is not None and _second_exits:
            os.write(2, b"seqsim: interrupted\n")
            os._exit(EXIT_INTERRUPTED)
        if not held and note is not None:
            os.write(2, f"{note}\n".encode())  # not print: stderr may be mid-write
        held.append(signum)

    _HOLDING.append(hold)
    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _HOLDING.remove(hold)
        if held and callable(previous):
            previous(signal.SIGINT, None)
        elif held:  # SIG_DFL: stop as Python's own handler would
            raise KeyboardInterrupt
