"""seqsim.checks.walk and seqsim.engine.pair_scan: the walk over each pair's rows
in day order that the timing, lost-contact and overlap checks read."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqsim import PolicyConfig
from seqsim.engine.pair_scan import TIMING, UNORDERED, scan_pairs
from seqsim.engine.rules import COMPLETED_STEP, Schedule
from seqsim.testing import check_contacts, max_active_rows
from tests.test_testing import STEPS, contacts

T0 = datetime(2025, 7, 1)
H = timedelta(hours=1)
DELAY = {1: 0, 3: 48, 6: 72}  # STEPS: COLD, days 1, 3, 6
POLICIES = [PolicyConfig(strategy=strategy, delay_from=delay_from)
            for strategy in ("one_by_one", "all_at_enrollment")
            for delay_from in ("next_step", "completed_step", "enrollment")]
NONE = np.zeros(0, dtype=np.int64)


def _differ(a, b) -> bool:
    return pd.isna(a) or pd.isna(b) or a != b


def _reference(frame: pd.DataFrame, policy: PolicyConfig) -> dict[str, list[int]]:
    """Return the ids of the rows each check flags, in (pair, day) order, by a literal
    walk: each pair's rows sorted by (day, table position), each against the one before."""
    schedule = Schedule.of(policy)
    found: dict[str, list[int]] = {"enrol": [], "early": [], "off": [], "lost": []}
    rows = frame.reset_index(drop=True)
    for _, pair in rows.groupby("contact_phone", sort=False):
        ordered = sorted(pair.index, key=lambda i: (rows.at[i, "current_step"], i))
        entry = rows.at[ordered[0], "created_at"]
        previous = None
        for i in ordered:
            row = rows.loc[i]
            if previous is not None and schedule.all_at_enrollment and _differ(
                    row["created_at"], entry):
                found["enrol"].append(row["id"])
            if row["current_step"] == 1:
                if _differ(row["next_trigger_time"], row["created_at"]):
                    found["early"].append(row["id"])
            elif previous is None:
                found["off"].append(row["id"])
            else:
                day = previous["current_step"] if schedule.delay_from == COMPLETED_STEP \
                    else row["current_step"]
                anchor = (previous["next_trigger_time"] if schedule.anchored
                          else previous["completed_at"])
                if (pd.isna(anchor) or _differ(row["next_trigger_time"], anchor + DELAY[day] * H)
                        or (not schedule.all_at_enrollment and pd.isna(previous["completed_at"]))):
                    found["off"].append(row["id"])
            previous = row
        if previous["status"] == "completed" and previous["current_step"] != 6:
            found["lost"].append(previous["id"])
    return found


# Instants a day apart over five days, so that a row is often exactly a step's
# delay (48 or 72 h) after another, and often not; NULL a quarter of the time.
_DAYS = st.integers(0, 4).map(lambda k: T0 + k * 24 * H)
_TIMES = st.sampled_from([None, 0, 1, 2]).flatmap(lambda k: st.none() if k is None else _DAYS)


@st.composite
def tables(draw: st.DrawFn) -> pd.DataFrame:
    """A small sequence_contacts table: a few contacts with a few rows each, any
    days, statuses and instants (NaT too), in any order."""
    rows = []
    for phone in range(draw(st.integers(1, 4))):
        for day in draw(st.lists(st.sampled_from([1, 3, 6]), min_size=1, max_size=3)):
            created = draw(_DAYS)
            rows.append((f"+{phone}", day, draw(st.sampled_from(["active", "completed", "failed"])),
                         created, draw(_TIMES), draw(_TIMES)))
    order = draw(st.permutations(range(len(rows))))
    frame = contacts(*(rows[i] for i in order))
    failed = draw(st.lists(_TIMES, min_size=len(frame), max_size=len(frame)))
    return frame.assign(failed_at=pd.to_datetime(pd.Series(failed, dtype=object)).astype(
        frame["completed_at"].dtype))


def _ids(problems: list[str], text: str) -> tuple[int, list[int]]:
    """Return the count and the example ids of the problem "<count> ``text``" (0, [])."""
    for problem in problems:
        if re.match(rf"\d+ {text}", problem):
            count = int(problem.split(" ", 1)[0])
            return count, [int(i) for i in re.findall(r"\bid=(\d+)", problem)]
    return 0, []


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.strategy}-{p.delay_from}")
@settings(max_examples=100, deadline=None)
@given(frame=tables())
def test_checks_flag_what_a_literal_walk_flags(policy: PolicyConfig, frame: pd.DataFrame) -> None:
    checks = check_contacts(frame, STEPS, policy=policy)
    want = _reference(frame, policy)
    for key, text in (("enrol", "rows were not created with"), ("early", "entry rows are not due"),
                      ("off", "rows are not due at")):
        count, ids = _ids(checks.problems, text)
        assert (count, ids) == (len(want[key]), want[key][:3]), (key, checks.problems)
    assert checks.lost == len(want["lost"])
    assert _ids(checks.problems, "contacts are lost")[0] == len(want["lost"])
    # Rows that never overlap count as 1 without the sweep (which says 0 when every
    # row ended as it was created).
    assert checks.max_active_rows in {1, max_active_rows(frame)}
    if checks.max_active_rows == 1:
        assert max_active_rows(frame) <= 1


def _walk(day: list[int], created: list[int]) -> tuple:
    n = len(day)
    ints = np.array
    return scan_pairs(NONE, np.zeros(n, dtype=np.int64), 1, np.zeros(n, dtype=np.int64),
                      ints(day, dtype=np.int64), ints(created, dtype=np.int64),
                      ints(created, dtype=np.int64) + 1, np.zeros(n, dtype=np.int64),
                      ints(created, dtype=np.int64), np.ones(1, dtype=np.bool_),
                      np.zeros(1, dtype=np.int64), TIMING, NONE)


def test_scan_stops_when_a_pair_is_not_in_day_order() -> None:
    assert _walk([1, 3, 3, 6], [0, 1, 2, 3])[0] == 0
    assert _walk([1, 6, 3], [0, 1, 2])[0] == UNORDERED


def test_scan_reports_each_pairs_last_row_and_overlap() -> None:
    status, flags, last, overlap = _walk([1, 3], [0, 1])
    assert (status, list(flags), list(last), overlap) == (0, [0, 0], [1], False)
    assert _walk([1, 3], [5, 1])[3]  # the second row was created before the first ended


def test_nanosecond_columns_keep_their_precision() -> None:
    table = contacts(("+1", 1, "completed", T0, T0, T0 + H),
                     ("+1", 3, "active", T0 + H, T0 + 49 * H, None))
    assert check_contacts(table, STEPS).problems == []
    fine = table.astype({"next_trigger_time": "datetime64[ns]"})
    fine.loc[1, "next_trigger_time"] += pd.Timedelta(1, "ns")
    problems = check_contacts(fine, STEPS).problems
    assert len(problems) == 1 and problems[0].startswith("1 rows are not due at"), problems


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.strategy}-{p.delay_from}")
def test_a_table_out_of_order_is_checked_like_one_in_order(policy: PolicyConfig) -> None:
    table = contacts(("+1", 1, "completed", T0, T0, T0 + H),
                     ("+2", 1, "completed", T0, T0, T0 + H),
                     ("+1", 3, "active", T0 + H, T0 + 7 * H, None))
    reordered = table.iloc[[2, 0, 1]]
    assert check_contacts(reordered, STEPS, policy=policy).problems == check_contacts(
        table, STEPS, policy=policy).problems
