"""seqsim.engine.send_scan: the send log's designed_at, early, lateness_s and
drift_hours columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsim.engine.kernel_layout import NONE as NAT
from seqsim.engine.send_scan import HUGE, MIXED, enrolments, send_columns

# Two sequences: A (3 steps, plan rows 0-2) and B (2 steps, plan rows 3-4).
SEQUENCE = np.array([0, 0, 0, 1, 1])
FIRST = np.array([True, False, False, True, False])
RANK = np.array([0, 1, 2, 0, 1])
DELAY = np.array([0, 48, 72, 0, 24]) * 3_600
OFFSET = np.array([0, 48, 120, 0, 24]) * 3_600
PLAN = np.column_stack([SEQUENCE, OFFSET, DELAY, FIRST]).astype(np.int64)
TIMES = st.one_of(st.just(NAT), st.integers(0, 4).map(lambda k: k * 24 * 3_600))


@st.composite
def sends(draw: st.DrawFn) -> dict:
    """Pairs each in one sequence, their entry rows, and sends of their steps (some
    of unknown pair or step), sent or not, at a few instants a day apart."""
    n_pairs = draw(st.integers(1, 3))
    sequence_of = draw(st.lists(st.integers(0, 1), min_size=n_pairs, max_size=n_pairs))
    rows = draw(st.lists(st.tuples(st.integers(0, n_pairs - 1), TIMES, st.booleans()),
                         max_size=8))
    pair, step, sent, sent_at, due_at = [], [], [], [], []
    for _ in range(draw(st.integers(0, 16))):
        p = draw(st.integers(-1, n_pairs - 1))
        steps = np.flatnonzero(sequence_of[max(p, 0)] == SEQUENCE).tolist()
        pair.append(p)
        step.append(draw(st.sampled_from([-1, *steps])))
        sent.append(draw(st.booleans()))
        sent_at.append(draw(TIMES))
        due_at.append(draw(st.one_of(st.just(NAT), st.integers(-10**12, 10**12))))
    return {"n_pairs": n_pairs, "sequence_of": sequence_of, "rows": rows, "pair": pair,
            "step": step, "sent": sent, "sent_at": sent_at, "due_at": due_at}


def _reference(case: dict) -> tuple[list[int], list[bool]]:
    """designed_at and early by their definitions, with dictionaries."""
    enrolled: dict[int, int] = {}
    for p, created, entry in case["rows"]:
        if entry and created != NAT:
            enrolled[p] = min(enrolled.get(p, created), created)
    first_sent: dict[tuple[int, int], int] = {}
    for p, s, ok, at in zip(case["pair"], case["step"], case["sent"], case["sent_at"],
                            strict=True):
        if ok and p >= 0 and s >= 0 and at != NAT:
            first_sent[p, s] = min(first_sent.get((p, s), at), at)
    designed, early = [], []
    for p, s, ok, at in zip(case["pair"], case["step"], case["sent"], case["sent_at"],
                            strict=True):
        known = p >= 0 and s >= 0
        designed.append(enrolled[p] + OFFSET[s] if known and p in enrolled else NAT)
        before = first_sent.get((p, s - 1)) if known and not FIRST[s] else None
        early.append(bool(ok and before is not None and at != NAT and at < before + DELAY[s]))
    return designed, early


def _instants(micros: list[int]) -> pd.Series:
    return pd.Series(np.array(micros, dtype=np.int64).view("datetime64[us]"))


def _run(case: dict, sequence_of: list[int], rank: np.ndarray, depth: int) -> tuple:
    rows = np.array(case["rows"], dtype=np.int64).reshape(-1, 3)
    enrolled = enrolments(rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].astype(bool),
                          case["n_pairs"])
    # Rows are the pairs themselves here: row p is pair p, of sequence_of[p].
    return send_columns(
        np.array(case["pair"], dtype=np.int64), np.array(case["step"], dtype=np.int64),
        np.array(case["sent"], dtype=bool), np.array(case["sent_at"], dtype=np.int64),
        np.array(case["due_at"], dtype=np.int64), np.arange(case["n_pairs"]),
        np.array(sequence_of, dtype=np.int64), enrolled, PLAN, rank, depth)


@settings(max_examples=300, deadline=None)
@given(case=sends(), by_rank=st.booleans())
def test_send_columns_follow_their_definitions(case: dict, by_rank: bool) -> None:
    # Keyed by the step's place in its sequence (pairs of one sequence each), or by
    # its place in the plan: the same answers.
    rank, depth = (RANK, 3) if by_rank else (np.arange(5), 5)
    status, designed, early, lateness, drift = _run(case, case["sequence_of"], rank, depth)
    want_designed, want_early = _reference(case)
    assert status == 0
    assert designed.tolist() == want_designed
    assert early.tolist() == want_early
    # As pandas and NumPy compute them, to the last bit.
    sent_at, due_at = _instants(case["sent_at"]), _instants(case["due_at"])
    want_lateness = (sent_at - due_at).dt.total_seconds().to_numpy()
    want_drift = (sent_at.to_numpy() - designed.view("datetime64[us]")) / np.timedelta64(1, "h")
    np.testing.assert_array_equal(lateness, want_lateness)
    np.testing.assert_array_equal(drift, want_drift)


def test_a_step_of_another_sequence_is_reported() -> None:
    case = {"n_pairs": 1, "rows": [(0, 0, True)], "pair": [0, 0], "step": [0, 3],
            "sent": [True, True], "sent_at": [0, 0], "due_at": [0, 0]}
    assert _run(case, [0], RANK, 3)[0] == MIXED
    assert _run(case, [1], RANK, 3)[0] == MIXED
    status, _, early, _, _ = _run(case, [0], np.arange(5), 5)  # each plan step its own key
    assert status == 0 and early.tolist() == [False, False]
    case["step"] = [0, 1]
    assert _run(case, [0], RANK, 3)[0] == 0


def test_a_lateness_past_2_53_microseconds_is_reported() -> None:
    case = {"n_pairs": 1, "rows": [], "pair": [0], "step": [0], "sent": [True],
            "sent_at": [2**53 + 7], "due_at": [0]}
    assert _run(case, [0], RANK, 3)[0] == HUGE
    case["sent_at"] = [2**53]
    assert _run(case, [0], RANK, 3)[0] == 0
