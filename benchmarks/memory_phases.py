"""Where a workload's run holds its memory, phase by phase.

`python benchmarks/memory_phases.py [volume] [--scale 1.0] [--every 0.003]`

Runs the workload (a workload of ``bench.py``) once through
``seqsim.simulate`` in this process, after a ten-lead run has loaded the
engine, while a thread reads the process's resident set (``/proc/self/statm``)
every ``--every`` seconds. The run's phases are marked by wrapping the
functions that make them (arrivals, world, state, the polls, the engine's
final columns, the result), so the table says the RSS at each phase's end and
the most seen inside it; the run's peak is printed last. Linux only. Not part
of ``make test``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import WORKLOADS, _tiny, scaled

import seqsim
from seqsim.engine import kernel_run

# The module, not the function of the same name that seqsim exports.
run_simulate = importlib.import_module("seqsim.run.simulate")

#: The functions whose calls are the phases, by module, in run order.
PHASES = ((run_simulate, "run_arrivals"), (kernel_run, "build_world"),
          (kernel_run, "new_state"), (kernel_run, "_poll_all"),
          (kernel_run, "final_columns"), (run_simulate, "run_engine"),
          (run_simulate, "build_result"))


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


class Recorder:
    """The RSS samples and the phase marks of one run, on the real clock."""

    def __init__(self, every: float) -> None:
        self.every, self.samples, self.marks = every, [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), _rss_mib()))
            time.sleep(self.every)

    def mark(self, what: str) -> None:
        self.marks.append((time.perf_counter(), what, _rss_mib()))

    def wrap(self, module: Any, name: str) -> None:
        """Mark the start and end of every call of ``module.name``."""
        function: Callable[..., Any] = getattr(module, name)

        def marked(*args: Any, **kwargs: Any) -> Any:
            self.mark(f"{name} start")
            try:
                return function(*args, **kwargs)
            finally:
                self.mark(f"{name} end")
        setattr(module, name, marked)

    def __enter__(self) -> Recorder:
        self._thread.start()
        self.mark("simulate start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.mark("simulate end")
        self._stop.set()
        self._thread.join()


def report(rec: Recorder) -> None:
    """Print each mark's time and RSS, the most inside each stretch, and the peak."""
    t0 = rec.marks[0][0]
    print(f"{'s':>7}  {'RSS MiB':>8}  mark")
    for t, what, rss in rec.marks:
        print(f"{t - t0:7.2f}  {rss:8.0f}  {what}")
    print("\nmost inside each stretch between marks:")
    for (a, first, _), (b, then, _) in zip(rec.marks, rec.marks[1:], strict=False):
        inside = [rss for t, rss in rec.samples if a <= t <= b]
        if inside:
            print(f"  {first:>22} -> {then:<22} {max(inside):8.0f} MiB")
    t, peak = max(rec.samples, key=lambda sample: sample[1])
    print(f"\npeak {peak:.0f} MiB at {t - t0:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="volume", choices=sorted(WORKLOADS))
    parser.add_argument("--scale", type=float, default=1.0, help="contacts x this")
    parser.add_argument("--every", type=float, default=0.003, help="seconds between samples")
    args = parser.parse_args()
    data = scaled(args.workload, args.scale)
    seqsim.simulate(seqsim.Scenario.from_dict(_tiny(data)), engine="batch", progress=False)
    scenario = seqsim.Scenario.from_dict(data)
    rec = Recorder(args.every)
    for module, name in PHASES:
        rec.wrap(module, name)
    with rec:
        result = seqsim.simulate(scenario, engine="batch", progress=False)
    report(rec)
    del result  # kept to the end mark: the result's own memory counts


if __name__ == "__main__":
    main()
