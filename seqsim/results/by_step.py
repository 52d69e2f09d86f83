"""Rows of a table grouped by sequence step, for the step table (:mod:`seqsim.results.steps`).

A pandas ``groupby`` on (sequence name, day_number) factorized the send log's
string column of millions of sends again for each figure of the step table,
and its masks copied the whole log. Here each row's step is found once, as
its index in the table's keys, and each step's rows are a slice of one stable
order (a radix sort of small integer codes): a figure is then a reduction
over a slice, the rows in their table order.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from seqsim.engine.tallies import group_mean, read_only

__all__ = ["StepGroups", "step_codes"]

#: Day numbers spanning more than this are looked up by hashing, not in a table.
_SPAN = 1 << 16


def step_codes(labels: np.ndarray | ExtensionArray, days: np.ndarray,
               keys: Sequence[tuple[Hashable, int]]) -> np.ndarray:
    """Return per row the index in ``keys`` of its (label, day), -1 when none (a
    missing label, or a pair not among the keys; a repeated key answers with
    its first index). ``labels``: a sequence's name or id per row."""
    days = np.asarray(days, dtype=np.int64)
    out = np.full(len(days), -1, dtype=np.int64)
    if not len(days) or not len(keys):
        return out
    label_codes, uniques = pd.factorize(labels)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo >= _SPAN:  # odd day numbers: hash the pairs instead
        wanted = pd.MultiIndex.from_tuples(list(dict.fromkeys(keys)))
        found = wanted.get_indexer(pd.MultiIndex.from_arrays([labels, days]))
        first = np.array([list(keys).index(k) for k in wanted], dtype=np.int64)
        return np.where(found >= 0, first[np.maximum(found, 0)], -1)
    position = {label: j for j, label in enumerate(uniques)}
    table = np.full((len(uniques), hi - lo + 1), -1, dtype=np.int64)
    for i, (label, day) in reversed(list(enumerate(keys))):  # the first index wins
        j = position.get(label)
        if j is not None and lo <= day <= hi:
            table[j, day - lo] = i
    known = label_codes >= 0
    out[known] = table[label_codes[known], days[known] - lo]
    return out


class StepGroups:
    """The rows of each of ``n`` steps, from per-row codes (-1: no step)."""

    def __init__(self, codes: np.ndarray, n: int) -> None:
        # int16 codes sort by radix (numpy's stable sort of small integers).
        small = codes.astype(np.int16) if n < 2**15 - 1 else codes.astype(np.int64)
        self._order = np.argsort(small, kind="stable")
        self._bounds = np.searchsorted(small[self._order], np.arange(n + 1), side="left")
        self.codes = codes
        self.n = n

    def rows(self, step: int) -> np.ndarray:
        """Return the positions of the rows of step ``step``, in row order."""
        return self._order[self._bounds[step]:self._bounds[step + 1]]

    def counts(self) -> np.ndarray:
        """Return each step's number of rows."""
        return np.diff(self._bounds)

    def values(self, column: np.ndarray) -> list[np.ndarray]:
        """Return each step's values of ``column`` (missing ones dropped)."""
        out = []
        for step in range(self.n):
            picked = column[self.rows(step)]
            out.append(picked[~pd.isna(picked)])
        return out

    def mean(self, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        """Return each step's mean of each column, missing values skipped (NaN for a
        step with none), one row a step: the compensated sum in row order that
        pandas' ``groupby().mean()`` makes of unsorted labels
        (:func:`~seqsim.engine.tallies.group_mean`)."""
        codes = read_only(np.ascontiguousarray(self.codes, dtype=np.int64))
        return pd.DataFrame({
            name: group_mean(codes, read_only(np.ascontiguousarray(values, dtype=np.float64)),
                             self.n)
            for name, values in columns.items()}, index=pd.RangeIndex(self.n))
