"""How every function of the compiled engine is compiled: cached, with a Ctrl-C
held while numba loads or compiles it (:func:`compiled`), and, for the
kernel, without reference counting (:func:`kernel_jit`).

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

import numpy as np
from numba import njit

from seqsim.interrupts import interrupts_deferred

__all__ = ["column_forms", "compiled", "kernel_jit"]


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return numba's ``njit`` decorator for a function of the compiled engine,
    cached on disk unless ``cache=False``; ``options`` are passed on. Under
    ``NUMBA_DISABLE_JIT=1`` the function runs as plain Python.

    A Ctrl-C while numba loads or compiles a specialization waits until it
    ends (:mod:`seqsim.interrupts`): every first call of a new signature, in the
    warm-up or later (a read-only or strided array is a new signature), goes
    through the dispatcher's ``_compile_for_args``, which is wrapped here.
    """
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        dispatcher = njit(**{"cache": True, **options})(function)
        compile_for_args = getattr(dispatcher, "_compile_for_args", None)
        if compile_for_args is not None:  # not plain Python (NUMBA_DISABLE_JIT)
            def deferring(*args: Any, **kwargs: Any) -> Any:
                with interrupts_deferred():
                    return compile_for_args(*args, **kwargs)
            # numba's C dispatcher looks the method up by name on a miss.
            dispatcher._compile_for_args = deferring
        return dispatcher
    return decorate


def kernel_jit(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return :func:`compiled` for a kernel function: also compiled without the
    reference-counting runtime; ``options`` (for example ``inline="always"``)
    are passed on."""
    return compiled(_nrt=False, **options)


def column_forms(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``values`` (two or more) in the two forms the result passes get a
    column in besides a plain array, for their warm-ups: read-only and contiguous
    (a pandas column's ``to_numpy()``) and read-only and strided (a field of the
    engine's record arrays). numba compiles a specialization per form, so a form
    the warm-up leaves out is compiled, unreported, at its first use."""
    if len(values) < 2:
        raise ValueError("column_forms needs two or more values (one is contiguous either way)")
    contiguous = values.copy()
    contiguous.flags.writeable = False
    wide = np.zeros(2 * len(values), dtype=values.dtype)
    wide[::2] = values
    strided = wide[::2]
    strided.flags.writeable = False
    return contiguous, strided
