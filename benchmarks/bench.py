"""Speed and memory of seqsim's engines against peers, workload by workload.

Run ``make bench`` (or ``python benchmarks/bench.py [--scale 0.1] [--only volume]``).
Each workload runs in a fresh child process so its peak RSS is its own. For
each it prints wall time, step transitions (messages sent) per second and
peak RSS of:

- ``batch``: seqsim's default engine (the compiled kernel), through the public
  ``seqsim.simulate``, end to end (arrivals, polls, summary, checks) and the
  compiled polls alone; then the first read of ``res.sends`` (the frames are
  built when first read), its time and the peak RSS with it; the one-off
  compile is measured first, on its own;
- ``batch1``: the same, in a process pinned to one core (``--no-one-core``
  skips it): seqsim uses a second core when it has one (pages mapped ahead
  of the kernel, result passes two at a time), the SimPy model never does;
- ``simpy``: a straightforward SimPy model of the same arrivals, delays, poll
  grid and device limits (what an analyst would write instead);
- ``row``: the per-row reference engine on a slice of the contacts, its rate
  extrapolated to the whole workload.

Figures are wall-clock on the machine that runs them; quote ratios (measured
in the same run) rather than absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from typing import Any

WORKLOADS: dict[str, dict[str, Any]] = {
    # 1,000,000 contacts over 7 days, days 1,3,6,9, unlimited capacity, zero
    # pacing, 15 s polls, 21 days: 4,000,000 transitions.
    "volume": {
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "21d",
                       "poll_interval": "15s", "seed": 1},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 3, 6, 9],
                       "min_delay_seconds": 0, "max_delay_seconds": 0}],
        "workload": [{"kind": "poisson", "trigger": "cold", "rate_per_hour": 1_000_000 / 168,
                      "end": "2025-07-08T00:00:00"}],
        "capacity": {"devices": 100, "hourly_limit": 0, "daily_limit": 0,
                     "in_flight_limit": 0},
    },
    # 200,000 contacts over 14 days on 40 devices at 80/hour and 800/day,
    # pacing 5-15 s, 15 s polls, 30 days.
    "backlog": {
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "30d",
                       "poll_interval": "15s", "seed": 1},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 3, 6, 9],
                       "min_delay_seconds": 5, "max_delay_seconds": 15}],
        "workload": [{"kind": "poisson", "trigger": "cold", "rate_per_hour": 200_000 / 336,
                      "end": "2025-07-15T00:00:00"}],
        "capacity": {"devices": 40, "hourly_limit": 80, "daily_limit": 800,
                     "in_flight_limit": 50},
    },
    # A 500,000-lead import at one instant on 100 devices (production limits).
    "burst": {
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "30d",
                       "poll_interval": "15s", "seed": 1},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 3, 6, 9],
                       "min_delay_seconds": 5, "max_delay_seconds": 15}],
        "workload": [{"kind": "burst", "trigger": "cold", "count": 500_000}],
        "capacity": {"devices": 100, "hourly_limit": 80, "daily_limit": 800,
                     "in_flight_limit": 50},
    },
    # A production fleet: 1,000,000 contacts over 7 days on 1,250 devices at
    # 80/hour, 800/day, 50 in flight, pacing 5-15 s, batch 5,000, 15 s polls, 30 days.
    "production": {
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "30d",
                       "poll_interval": "15s", "seed": 1},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 3, 6, 9],
                       "min_delay_seconds": 5, "max_delay_seconds": 15}],
        "workload": [{"kind": "poisson", "trigger": "cold", "rate_per_hour": 1_000_000 / 168,
                      "end": "2025-07-08T00:00:00"}],
        "capacity": {"devices": 1250, "batch_size": 5000, "hourly_limit": 80,
                     "daily_limit": 800, "in_flight_limit": 50},
    },
}

ROW_SLICE_CONTACTS = 400


def scaled(name: str, scale: float) -> dict[str, Any]:
    """Return a workload's scenario table with its contact count scaled."""
    data = json.loads(json.dumps(WORKLOADS[name]))
    wl = data["workload"][0]
    if "count" in wl:
        wl["count"] = max(1, round(wl["count"] * scale))
    else:
        wl["rate_per_hour"] *= scale
    return data


