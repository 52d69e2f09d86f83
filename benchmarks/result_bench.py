"""A saved result at scale: the save, the load, a first query and a first table read.

Run ``python benchmarks/result_bench.py [--workload volume] [--scale 1]``.
One child process runs the workload (a workload of ``bench.py``) and saves it
into a temporary result directory; then a fresh child for each of: loading it
(``load_result``), loading it and answering one aggregate with ``res.sql``,
loading it and reading ``res.sends``, loading it and reading
``res.tables["sequence_contacts"]``. Each prints its wall time and its own
peak RSS (the interpreter with seqsim imported is printed first, as the
floor). Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_QUERY = ("SELECT day_number, count(*) AS sent, quantile_cont(lateness_s, 0.95) AS p95 "
          "FROM sends WHERE outcome = 'sent' GROUP BY day_number ORDER BY day_number")


def _child(phase: str, folder: str, workload: str, scale: float) -> None:
    """Run one phase and print its figures as JSON (the parent reads the last line)."""
    import seqsim
    from seqsim.run.clock import real_seconds

    start = real_seconds()
    rows = 0
    if phase == "save":
        sys.path.insert(0, str(_HERE))
        from bench import scaled

        result = seqsim.simulate(seqsim.Scenario.from_dict(scaled(workload, scale)),
                                 progress=False)
        ran = real_seconds()
        result.save(folder)
        rows = result.summary["messages_sent"]
        start = ran  # the save alone
    elif phase != "import":
        loaded = seqsim.load_result(folder)
        if phase == "sql":
            rows = len(loaded.sql(_QUERY))
        elif phase == "sends":
            rows = len(loaded.sends)
        elif phase == "sequence_contacts":
            rows = len(loaded.tables["sequence_contacts"])
    print(json.dumps({"seconds": real_seconds() - start, "rows": rows,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _measure(phase: str, folder: Path, workload: str, scale: float) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", phase, str(folder), workload,
                          str(scale)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
        return
    sys.path.insert(0, str(_HERE))
    from bench import WORKLOADS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="volume")
    parser.add_argument("--scale", type=float, default=1.0, help="contacts x this")
    args = parser.parse_args()
    print(f"{args.workload} x {args.scale}: {platform.python_version()}, "
          f"{platform.machine()}")
    print(f"{'phase':<34} {'seconds':>8} {'rows':>11} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        for phase, label in (("import", "import seqsim (the floor)"),
                             ("save", "save (after the run)"),
                             ("load", "load_result"),
                             ("sql", "load_result + one res.sql aggregate"),
                             ("sends", "load_result + res.sends"),
                             ("sequence_contacts", "load_result + sequence_contacts")):
            got = _measure(phase, folder, args.workload, args.scale)
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) \
                if phase == "save" else 0
            note = f"  directory {size / 2**20:,.0f} MiB" if size else ""
            print(f"{label:<34} {got['seconds']:8.2f} {got['rows']:>11,.0f} "
                  f"{got['rss_mib']:9,.0f}{note}", flush=True)


if __name__ == "__main__":
    main()
