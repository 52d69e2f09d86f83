"""How every function of the compiled engine is compiled: cached, and without
reference counting.

numba counts references to every array a compiled function holds (a call
into its runtime per array each time a variable takes one), and the kernel
passes its whole world and state, about fifty arrays as two tuples, to each
helper it calls: hundreds of such calls per message. Borrowing the arrays
(NULL owners) made each a test and a return, still 0.8 s of the volume
workload's 5.5 s in the kernel; compiling without the runtime
(``_nrt=False``) removes them: the kernel went from 5.5 s to 2.8 s.

This is safe because the kernel allocates nothing: it only reads and writes
arrays that its caller (:func:`seqsim.engine.kernel.run_polls`, called from
Python) holds for the whole call, and returns a status code, never an array
(numba refuses to compile a function that allocates or returns a new array
without the runtime, so a change that tried would fail at compile time).
Scratch space lives in the state (for example ``S_ROOM``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit

__all__ = ["kernel_jit"]


def kernel_jit(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return numba's ``njit`` decorator for a kernel function: cached on disk and
    compiled without the reference-counting runtime; ``options`` (for example
    ``inline="always"``) are passed on. Under ``NUMBA_DISABLE_JIT=1`` the function
    runs as plain Python."""
    return njit(cache=True, _nrt=False, **options)
