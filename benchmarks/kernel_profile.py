"""Where a workload's run spends its time, by compiled function, sampled with Linux perf.

`python benchmarks/kernel_profile.py backlog [--runs 3] [--scale 1.0]`

numba loads its machine code from the cache without symbols, so perf shows the
compiled kernel as anonymous addresses. This script starts a child that
compiles the engine into an empty cache (a minute or two, not sampled), writes
the perf map (``/tmp/perf-PID.map``) of every compiled function, runs the
workload once unsampled (its result passes compile further signatures on first
use), and then runs it ``--runs`` times through ``seqsim.simulate`` while
``perf record -p`` samples it. It prints each compiled function's share of the samples, the
share of compiled code in the whole run, and the busiest libraries outside it.

Needs ``perf`` and ``kernel.perf_event_paranoid`` <= 2. The compile's Python
objects are frozen out of the garbage collector (``gc.freeze``) so that, as in
a process that loaded the cache, collections do not rescan them.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import WORKLOADS, _tiny, scaled

#: A perf map line's size for the last function (its end is unknown).
LAST_SIZE = 1 << 16


def short_name(mangled: str) -> str:
    """Return ``seqsim.engine.kernel._poll`` for numba's mangled name of it
    (``_ZN6seqsim6engine6kernel5_pollB4v193...``)."""
    if not mangled.startswith("_ZN"):
        return mangled
    parts, at = [], 3
    while at < len(mangled) and mangled[at].isdigit():
        digits = re.match(r"\d+", mangled[at:])
        assert digits is not None
        at += len(digits.group())
        parts.append(mangled[at:at + int(digits.group())])
        at += int(digits.group())
    return ".".join(parts) or mangled


def _compiled_symbols() -> dict[int, str]:
    """Return the entry address and mangled name of every function compiled in this process."""
    from numba.core.registry import CPUDispatcher

    symbols: dict[int, str] = {}
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("seqsim"):
            continue
        for value in vars(module).values():
            if not isinstance(value, CPUDispatcher):
                continue
            for compiled in value.overloads.values():
                library = compiled.library
                for function in library._final_module.functions:
                    if not function.is_declaration:
                        address = library.get_pointer_to_function(function.name)
                        if address:
                            symbols[address] = function.name
    return symbols


def child(name: str, scale: float, runs: int) -> None:
    """Compile, write the perf map, wait for the parent's go, run the workload."""
    import seqsim

    data = scaled(name, scale)
    seqsim.simulate(seqsim.Scenario.from_dict(_tiny(data)), progress=False)
    symbols = _compiled_symbols()
    addresses = sorted(symbols)
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as handle:
        for start, end in zip(addresses, [*addresses[1:], addresses[-1] + LAST_SIZE], strict=True):
            handle.write(f"{start:x} {end - start:x} {symbols[start]}\n")
    scenario = seqsim.Scenario.from_dict(data)
    # Unsampled: the result passes compile further signatures on their first big run.
    seqsim.simulate(scenario, progress=False)
    gc.collect()
    gc.freeze()
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(runs):
        started = time.perf_counter()
        result = seqsim.simulate(scenario, progress=False)
        print(f"run: {time.perf_counter() - started:.2f} s, kernel "
              f"{result.info['kernel_seconds']:.2f} s", flush=True)


def _samples(data: Path) -> list[tuple[float, str, str]]:
    """Return perf's (percent, library, symbol) rows of a recording."""
    report = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                             "-g", "none", "--sort", "dso,sym", "-t", "|"],
                            capture_output=True, text=True, check=True).stdout
    rows = []
    for line in report.splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) == 3 and fields[0].endswith("%"):
            rows.append((float(fields[0][:-1]), fields[1], fields[2].removeprefix("[.] ")))
    return rows


def report(rows: list[tuple[float, str, str]], top: int) -> None:
    """Print the compiled functions' shares, then the busiest libraries outside them."""
    compiled: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    for percent, library, symbol in rows:
        if library.startswith("[JIT]"):
            compiled[short_name(symbol)] += percent
        else:
            libraries[library] += percent
    total = sum(compiled.values())
    print(f"\ncompiled code: {total:.1f}% of the samples")
    print(f"{'function':60s} {'of compiled':>11s} {'of all':>7s}")
    for function, percent in compiled.most_common(top):
        print(f"{function:60s} {100 * percent / total:10.1f}% {percent:6.1f}%")
    print("\noutside compiled code:")
    for library, percent in libraries.most_common(8):
        print(f"{library:60s} {'':11s} {percent:6.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--frequency", type=int, default=1999, help="samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.workload, args.scale, args.runs)
        return
    if shutil.which("perf") is None:
        sys.exit("kernel_profile: needs Linux perf (linux-tools) on PATH")
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "NUMBA_CACHE_DIR": folder}
        command = [sys.executable, __file__, args.workload, "--child", "--runs", str(args.runs),
                   "--scale", str(args.scale)]
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, env=env)
        assert proc.stdin is not None and proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            sys.exit(f"kernel_profile: the child failed (exit {proc.wait()})")
        data = Path(folder) / "perf.data"
        perf = subprocess.Popen(["perf", "record", "-q", "-F", str(args.frequency), "-p",
                                 str(proc.pid), "-o", str(data)])
        time.sleep(1)  # perf attaches
        proc.stdin.write("go\n")
        proc.stdin.flush()
        for line in proc.stdout:
            print(line, end="")
        proc.wait()
        perf.wait()
        try:
            report(_samples(data), args.top)
        finally:
            Path(f"/tmp/perf-{proc.pid}.map").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
