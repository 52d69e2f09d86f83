"""Hypothesis strategies shared by the engine property tests."""

from __future__ import annotations

import hypothesis.strategies as st


@st.composite
def day_numbers(draw: st.DrawFn, *, max_steps: int, max_gap: int, max_first: int) -> list[int]:
    """Strictly increasing day numbers, not necessarily consecutive (1, 3, 6, 9...)."""
    steps = draw(st.integers(1, max_steps))
    gaps = draw(st.lists(st.integers(1, max_gap), min_size=steps - 1, max_size=steps - 1))
    first = draw(st.integers(0, max_first))
    return [first + sum(gaps[:k]) for k in range(steps)]
