"""How a run's big arrays get their memory: in ordinary pages, not huge ones.

On Linux NumPy asks for transparent huge pages (``madvise(MADV_HUGEPAGE)``)
for every array of 4 MB or more. The kernel must then find and zero a whole
2 MB page at the first touch of any byte of it, and a run touches gigabytes
of fresh memory once each (the compiled engine's records, the result's
columns). Measured on a 2-core VM with THP in ``madvise`` mode: the volume
workload's compiled polls took 2.9-3.5 s with huge pages and 1.8-2.0 s
without, its whole run 7.7-8.7 s and 6.6-6.9 s (same peak RSS), the
production workload 8.1-9.1 s and 6.3-7.1 s.

:func:`ordinary_pages` turns NumPy's request off while a run computes and
restores it after. Setting ``NUMPY_MADVISE_HUGEPAGE`` (0 or 1) in the
environment is NumPy's documented switch; seqsim leaves the choice to it when
it is set. Where NumPy has no such toggle the context does nothing.

Even in ordinary pages the first write to each page costs a trip into the
operating system, and the compiled engine's records (hundreds of MB on a
million contacts) are written from the front, one row after another, on one
core: about 0.13 s of page faults per 300 MB here. :class:`Prefault` moves
that work to another core: a thread asks Linux to map each array's pages
(``madvise(MADV_POPULATE_WRITE)``, which fills in page tables and never
touches the contents) a few MB ahead of how far the array is used, so the
loop filling it finds its pages ready. Only pages about to be written are
mapped: an array sized for the worst case costs no more memory than without
it. Elsewhere (not Linux, a kernel before 5.14, any refusal, or a process
allowed one core) it does nothing.

Memory freed is not always memory given back: glibc serves arrays under
32 MB from its heaps once it has freed a few of that size, and keeps what
they free for later (measured on the volume workload: 95 MiB held after the
polls, 245 MiB after the summary's passes). :func:`give_back` hands those
free pages back (``malloc_trim(0)``, 5-10 ms) between a run's phases.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from seqsim.beside import spare_core

try:
    from numpy._core import multiarray
except ImportError:  # pragma: no cover - NumPy 1.x (pyproject allows 1.26)
    from numpy.core import multiarray

__all__ = ["Prefault", "give_back", "ordinary_pages"]

#: NumPy's runtime toggle (returns the previous setting); None where it has none.
_TOGGLE: Callable[[bool], bool] | None = getattr(multiarray, "_set_madvise_hugepage", None)
_guard = threading.Lock()
_inside = 0  # runs inside the context now (threads of one process share NumPy's flag)
_before = True  # NumPy's setting when the first of them entered


@contextmanager
def ordinary_pages() -> Iterator[None]:
    """Within the context NumPy does not ask for huge pages (unless
    ``NUMPY_MADVISE_HUGEPAGE`` is set); on exit, once every concurrent user has
    left, NumPy's previous setting is restored. Yields nothing; raises nothing
    of its own."""
    global _inside, _before
    if _TOGGLE is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        yield
        return
    with _guard:
        if _inside == 0:
            _before = _TOGGLE(False)
        _inside += 1
    try:
        yield
    finally:
        with _guard:
            _inside -= 1
            if _inside == 0:
                _TOGGLE(_before)


#: Linux's ``MADV_POPULATE_WRITE`` (5.14 and later; refused with EINVAL before).
_POPULATE_WRITE = 23
_PAGE = 4096
#: How far ahead of its use an array's pages are mapped, and how long the thread
#: waits before looking again once it is that far ahead. The engine fills its
#: records at about 200 MB/s: 8 MB lasts some 40 times the pause.
AHEAD_BYTES = 8 << 20
_PAUSE_S = 0.001


def _madvise() -> Callable[[int, int, int], int] | None:
    """Return libc's ``madvise`` (None where it cannot be used here)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):  # pragma: no cover - a libc without it
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_MADVISE = _madvise()


def _malloc_trim() -> Callable[[int], int] | None:
    """Return glibc's ``malloc_trim`` (None where the C library has none)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # musl and other C libraries
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


_TRIM = _malloc_trim()


def give_back() -> None:
    """Hand the free pages of the C library's heaps back to the system (see the
    module); does nothing where the library cannot. Raises nothing."""
    if _TRIM is not None:
        _TRIM(0)

#: Cleared for the process the first time the system refuses to populate.
_populating = _MADVISE is not None


class _Filling:
    """One array being filled from the front: ``used()`` says how many of its
    items are written so far; ``mapped`` is where the pages mapped ahead end."""

    def __init__(self, array: np.ndarray, used: Callable[[], int]) -> None:
        self.array = array  # held, so the memory stays the array's while mapped
        self.used = used
        self.start = array.ctypes.data
        self.end = self.start + array.nbytes
        self.mapped = (self.start + _PAGE - 1) & ~(_PAGE - 1)  # its first page is shared

    def advance(self, ahead: int) -> bool:
        """Map pages up to ``ahead`` bytes past the used part; return whether it
        mapped any. Raises OSError when the system refuses."""
        want = min(self.end, self.start + int(self.used()) * self.array.itemsize + ahead)
        want &= ~(_PAGE - 1)
        if want <= self.mapped:
            return False
        assert _MADVISE is not None
        if _MADVISE(self.mapped, want - self.mapped, _POPULATE_WRITE) != 0:
            raise OSError(ctypes.get_errno(), "madvise(MADV_POPULATE_WRITE)")
        self.mapped = want
        return True


class Prefault:
    """Map the pages of arrays being filled from the front, ahead of their use, on
    another thread, until :meth:`stop` (or the end of a ``with`` block).

    ``targets``: pairs of an array and a function returning how many of its
    items are written so far; it is called on the thread, so it only reads
    (a counter in an array, for example). The filling loop must release the
    GIL (a numba function compiled with ``nogil=True``) for the thread to keep
    ahead of it. The arrays' contents are never read or changed. Where pages
    cannot be populated (see the module), or the process may use one core
    only, it starts no thread.
    """

    def __init__(self, targets: Sequence[tuple[np.ndarray, Callable[[], int]]],
                 ahead: int = AHEAD_BYTES) -> None:
        self._targets = [_Filling(array, used) for array, used in targets if array.nbytes]
        self._ahead = ahead
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # On one core the thread would only take turns with the loop it serves.
        if _populating and self._targets and spare_core():
            self._thread = threading.Thread(target=self._follow, name="seqsim-prefault",
                                            daemon=True)
            self._thread.start()

    def _follow(self) -> None:
        global _populating
        while True:
            try:
                moved = [target.advance(self._ahead) for target in self._targets]
            except OSError as error:
                if error.errno == errno.EINTR:
                    continue
                if error.errno in (errno.EINVAL, errno.ENOSYS, errno.EPERM):
                    _populating = False  # this system cannot: do not try again
                return  # anything else (ENOMEM, EFAULT): this run goes without
            if self._stopping.wait(0 if any(moved) else _PAUSE_S):
                return

    def stop(self) -> None:
        """Stop mapping and wait for the thread (it lets go of the arrays)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._targets = []

    def __enter__(self) -> Prefault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
