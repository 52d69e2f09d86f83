"""Speed-up of a sweep on more workers: 1 worker, 2 local processes, a 2-worker Dask cluster.

Run ``python benchmarks/sweep_bench.py [--runs 100]`` (needs ``seqsim[dask]``).
The same sweep (a small backlog scenario, 4 grid points x runs/4 seeds) runs
three times: in this process, on a local pool of 2 processes, and on a Dask
``LocalCluster`` of 2 worker processes (one thread each) started here; each
prints its wall time, runs per second and speed-up over the 1-worker run, and
the frames are checked identical (wall time aside). Pool and cluster start-up
are included: that is what a planner waits for. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable
from pathlib import Path

import pandas as pd

import seqsim
from seqsim.run.clock import real_seconds

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "scenarios" / "backlog.toml"
#: Two days of enrolment at 4 an hour into days 1,2,3,4 on tight devices: ~0.2 s a run.
OVERRIDES = {
    "simulation.duration": "5d",
    "workload.0.kind": "poisson",
    "workload.0.rate_per_hour": 4,
    "workload.0.end": "2025-07-03T00:00:00",
    "sequences.COLD.days": [1, 2, 3, 4],
    "capacity.hourly_limit": 6,
    "capacity.daily_limit": 60,
}
GRID = {"capacity.devices": [2, 3], "sequences.COLD.delay_hours": [[0, 24, 24, 24],
                                                                   [0, 12, 12, 12]]}


def timed(run: Callable[[], pd.DataFrame]) -> tuple[float, pd.DataFrame]:
    start = real_seconds()
    frame = run()
    return real_seconds() - start, frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs per sweep (default 100)")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    base = seqsim.Scenario.from_toml(SCENARIO).with_overrides(OVERRIDES)
    seeds = max(1, args.runs // 4)

    def on_cluster() -> pd.DataFrame:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            return seqsim.sweep(base, GRID, seeds=seeds, scheduler=client, progress=False)

    cases = {
        "1 worker (in process)": lambda: seqsim.sweep(base, GRID, seeds=seeds, workers=1,
                                                      progress=False),
        "2 worker processes": lambda: seqsim.sweep(base, GRID, seeds=seeds, workers=2,
                                                   progress=False),
        "Dask LocalCluster, 2 workers": on_cluster,
    }
    print(f"{4 * seeds} runs of a small backlog scenario; {platform.python_version()}, "
          f"{platform.machine()}")
    print(f"{'executor':<30} {'wall s':>8} {'runs/s':>8} {'speed-up':>9}")
    reference = None
    for label, run in cases.items():
        seconds, frame = timed(run)
        if reference is None:
            reference = (seconds, frame)
        pd.testing.assert_frame_equal(reference[1].drop(columns="wall_seconds"),
                                      frame.drop(columns="wall_seconds"))
        print(f"{label:<30} {seconds:>8.2f} {len(frame) / seconds:>8.1f} "
              f"{reference[0] / seconds:>8.2f}x")
    print("frames identical (wall time aside)")


if __name__ == "__main__":
    main()
