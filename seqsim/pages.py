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
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

try:
    from numpy._core import multiarray
except ImportError:  # pragma: no cover - NumPy 1.x (pyproject allows 1.26)
    from numpy.core import multiarray

__all__ = ["ordinary_pages"]

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