# ----------------------------------------------------------------- runners
def _tiny(data: dict[str, Any]) -> dict[str, Any]:
    """Return the workload's world with ten leads at one instant."""
    small = json.loads(json.dumps(data))
    small["workload"][0].update({"kind": "burst", "count": 10})
    small["workload"][0].pop("rate_per_hour", None)
    small["workload"][0].pop("end", None)
    return small


def run_batch(data: dict[str, Any], *, load: bool = True) -> dict[str, float]:
    """Run the workload through ``seqsim.simulate``; with ``load``, first run ten
    leads, so the process has loaded the compiled engine from the cache (a
    process's one-off, timed and printed on its own, as the compile is)."""
    import seqsim

    # seqsim's names load on first use: load them before timing, so that 'load'
    # is the compiled engine's load from the cache, as it was measured before.
    seqsim.simulate, seqsim.Scenario  # noqa: B018
    load_s = 0.0
    if load:
        start = time.perf_counter()
        seqsim.simulate(seqsim.Scenario.from_dict(_tiny(data)), engine="batch", progress=False)
        load_s = time.perf_counter() - start
    scn = seqsim.Scenario.from_dict(data)
    start = time.perf_counter()
    res = seqsim.simulate(scn, engine="batch", progress=False)
    wall = time.perf_counter() - start
    peak = _peak_mib()
    # The frames are built when first read: time the send log, the one most read.
    start = time.perf_counter()
    len(res.sends)
    return {"wall_s": wall, "transitions": res.summary["messages_sent"],
            "contacts": res.summary["contacts_enrolled"],
            "kernel_s": res.info["kernel_seconds"], "compile_s": res.info["compile_seconds"],
            "load_s": load_s, "peak_rss_mib": peak, "sends_s": time.perf_counter() - start,
            "peak_sends_mib": _peak_mib()}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_compile(data: dict[str, Any]) -> dict[str, float]:
    """Compile the kernel into an empty cache (a fresh install) on a tiny run."""
    import os
    import tempfile

    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="seqsim-bench-cache-")
    out = run_batch(_tiny(data), load=False)
    return {**out, "wall_s": out["compile_s"]}


def run_row_slice(data: dict[str, Any]) -> dict[str, float]:
    """Run the row engine on the first ROW_SLICE_CONTACTS arrivals, extrapolate."""
    import seqsim
    full = seqsim.Scenario.from_dict(data)
    wl = data["workload"][0]
    small = json.loads(json.dumps(data))
    if "count" in wl:
        fraction = ROW_SLICE_CONTACTS / wl["count"]
        small["workload"][0]["count"] = ROW_SLICE_CONTACTS
    else:
        hours = ROW_SLICE_CONTACTS / wl["rate_per_hour"]
        end = full.simulation.start + timedelta(hours=hours)
        small["workload"][0]["end"] = end.isoformat()
        window = (datetime.fromisoformat(wl["end"]) - full.simulation.start).total_seconds()
        fraction = hours * 3600 / window
    # Same arrival rate and devices, a shorter arrival window: polls in the
    # slice are as busy as in the full run, so the per-transition rate holds.
    scn = seqsim.Scenario.from_dict(small)
    start = time.perf_counter()
    res = seqsim.simulate(scn, engine="row", progress=False)
    wall = time.perf_counter() - start
    rate = res.summary["messages_sent"] / wall
    return {"wall_s": wall, "transitions": res.summary["messages_sent"], "rate": rate,
            "fraction": fraction}


def run_simpy(data: dict[str, Any]) -> dict[str, float]:
    """The same world as a plain SimPy model (see simpy_model.py)."""
    from simpy_model import simulate_simpy

    start = time.perf_counter()
    sent = simulate_simpy(data)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "transitions": sent}


def run_batch_one_core(data: dict[str, Any]) -> dict[str, float]:
    """:func:`run_batch` in a process allowed one core: no second thread maps the
    kernel's pages ahead of it or builds a result pass beside another (the
    SimPy model uses one core; this is the like-for-like figure)."""
    if not hasattr(os, "sched_setaffinity"):
        raise SystemExit("one core: this system cannot pin a process to a core")
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    return run_batch(data)


