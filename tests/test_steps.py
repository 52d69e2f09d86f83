"""Per-step tables, finish times and what a run too short for its arrivals left unsent."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seqsim
from seqsim.analysis.steps import format_step_comparison, format_steps, unfinished_warning
from seqsim.cli.main import main
from seqsim.errors import SeqsimError
from seqsim.results.sends import STEP_SEND_COLUMNS
from seqsim.results.steps import STEP_COLUMNS, queued_at, unsent_at_end
from tests.small_runs import SCENARIOS, backlog_run, backlog_scenario, calm_run

END = datetime(2025, 7, 6)


def _contacts(rows: list[tuple[int, str, datetime]]) -> pd.DataFrame:
    return pd.DataFrame({
        "id": [r[0] for r in rows],
        "sequence_id": 1,
        "current_step": [1 + i for i in range(len(rows))],
        "status": [r[1] for r in rows],
        "next_trigger_time": pd.to_datetime([r[2] for r in rows]).astype("datetime64[us]"),
    })


def _messages(rows: list[tuple[int, datetime, datetime | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame({
        "sequence_contact_id": [r[0] for r in rows],
        "queued_at": pd.to_datetime([r[1] for r in rows]).astype("datetime64[us]"),
        "sent_at": pd.to_datetime([r[2] for r in rows]).astype("datetime64[us]"),
        "outcome": pd.Series([r[3] for r in rows], dtype=object),
    })


def test_unsent_rows_split_into_waiting_and_queued_with_their_wait_so_far() -> None:
    contacts = _contacts([
        (1, "active", END - timedelta(hours=2)),      # waiting for 2 h
        (2, "active", END - timedelta(hours=1)),      # its message sits on a device
        (3, "active", END + timedelta(hours=1)),      # not due yet: not unsent
        (4, "completed", END - timedelta(hours=5)),   # done
    ])
    messages = _messages([(2, END - timedelta(minutes=1), None, None),
                          (4, END - timedelta(hours=5), END - timedelta(hours=5), "sent")])
    unsent = unsent_at_end(contacts, messages, END)
    assert (unsent.waiting, unsent.queued) == (1, 1)
    summary = unsent.summary()
    assert summary["unsent_due_at_end"] == 2
    assert summary["unsent_wait_lower_bound_s_p50"] == 5400.0
    assert summary["unsent_wait_lower_bound_s_max"] == 7200.0
    assert summary["lateness_includes_unsent"] is False
    assert unsent_at_end(contacts, messages, None).summary()["unsent_due_at_end"] == 0


def test_queued_at_counts_messages_on_devices_after_a_poll() -> None:
    t = END - timedelta(hours=1)
    messages = _messages([
        (1, t - timedelta(seconds=5), t + timedelta(seconds=3), "sent"),  # on the device at t
        (2, t, t, "sent"),                                                # left at t
        (3, t - timedelta(seconds=1), None, None),                        # never delivered
        (4, t + timedelta(seconds=1), t + timedelta(seconds=9), "sent"),  # queued later
    ])
    assert queued_at(messages, t) == 2
    assert queued_at(messages, None) == 0


def test_a_too_short_run_counts_unsent_rows_and_their_wait_is_a_lower_bound() -> None:
    short = backlog_run(2)
    end = short.scenario.simulation.end
    summary = short.summary
    contacts = short.contacts
    due = contacts[(contacts["status"] == "active") & (contacts["next_trigger_time"] < end)]
    assert summary["unsent_due_at_end"] == len(due) > 0
    assert summary["unsent_waiting_at_end"] + summary["unsent_queued_at_end"] == len(due)
    wait = (pd.Timestamp(end) - due["next_trigger_time"]).dt.total_seconds()
    assert summary["unsent_wait_lower_bound_s_max"] == pytest.approx(wait.max())
    # The same run, longer: the first five days are identical, so every row left
    # unsent is sent later, no sooner than its wait so far says.
    longer = seqsim.simulate(backlog_scenario(**{"simulation.duration": "9d"}), progress=False)
    sends = longer.sends[longer.sends["outcome"] == "sent"].set_index(
        ["contact_phone", "day_number"])["lateness_s"]
    later = sends.reindex(list(zip(due["contact_phone"], due["current_step"], strict=True)))
    assert later.notna().all()
    assert (later.to_numpy() >= wait.to_numpy()).all()


def test_steps_add_up_to_the_summary_and_match_the_sends() -> None:
    res = backlog_run(2)
    steps = res.steps
    assert list(steps.columns) == list(STEP_COLUMNS)
    assert list(steps["day_number"]) == [1, 2, 3, 4]
    assert steps["sent"].sum() == res.summary["messages_sent"]
    assert steps["failed"].sum() == res.summary["messages_failed"]
    assert steps["waiting_at_end"].sum() == res.summary["unsent_waiting_at_end"]
    assert steps["queued_at_end"].sum() == res.summary["unsent_queued_at_end"]
    day2 = res.sends[(res.sends["outcome"] == "sent") & (res.sends["day_number"] == 2)]
    row = steps.set_index("day_number").loc[2]
    assert row["lateness_p95_s"] == pytest.approx(np.quantile(day2["lateness_s"], 0.95))
    assert row["last_sent_at"] == day2["sent_at"].max()
    last = steps.set_index("day_number").loc[4, "last_completed_at"]
    hours = (last - pd.Timestamp(res.scenario.simulation.start)) / pd.Timedelta(hours=1)
    assert res.summary["last_contact_finished_hours"] == pytest.approx(hours)


# Sends reordered by pacing, failures and retries, windows, outage catch-up, stuck
# claims, duplicate sends of two pollers, chains.
STEP_CASES = ["policies/business_hours.toml", "policies/catch_up_reschedule.toml",
              "faults/stuck_claims.toml", "faults/dual_poller.toml", "chained.toml",
              "backlog.toml"]


@pytest.mark.parametrize("name", STEP_CASES)
def test_a_fresh_runs_step_table_needs_only_the_logs_columns_it_reads(name: str) -> None:
    scenario = seqsim.Scenario.from_toml(SCENARIOS / name)
    if name == "backlog.toml":
        scenario = backlog_scenario()
    res = seqsim.simulate(scenario, progress=False)
    fresh = res.steps  # from the send log's columns alone: the log is not built
    assert "sends" not in res.__dict__
    columns = res._stored.step_sends()
    log = res.sends
    assert list(columns.columns) == list(STEP_SEND_COLUMNS)
    for column in STEP_SEND_COLUMNS:
        got, expected = columns[column], log[column]
        if isinstance(got.dtype, pd.CategoricalDtype):  # the log's are str
            assert got.astype(object).tolist() == expected.astype(object).tolist(), column
        else:
            pd.testing.assert_series_equal(got, expected, check_exact=True, check_names=False)
    # Once the log is built the step table reads it: the same table.
    pd.testing.assert_frame_equal(res.steps, fresh, check_exact=True)


def test_step_comparison_diffs_to_the_first_run() -> None:
    runs = {"2 devices": backlog_run(2), "4 devices": calm_run()}
    frame = seqsim.compare(runs, by="step")
    assert frame.index.names == ["result", "sequence", "day_number"]
    assert (frame.loc["2 devices", "sent_diff"] == 0).all()
    two, four = frame.loc["2 devices"], frame.loc["4 devices"]
    assert (four["sent_diff"] == four["sent"] - two["sent"]).all()
    assert "_diff" not in "".join(seqsim.compare(runs, by="step", diffs=False).columns)
    text = format_step_comparison(frame)
    assert "steps: 2 devices" in text and "steps: 4 devices" in text
    # two delay designs: each step is compared with the step in the same position
    spaced = seqsim.simulate(backlog_scenario(**{"sequences.COLD.days": [1, 3, 5, 7]}),
                             progress=False)
    by_position = seqsim.compare({"a": backlog_run(2), "b": spaced}, by="step").loc["b"]
    assert list(by_position.index.get_level_values("day_number")) == [1, 3, 5, 7]
    first = backlog_run(2).steps["sent"].to_numpy()
    assert (by_position["sent_diff"].to_numpy() == by_position["sent"].to_numpy() - first).all()
    with pytest.raises(SeqsimError, match=r"by: 'day' is not valid; expected 'run' or 'step'"):
        seqsim.compare(runs, by="day")


def test_step_tables_show_later_wait_columns_without_changes() -> None:
    steps = backlog_run(2).steps.assign(wait_window_s=3600.0)
    assert "window wait" in format_steps(steps).splitlines()[0]


def test_warning_names_what_was_left_and_a_finished_run_has_none() -> None:
    text = unfinished_warning(backlog_run(2))
    assert text is not None
    assert f"{backlog_run(2).summary['unsent_due_at_end']:,} rows due but unsent" in text
    assert "lower bounds" in text
    finished = seqsim.simulate(backlog_scenario(**{"capacity.devices": 4,
                                                   "capacity.hourly_limit": 80,
                                                   "capacity.daily_limit": 800,
                                                   "simulation.duration": "7d"}),
                               progress=False)
    assert finished.summary["contacts_active"] == 0
    assert unfinished_warning(finished) is None


def test_run_warns_on_stderr_and_prints_steps(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    sets = [f"--set={k}={v}" for k, v in {
        "simulation.duration": "5d", "workload.0.rate_per_hour": 4,
        "workload.0.end": "2025-07-03T00:00:00", "sequences.COLD.days": "[1, 2, 3, 4]",
        "capacity.hourly_limit": 6, "capacity.daily_limit": 60}.items()]
    assert main(["run", str(SCENARIOS / "backlog.toml"), "--no-progress", *sets]) == 0
    out, err = capsys.readouterr()
    assert "COLD day 4" in out and "waiting at end" in out
    assert err.startswith("seqsim: warning: the run ended with work left: ")
    assert "rows due but unsent" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"seqsim {seqsim.__version__}"
