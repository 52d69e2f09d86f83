"""seqsim.results.rows: finding rows by id without hashing."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsim.results.rows import distinct_count, marked, rows_of

IDS = st.one_of(
    st.integers(0, 30).map(lambda n: np.arange(1, n + 1)),  # the engines' 1..n
    st.lists(st.integers(-5, 40), max_size=30, unique=True).map(np.array),
)
# Ids far outside 1..n too: their int32 position would wrap.
WANTED = st.lists(st.one_of(st.integers(-5, 45), st.sampled_from([2**31, 2**32 + 3, -2**40])),
                  max_size=40).map(lambda v: np.array(v, dtype=np.int64))


@settings(max_examples=300, deadline=None)
@given(ids=IDS, wanted=WANTED)
def test_marked_and_rows_of_answer_as_numpy_does(ids: np.ndarray, wanted: np.ndarray) -> None:
    ids = ids.astype(np.int64)
    assert marked(ids, wanted).tolist() == np.isin(ids, wanted).tolist()
    where = rows_of(ids, wanted)
    for w, at in zip(wanted, where, strict=True):
        assert (ids[at] == w) if at >= 0 else w not in ids
    assert distinct_count(wanted) == len(np.unique(wanted))