RUNNERS = {"batch": run_batch, "batch1": run_batch_one_core, "simpy": run_simpy,
           "row": run_row_slice, "compile": run_compile}


def child(runner: str, name: str, scale: float) -> None:
    """Entry point of the child process: run one thing, print JSON with peak RSS."""
    out = RUNNERS[runner](scaled(name, scale))
    out.setdefault("peak_rss_mib", _peak_mib())
    print(json.dumps(out))


def measure(runner: str, name: str, scale: float) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", runner, name, str(scale)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{runner} on {name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="contacts x this (default 1)")
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append",
                        help="run only these workloads")
    parser.add_argument("--no-simpy", action="store_true", help="skip the SimPy peer")
    parser.add_argument("--no-row", action="store_true", help="skip the per-row engine slice")
    parser.add_argument("--linearity", action="store_true",
                        help="also run volume at a tenth of the scale and print the ratio")
    parser.add_argument("--one-core", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the batch engine pinned to one core (default: yes)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], float(args.child[2]))
        return
    print(f"# seqsim benchmarks, {datetime.now():%Y-%m-%d}, {platform.machine()}, "
          f"{platform.python_implementation()} {platform.python_version()}, scale {args.scale}")
    header = f"{'workload':<9} {'engine':<7} {'wall s':>9} {'transitions':>12} " \
             f"{'trans/s':>12} {'peak MiB':>9}  note"
    compiled = measure("compile", "volume", 1.0)
    print(f"# compile on a fresh install (empty cache): {compiled['compile_s']:.1f} s; "
          "runs below load the cached kernel")
    print("# batch wall: a run in a process that has loaded the engine (a ten-lead run "
          "first; its time is 'load')")
    print(header)
    for name in args.only or list(WORKLOADS):
        batch = measure("batch", name, args.scale)
        rate = batch["transitions"] / batch["wall_s"]
        kernel_rate = batch["transitions"] / max(batch["kernel_s"], 1e-9)
        print(f"{name:<9} {'batch':<7} {batch['wall_s']:>9.2f} {batch['transitions']:>12,} "
              f"{rate:>12,.0f} {batch['peak_rss_mib']:>9.0f}  kernel alone "
              f"{batch['kernel_s']:.2f} s, {kernel_rate:,.0f}/s; load "
              f"{batch['load_s']:.2f} s; then res.sends "
              f"{batch['sends_s']:.2f} s, {batch['peak_sends_mib']:.0f} MiB")
        one = measure("batch1", name, args.scale) if args.one_core else None
        if one is not None:
            print(f"{name:<9} {'batch1':<7} {one['wall_s']:>9.2f} {one['transitions']:>12,} "
                  f"{one['transitions'] / one['wall_s']:>12,.0f} {one['peak_rss_mib']:>9.0f}  "
                  f"one core; kernel alone {one['kernel_s']:.2f} s")
        if not args.no_simpy:
            sp = measure("simpy", name, args.scale)
            sp_rate = sp["transitions"] / sp["wall_s"]
            also = ("" if one is None
                    else f"; on one core {sp['wall_s'] / one['wall_s']:.1f}x")
            print(f"{name:<9} {'simpy':<7} {sp['wall_s']:>9.2f} {sp['transitions']:>12,} "
                  f"{sp_rate:>12,.0f} {sp['peak_rss_mib']:>9.0f}  "
                  f"batch is {sp['wall_s'] / batch['wall_s']:.1f}x faster{also}")
        if args.no_row:
            continue
        row = measure("row", name, args.scale)
        est = batch["transitions"] / row["rate"]
        print(f"{name:<9} {'row':<7} {est:>9.0f} {batch['transitions']:>12,} "
              f"{row['rate']:>12,.0f} {row['peak_rss_mib']:>9.0f}  "
              f"extrapolated from {row['transitions']:,} transitions; batch is "
              f"{est / batch['wall_s']:.0f}x faster")
    if args.linearity:
        small = measure("batch", "volume", args.scale / 10)
        big = measure("batch", "volume", args.scale)
        print(f"linearity: volume at {args.scale / 10:g} vs {args.scale:g}: contacts x10, "
              f"time x{big['wall_s'] / small['wall_s']:.1f}")


if __name__ == "__main__":
    main()
