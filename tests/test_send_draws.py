"""The keyed sending draws: one function, the same floats everywhere, per lead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numba import njit

import seqsim
from seqsim.engine.poll import LEAD_KEY, lead_keys
from seqsim.engine.rules import FAIL_DRAW, GAP_DRAW, send_draw, send_seed
from seqsim.run import engines as engines_module

SEED = send_seed(42)


@njit(cache=False)
def _compiled(s0: int, s1: int, keys: np.ndarray, counters: np.ndarray,
              purposes: np.ndarray) -> np.ndarray:
    out = np.empty(keys.shape[0], dtype=np.float64)
    for i in range(keys.shape[0]):
        out[i] = send_draw(s0, s1, keys[i], counters[i], purposes[i])
    return out


def _inputs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2**63 - 1, n, dtype=np.int64)
    keys[: n // 2] = rng.integers(0, 1000, n // 2)
    counters = rng.integers(0, 2**40, n, dtype=np.int64)
    counters[: n // 2] = rng.integers(0, 30, n // 2)
    return keys, counters, rng.integers(0, 2, n, dtype=np.int64)


def test_the_seed_words_and_draws_are_pinned() -> None:
    assert SEED == (4091952314, 31242083)
    assert [send_draw(*SEED, 0, 0, FAIL_DRAW), send_draw(*SEED, 0, 0, GAP_DRAW),
            send_draw(*SEED, 1, 0, FAIL_DRAW), send_draw(*SEED, 0, 1, FAIL_DRAW)] == [
        0.6071322451387997, 0.09597450856757372, 0.04745199259772759, 0.8425720395890519]


def test_python_numpy_scalars_and_compiled_give_identical_floats() -> None:
    keys, counters, purposes = _inputs(4000)
    compiled = _compiled(*SEED, keys, counters, purposes)
    plain = [send_draw(*SEED, int(k), int(c), int(p))
             for k, c, p in zip(keys, counters, purposes, strict=True)]
    scalars = [send_draw(np.int64(SEED[0]), np.int64(SEED[1]), k, c, p)
               for k, c, p in zip(keys, counters, purposes, strict=True)]
    assert compiled.tolist() == plain == [float(u) for u in scalars]


def test_draws_look_uniform_and_do_not_repeat_across_counters() -> None:
    n = 100_000
    keys, counters = np.arange(n) % 1000, np.arange(n) // 1000
    for purpose in (FAIL_DRAW, GAP_DRAW):
        u = _compiled(*SEED, keys, counters, np.full(n, purpose))
        assert u.min() >= 0.0 and u.max() < 1.0
        assert abs(u.mean() - 0.5) < 0.005
        assert abs(np.mean(u < 0.3) - 0.3) < 0.005
        assert len(np.unique(u)) == n
    fail = _compiled(*SEED, keys, counters, np.zeros(n, dtype=np.int64))
    gap = _compiled(*SEED, keys, counters, np.ones(n, dtype=np.int64))
    assert abs(np.corrcoef(fail, gap)[0, 1]) < 0.01
    other = _compiled(*send_seed(43), keys, counters, np.zeros(n, dtype=np.int64))
    assert abs(np.corrcoef(fail, other)[0, 1]) < 0.01


def test_lead_keys_are_first_arrival_order_or_the_given_column() -> None:
    frame = pd.DataFrame({"phone": ["+b", "+a", "+b", "+c"]})
    assert lead_keys(frame).tolist() == [0, 1, 0, 2]
    shard = frame.iloc[[1, 3]].assign(**{LEAD_KEY: [1, 2]})
    assert lead_keys(shard).tolist() == [1, 2]


def _per_lead(res: seqsim.Result) -> dict[str, list[tuple]]:
    """Return each lead's sends in its order: (sequence, day, attempt, outcome)."""
    sends = res.sends.sort_values(["contact_phone", "sent_at"], kind="stable")
    out: dict[str, list[tuple]] = {}
    for r in sends.itertuples():
        out.setdefault(r.contact_phone, []).append((r.sequence, r.day_number, r.attempt,
                                                   r.outcome))
    return out


def test_a_message_draws_the_same_whatever_the_capacity() -> None:
    """Common random numbers: each lead's k-th message fails or not alike when only
    the capacity changes (every message is sent within the run in both)."""
    base = seqsim.Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "6d", "seed": 5},
        "sequences": [{"name": "S", "trigger": "s", "days": [1, 2, 3]}],
        "workload": [{"kind": "poisson", "trigger": "s", "rate_per_hour": 4,
                      "end": "2025-07-01T12:00:00"}],
        "capacity": {"devices": 2, "failure_rate": 0.3, "max_retries": 2,
                     "hourly_limit": 0, "daily_limit": 0},
    })
    tight = base.with_overrides({"capacity.hourly_limit": 2})
    for engine in ("batch", "row"):
        a = seqsim.simulate(base, engine=engine, progress=False)
        b = seqsim.simulate(tight, engine=engine, progress=False)
        assert a.summary["unsent_due_at_end"] == b.summary["unsent_due_at_end"] == 0
        assert a.summary["messages_failed"] > 0
        assert _per_lead(a) == _per_lead(b)


def test_a_shard_of_the_leads_keeps_their_global_keys_and_sends_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue #13's shard: the leads of one device, run alone with their keys, send
    exactly what they send in the whole run (devices share nothing else here)."""
    scn = seqsim.Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "3d", "seed": 11},
        "sequences": [{"name": "S", "trigger": "s", "days": [1, 2, 3],
                       "min_delay_seconds": 30, "max_delay_seconds": 90}],
        "workload": [{"kind": "poisson", "trigger": "s", "rate_per_hour": 30,
                      "end": "2025-07-01T06:00:00"}],
        "capacity": {"devices": 2, "failure_rate": 0.3, "max_retries": 1,
                     "hourly_limit": 20},
    })
    real = engines_module.generate_arrival_codes

    def shard(*args: object) -> pd.DataFrame:
        frame = real(*args).frame()
        frame = frame.assign(**{LEAD_KEY: lead_keys(frame)})
        return frame[frame["device_id"] == "dev-001"].reset_index(drop=True)

    columns = ["contact_phone", "day_number", "due_at", "sent_at", "outcome", "attempt"]
    for engine in ("batch", "row"):
        whole = seqsim.simulate(scn, engine=engine, progress=False).sends
        whole = whole[whole["device_id"] == "dev-001"][columns].reset_index(drop=True)
        with monkeypatch.context() as m:
            m.setattr(engines_module, "generate_arrival_codes", shard)
            part = seqsim.simulate(scn, engine=engine, progress=False).sends[columns]
        assert (whole["outcome"] == "failed").any() and len(whole) > 50
        pd.testing.assert_frame_equal(part.reset_index(drop=True), whole)
