"""A sharded run against the single run: 1 process, 2 shards on a local pool, 2 shards on Dask.

Run ``python benchmarks/shard_bench.py [--workload volume] [--scale 0.25]``
(needs ``seqsim[dask]``). The same scenario (a workload of ``bench.py``) runs
in this process, split into 2 shards on a local pool of 2 processes, and into
2 shards on a Dask ``LocalCluster`` of 2 worker processes (one thread each)
started here, and on a local pool already warm (its workers have imported
seqsim and loaded the compiled engine); each prints its wall time, peak RSS
of this process (the merge happens here) and speed-up over the single run,
and the sharded tables are checked identical to the single run's. Pool and cluster start-up are
included: that is what a planner waits for. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import resource
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from pandas.testing import assert_frame_equal

import seqsim
from seqsim.run.clock import real_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import WORKLOADS, scaled  # the workloads live beside this file


def _timed(label: str, run: Callable[[], seqsim.Result], base: float | None) -> tuple:
    start = real_seconds()
    result = run()
    wall = real_seconds() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ratio = "" if base is None else f"  {base / wall:.2f}x the single run"
    print(f"{label:<28} {wall:8.1f} s  {result.summary['messages_sent']:>11,} sent  "
          f"peak {rss:7,.0f} MiB{ratio}", flush=True)
    return result, wall


def _same(one: seqsim.Result, other: seqsim.Result) -> None:
    for name, frame in one.tables.items():
        assert_frame_equal(frame, other.tables[name], obj=name)
    assert_frame_equal(one.sends, other.sends, obj="sends")
    assert one.summary == other.summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="volume")
    parser.add_argument("--scale", type=float, default=0.25, help="contacts x this")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    scenario = seqsim.Scenario.from_dict(scaled(args.workload, args.scale))
    print(f"{args.workload} x {args.scale}: {platform.python_version()}, "
          f"{platform.machine()}; wall includes pool/cluster start-up")
    seqsim.simulate(scenario, progress=False, shards=1)  # compiled and cached first
    one, base = _timed("1 process", lambda: seqsim.simulate(scenario, progress=False), None)
    pooled, _ = _timed("2 shards, local pool", lambda: seqsim.simulate(
        scenario, progress=False, shards=2), base)
    _same(one, pooled)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        seqsim.simulate(scenario, progress=False, shards=2, executor=pool)  # warm workers
        warm, _ = _timed("2 shards, warm local pool", lambda: seqsim.simulate(
            scenario, progress=False, shards=2, executor=pool), base)
    _same(one, warm)

    def on_dask() -> seqsim.Result:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None) as cluster, \
                Client(cluster) as client:
            return seqsim.simulate(scenario, progress=False, shards=2,
                                   executor=client.get_executor(pure=False))

    dask, _ = _timed("2 shards, Dask LocalCluster", on_dask, base)
    _same(one, dask)
    print("sharded tables identical to the single run's")


if __name__ == "__main__":
    main()
