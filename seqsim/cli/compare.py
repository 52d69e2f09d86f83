"""The ``seqsim compare`` command and the ``--report`` option of ``seqsim run``.

``seqsim compare DIR [DIR ...] [--label NAME=DIR] [--out DIR]`` loads saved result directories,
prints the :func:`seqsim.compare` table (KPIs as rows, one column per run,
differences to the first run in brackets) and, with ``--out``, writes the
comparison charts, ``compare.csv`` and a self-contained ``report.html`` there.
Bad input (a directory that is not a result) exits 2 with one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from seqsim.analysis.compare import (
    compare,
    format_comparison,
    format_differences,
    scenario_differences,
)
from seqsim.analysis.steps import format_step_comparison
from seqsim.errors import SeqsimError
from seqsim.results.result import Result, load_result

__all__ = ["add_commands", "check_report_flag", "write_run_report"]


def add_commands(sub: Any) -> None:
    """Add the ``compare`` subcommand (sets ``handler``) to an argparse subparsers object."""
    cmp = sub.add_parser(
        "compare", help="compare saved runs: KPI table, and charts with --out",
        description="Print one column of KPIs per result directory, with differences to the "
        "first; with --out also write comparison charts and report.html.",
    )
    cmp.add_argument("dirs", type=Path, nargs="*", metavar="DIR",
                     help="result directories written by `seqsim run --out`")
    cmp.add_argument("--label", action="append", default=[], metavar="NAME=DIR",
                     help="name a result directory in the tables (repeatable; a DIR not "
                     "listed is added after the others)")
    cmp.add_argument("--out", type=Path,
                     help="write comparison charts (PNG), compare.csv and report.html here")
    cmp.set_defaults(handler=_compare_command)


def _names(dirs: list[Path]) -> list[str]:
    names = [d.resolve().name or str(d) for d in dirs]
    if len(set(names)) < len(names):  # e.g. a/run and b/run: use the paths as given
        names = [str(d) for d in dirs]
    return names


def _labelled(dirs: list[Path], labels: list[str]) -> dict[str, Path]:
    """Return name -> directory: ``--label NAME=DIR`` names, others by directory name.

    Raises:
        SeqsimError: a label without ``NAME=``, no directory at all, or two
            runs with one name.
    """
    named: dict[Path, str] = {}
    order = list(dirs)
    for label in labels:
        name, sep, folder = label.partition("=")
        if not sep or not name.strip() or not folder:
            raise SeqsimError(f"--label: {label!r} is not valid; expected NAME=DIR, "
                              "e.g. 'four devices=out/run4'")
        path = next((d for d in order if d.resolve() == Path(folder).resolve()), Path(folder))
        if path not in order:
            order.append(path)
        named[path] = name.strip()
    if not order:
        raise SeqsimError("DIR: none given; expected result directories or --label NAME=DIR")
    auto = _names(order)
    names = [named.get(d, a) for d, a in zip(order, auto, strict=True)]
    if len(set(names)) < len(names):
        raise SeqsimError(f"DIR: {', '.join(names)} is not valid; expected each result "
                          "directory once, under names that differ")
    return dict(zip(names, order, strict=True))


def _compare_command(args: argparse.Namespace) -> int:
    runs = {name: load_result(d) for name, d in _labelled(args.dirs, args.label).items()}
    print(format_comparison(compare(runs)))
    print()
    print(format_step_comparison(compare(runs, by="step")))
    print()
    print(format_differences(scenario_differences(runs)))
    if args.out is not None:
        from seqsim.report import write_report  # imports matplotlib: only when drawing

        report = write_report(runs, args.out)
        print(f"charts and compare.csv written to {report.parent}/")
        print(f"report: {report}")
    return 0


def check_report_flag(args: argparse.Namespace) -> None:
    """Reject ``seqsim run --report`` without ``--out`` before anything runs."""
    if getattr(args, "report", False) and args.out is None:
        raise SeqsimError("--report: is not valid without --out; expected --out DIR to write "
                          "the charts and report.html into")


def write_run_report(result: Result, folder: Path) -> Path:
    """Write a run's charts and report.html into ``folder``; return the report's path.

    ``seqsim run --report`` calls it on the result directory being saved,
    before that directory takes its place, so the report is part of it.
    """
    from seqsim.report import write_report  # imports matplotlib: only when drawing

    return write_report(result, folder)
