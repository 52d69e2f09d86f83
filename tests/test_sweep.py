"""seqsim.sweep and seqsim.summarize: grids, executors, common random numbers, intervals."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seqsim
from seqsim.analysis import sweep as sweep_module
from seqsim.analysis.journal import RUNS_FILE
from seqsim.analysis.summarize import t_interval
from tests.small_runs import backlog_scenario

#: A run of well under a tenth of a second: 12 hours of poisson enrolment (2 an
#: hour) into 4 steps a few hours apart, on tight devices with failed sends.
TINY = {
    "simulation.duration": "1d",
    "simulation.poll_interval": "5m",
    "workload.0.kind": "poisson",
    "workload.0.rate_per_hour": 2,
    "workload.0.end": "2025-07-01T12:00:00",
    "sequences.COLD.delay_hours": [0, 1, 2, 3],
}
GRID = {"capacity.devices": [1, 2],
        "sequences.COLD.delay_hours": [[0, 1, 2, 3], [0, 2, 2, 2], [0, 1, 1, 1]]}
SEEDS = 5


def tiny() -> seqsim.Scenario:
    return backlog_scenario(**TINY)


@cache
def serial_frame() -> pd.DataFrame:
    """The 2 x 3 grid x 5 seeds, in this process (shared by several tests)."""
    return seqsim.sweep(tiny(), GRID, seeds=SEEDS, workers=1, progress=False)


def same_runs(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns="wall_seconds"), b.drop(columns="wall_seconds"))


@pytest.mark.parametrize(("grid", "seeds", "message"), [
    ({"capacity.devicez": [1]}, 1, r"grid capacity\.devicez = 1: .*did you mean 'devices'"),
    ({"capacity.devices": []}, 1, r"grid\[capacity\.devices\]: \[\] is not valid"),
    ({"capacity.devices": 2}, 1, r"grid\[capacity\.devices\]: 2 is not valid; expected a "
                                  r"non-empty list"),
    ({"capacity.devices": [2, 0]}, 1, r"grid capacity\.devices: 0 is not valid; expected a "
                                      r"whole number of devices"),
    ({"capacity.devices": [2, 2]}, 1, r"grid\[capacity\.devices\]: 2 is not valid; expected "
                                      r"each value once"),
    ({"simulation.seed": [1, 2]}, 1, r"grid\[simulation\.seed\]: .*pass seeds="),
    ({"capacity.devices": [2]}, 0, r"seeds: 0 is not valid; expected an integer >= 1"),
    ({"capacity.devices": [2]}, [3, 3], r"seeds: \[3, 3\] is not valid; expected each seed once"),
    ({}, 1, r"grid: \{\} is not valid; expected a non-empty mapping"),
])
def test_a_bad_grid_fails_before_any_run(tmp_path: Path, grid: dict, seeds: object,
                                         message: str) -> None:
    with pytest.raises(seqsim.SeqsimError, match=message):
        seqsim.sweep(tiny(), grid, seeds=seeds, out=tmp_path / "sweep", progress=False)
    assert not (tmp_path / "sweep").exists()


def test_bad_executor_choices_are_one_clear_error() -> None:
    with pytest.raises(seqsim.SeqsimError, match=r"workers: 0 is not valid; expected an "
                                                 r"integer >= 1"):
        seqsim.sweep(tiny(), {"capacity.devices": [1]}, seeds=1, workers=0)
    with pytest.raises(seqsim.SeqsimError, match=r"workers: is not valid together with "
                                                 r"executor"):
        seqsim.sweep(tiny(), {"capacity.devices": [1]}, seeds=1, workers=2,
                     executor=ThreadPoolExecutor(1))
    with pytest.raises(seqsim.SeqsimError, match=r"executor: 'x' is not valid; expected a "
                                                 r"concurrent\.futures\.Executor"):
        seqsim.sweep(tiny(), {"capacity.devices": [1]}, seeds=1, executor="x")


def test_the_frame_is_tidy_one_row_per_run() -> None:
    frame = serial_frame()
    assert len(frame) == 2 * 3 * SEEDS and frame["run_id"].is_unique
    assert list(frame.columns[:4]) == ["run_id", "seed", *GRID]
    assert list(frame.columns[-2:]) == ["wall_seconds", "error"]
    assert frame["error"].isna().all() and (frame["wall_seconds"] > 0).all()
    assert list(frame["seed"][:SEEDS]) == list(range(42, 42 + SEEDS))
    assert frame["sequences.COLD.delay_hours"].iloc[0] == (0, 1, 2, 3)
    assert {"messages_sent", "lateness_p95_s", "step.COLD.1.sent",
            "step.COLD.4.lateness_p95_s"} <= set(frame.columns)
    steps = frame[[f"step.COLD.{i}.sent" for i in range(1, 5)]].sum(axis=1)
    assert (steps == frame["messages_sent"]).all()


def test_workers_and_a_dask_cluster_give_the_same_frame() -> None:
    distributed = pytest.importorskip("distributed")
    same_runs(serial_frame(), seqsim.sweep(tiny(), GRID, seeds=SEEDS, workers=2, progress=False))
    # In-process workers: runs take turns on the one virtual clock, the frame is the same.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        same_runs(serial_frame(), seqsim.sweep(tiny(), GRID, seeds=SEEDS, scheduler=client,
                                               progress=False))


def test_same_seed_same_arrivals_at_every_grid_point(tmp_path: Path) -> None:
    grid = {"capacity.devices": [1, 3], "capacity.failure_rate": [0.0, 0.3]}
    frame = seqsim.sweep(tiny(), grid, seeds=[7, 8], out=tmp_path, keep_results=True,
                         workers=1, progress=False)
    for seed, runs in frame.groupby("seed"):
        leads = [seqsim.load_result(tmp_path / "results" / rid).tables["leads"]
                 for rid in runs["run_id"]]
        arrivals = {tuple(map(tuple, lead[["phone", "created_at"]].to_numpy()))
                    for lead in leads}
        assert len(arrivals) == 1, f"seed {seed}: arrivals differ across grid points"
    one = [seqsim.load_result(tmp_path / "results" / rid).tables["leads"]["created_at"]
           for rid in frame.groupby("seed")["run_id"].first()]
    assert not one[0].equals(one[1])  # another seed, other arrivals


def test_out_resumes_skipping_finished_runs(tmp_path: Path) -> None:
    grid = {"capacity.devices": [1, 2]}
    first = seqsim.sweep(tiny(), grid, seeds=2, out=tmp_path, workers=1, progress=False)
    lines = (tmp_path / RUNS_FILE).read_text().splitlines()
    assert [json.loads(line)["run_id"] for line in lines] == list(first["run_id"])
    # A torn last line (killed mid-write) is dropped; the three whole runs are kept.
    (tmp_path / RUNS_FILE).write_text("\n".join(lines[:3]) + "\n" + lines[3][:20])
    calls: list[str] = []

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
            calls.append(args[0].run_id)
            return super().submit(fn, *args, **kwargs)

    with Counting(1) as pool:
        again = seqsim.sweep(tiny(), grid, seeds=2, out=tmp_path, executor=pool, progress=False)
    assert calls == [first["run_id"].iloc[3]]
    same_runs(first, again)



def test_a_failing_run_is_reported_in_its_row(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sweep_module.simulate

    def flaky(scenario: seqsim.Scenario, **kwargs: object) -> seqsim.Result:
        if scenario.capacity.devices == 1:
            raise MemoryError("out of memory")
        return real(scenario, **kwargs)

    monkeypatch.setattr(sweep_module, "simulate", flaky)
    frame = seqsim.sweep(tiny(), {"capacity.devices": [1, 2]}, seeds=1, workers=1,
                         progress=False)
    assert list(frame["error"]) == ["MemoryError: out of memory", None]
    assert np.isnan(frame["messages_sent"].iloc[0]) and frame["messages_sent"].iloc[1] > 0


def test_summarize_pairs_by_seed() -> None:
    frame = serial_frame()
    table = seqsim.summarize(frame, ["messages_sent", "lateness_p95_s"],
                             reference={"capacity.devices": 2})
    assert len(table) == 6 * 2 and list(table.columns[:2]) == list(GRID)
    row = table[(table["capacity.devices"] == 1) & (table["metric"] == "messages_sent")].iloc[0]
    mine = frame[(frame["capacity.devices"] == 1)
                 & (frame["sequences.COLD.delay_hours"] == row["sequences.COLD.delay_hours"])]
    ref = frame[(frame["capacity.devices"] == 2)
                & (frame["sequences.COLD.delay_hours"] == row["sequences.COLD.delay_hours"])]
    diffs = mine["messages_sent"].to_numpy() - ref["messages_sent"].to_numpy()
    assert row["n"] == row["diff_n"] == SEEDS
    assert row["mean"] == pytest.approx(mine["messages_sent"].mean())
    assert row["diff_mean"] == pytest.approx(diffs.mean())
    assert row["ci_low"] < row["mean"] < row["ci_high"]
    # Common random numbers: every point enrolled the same leads at each seed, so the
    # paired difference of the enrolment is exactly 0 where the counts themselves vary.
    enrolled = seqsim.summarize(frame, ["contacts_enrolled"])
    assert (enrolled["std"] > 0).all() and (enrolled["diff_mean"] == 0).all()
    assert (enrolled["diff_ci_low"] == 0).all() and (enrolled["diff_ci_high"] == 0).all()
    with pytest.raises(seqsim.SeqsimError, match=r"metrics: 'mesages_sent' is not valid; "
                                                 r"did you mean 'messages_sent'\?"):
        seqsim.summarize(frame, ["mesages_sent"])
    with pytest.raises(seqsim.SeqsimError, match=r"reference\[capacity\.devices\]: 9 is not "
                                                 r"valid; expected a value of the grid"):
        seqsim.summarize(frame, reference={"capacity.devices": 9})


def test_t_interval_uses_the_students_t_quantile_of_the_tables() -> None:
    """1..10 at 95%: t(0.975, 9) = 2.262157; two values at 90%: t(0.95, 1) = 6.313752."""
    n, mean, std, low, high = t_interval(range(1, 11))
    assert (n, mean) == (10, 5.5)
    assert (mean - low) * math.sqrt(n) / std == pytest.approx(2.262157, abs=1e-6)
    n, mean, std, low, high = t_interval([1, 2], confidence=0.9)
    assert (high - mean) * math.sqrt(n) / std == pytest.approx(6.313752, abs=1e-6)
    assert t_interval([3.0])[3] != t_interval([3.0])[3]  # one value: no interval (NaN)


def test_scipy_special_is_imported_by_the_first_interval_not_by_seqsim() -> None:
    """It took 0.15 s of every `import seqsim`; the CLI's runs never need it."""
    code = ("import sys, seqsim, seqsim.cli.main\n"
            "assert 'scipy.special' not in sys.modules\n"
            "from seqsim.analysis.summarize import t_interval\n"
            "t_interval([1.0, 2.0]); assert 'scipy.special' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_intervals_cover_a_known_mean_about_95_percent_of_the_time() -> None:
    """100 sweeps of 10 seeds of poisson counts with mean 24: about 95 intervals cover 24.

    The numbers are drawn, not simulated (1,000 runs would take over a minute);
    the enrolment count of a real sweep is checked against its known mean below.
    """
    rng = np.random.default_rng(2026)
    covered = 0
    for _ in range(100):
        frame = pd.DataFrame({"seed": range(10), "messages_sent": rng.poisson(24, 10)})
        row = seqsim.summarize(frame, ["messages_sent"]).iloc[0]
        covered += row["ci_low"] <= 24 <= row["ci_high"]
    assert 88 <= covered <= 100  # binomial(100, 0.95): outside this band 1 in 500
    # A real sweep: 2 leads an hour for 12 hours, 24 enrolled on average.
    row = seqsim.summarize(serial_frame(), ["contacts_enrolled"]).iloc[0]
    assert row["ci_low"] <= 24 <= row["ci_high"]


def test_plot_sweep_draws_means_with_interval_bars() -> None:
    frame = serial_frame()
    fig = seqsim.plot.sweep(frame, "lateness_p95_s", x="sequences.COLD.delay_hours")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["[0,1,2,3]", "[0,2,2,2]",
                                                          "[0,1,1,1]"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "capacity.devices=1", "capacity.devices=2"]
    table = seqsim.summarize(frame, ["lateness_p95_s"])
    first = table[table["capacity.devices"] == 1]["mean"].to_numpy()
    assert np.allclose(ax.lines[0].get_ydata(), first)
    with pytest.raises(seqsim.SeqsimError, match=r"x: 'seed' is not valid; expected one of"):
        seqsim.plot.sweep(frame, "lateness_p95_s", x="seed")
