"""Pandas ``str`` columns from integer codes, built in Arrow.

A million-row column of names (phones, devices, triggers, zones) made from
codes costs one Arrow take, with no Python string per row; made from a
categorical, it reads the categorical's codes. The arrivals, the compiled
engine's tables and the send log build their string columns here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["arrow_names", "from_codes", "plain_strings"]


def arrow_names(names: Sequence[str] | np.ndarray | pd.Index) -> pa.Array:
    """Return ``names`` as an Arrow string array (to look codes up in more than once)."""
    return pa.array(list(names), pa.large_string())


def from_codes(codes: np.ndarray, names: pa.Array | Sequence[str] | np.ndarray
               ) -> pd.api.extensions.ExtensionArray:
    """Return ``names[codes]`` as a pandas ``str`` array, missing where a code is
    negative. ``names``: an :func:`arrow_names` array, or the names themselves."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        codes = codes.astype(np.int64)
    missing = codes < 0
    arrow = names if isinstance(names, pa.Array) else arrow_names(names)
    picked = pc.take(arrow, pa.array(codes, mask=missing if missing.any() else None))
    return pd.array(picked, dtype="str")


def plain_strings(column: pd.Series, order: np.ndarray | None = None
                  ) -> pd.api.extensions.ExtensionArray:
    """Return a column of names as a pandas ``str`` array: a categorical's codes
    looked up in its categories, any other column's values as they are; with
    ``order`` (positions), its values at those positions (a categorical's codes
    are reordered, not its strings)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        return from_codes(codes if order is None else codes.take(order),
                          column.cat.categories)
    return column.array if order is None else column.array.take(order)
