"""Borrowed arrays: the kernel's state without reference counting.

numba counts references to every array a compiled function holds, with an
atomic increment and decrement each time a variable takes an array, and the
kernel passes its whole world and state (about fifty arrays, as two tuples)
to each helper it calls: a few hundred atomic operations per message, which
measured 45% of a run's time (volume at a quarter: kernel 3.6 s -> 2.0 s
without them, ``benchmarks/README.md``).

:func:`borrow` returns the same arrays with no owner recorded (a NULL
meminfo, as numba's own ``carray`` views have), so the counting of their
references is a test and a return. This is safe because the caller
(:func:`seqsim.engine.kernel.run_polls`, called from Python) holds the
arrays for the whole call and no borrowed array outlives it: the kernel
returns a status code, never an array. Under ``NUMBA_DISABLE_JIT=1``
:func:`borrow` is the identity.
"""

from __future__ import annotations

from typing import Any

from numba.core import cgutils, types
from numba.extending import intrinsic, overload

__all__ = ["borrow"]


def borrow(arrays: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return ``arrays`` (a tuple of arrays) as views that count no references;
    in plain Python, ``arrays`` itself."""
    return arrays


@intrinsic
def _unowned(typingctx: Any, arrays: types.BaseTuple) -> Any:
    """The compiled :func:`borrow`: each array's struct with its meminfo and
    parent set to NULL (data, shape and strides unchanged)."""
    if not isinstance(arrays, types.BaseTuple) or not all(
            isinstance(t, types.Array) for t in arrays.types):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        [value] = args
        out = value
        for i, array_type in enumerate(signature.args[0].types):
            array = context.make_array(array_type)(context, builder,
                                                   value=builder.extract_value(value, i))
            array.meminfo = cgutils.get_null_value(array.meminfo.type)
            array.parent = cgutils.get_null_value(array.parent.type)
            out = builder.insert_value(out, array._getvalue(), i)
        return out

    return arrays(arrays), codegen


@overload(borrow)
def _borrow_compiled(arrays):  # type: ignore[no-untyped-def]  # numba matches these names
    def implementation(arrays):  # type: ignore[no-untyped-def]
        return _unowned(arrays)

    return implementation
