"""The ``seqsim`` command: a thin layer over the Python API.

Bad input (a scenario key, a ``--set`` override, a flag, an ``--out`` that
cannot be written) is printed on one line as ``seqsim: error: ...`` and the
command exits with status 2, leaving no output directory behind. Ctrl-C
(SIGINT) prints ``seqsim: interrupted`` and exits with status 130; a result
directory being saved keeps its earlier content.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from seqsim.analysis.compare import EXTRA_KPIS, KPI_LABELS, format_value
from seqsim.analysis.executors import open_executor
from seqsim.analysis.steps import format_steps, unfinished_warning
from seqsim.cli import check as cli_check
from seqsim.cli import compare as cli_compare
from seqsim.cli import sweep as cli_sweep
from seqsim.cli.check import EXIT_BAD_INPUT
from seqsim.engine.registry import ENGINES
from seqsim.errors import SeqsimError
from seqsim.interrupts import EXIT_INTERRUPTED
from seqsim.model.overrides import parse_override
from seqsim.model.scenario import Scenario
from seqsim.results.result import Result
from seqsim.run.simulate import simulate
from seqsim.units import format_duration
from seqsim.version import __version__

__all__ = ["EXIT_INTERRUPTED", "main"]

#: The summary keys the run command prints, labelled and formatted as compare tables are.
_SUMMARY_LABELS = tuple(
    (key, label, unit) for key, (label, unit) in KPI_LABELS.items() if key not in EXTRA_KPIS
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on one line with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise SeqsimError(f"{self.prog}: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="seqsim",
        description="Simulate a drip-campaign sequence engine on DuckDB under a virtual clock.",
    )
    parser.add_argument("--version", action="version", version=f"seqsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run a scenario and print its summary")
    run.add_argument("scenario", type=Path, help="scenario TOML file")
    run.add_argument("--out", type=Path, help="write the result directory here")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set capacity.devices=4 (repeatable)",
    )
    run.add_argument("--engine", choices=tuple(ENGINES),
                     help="advance engine (default: the scenario's)")
    run.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    run.add_argument("--report", action="store_true",
                     help="also write the charts (PNG) and report.html into --out")
    cli_sweep.add_seed_flag(run)  # seqsim run --seed N
    run.add_argument("--shards", type=int, metavar="N",
                     help="split the devices into N shards run in parallel and merged "
                     "(exact, or an error naming the poll where batch_size binds)")
    run.add_argument("--scheduler", metavar="ADDR",
                     help="run the shards on a Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                     "(needs --shards and seqsim[dask])")
    run.set_defaults(handler=_run)
    cli_check.add_commands(sub)  # seqsim baseline, seqsim check
    cli_compare.add_commands(sub)  # seqsim compare
    cli_sweep.add_commands(sub)  # seqsim sweep
    return parser


def format_summary(result: Result) -> str:
    """Return the summary as an aligned two-column table."""
    sim = result.scenario.simulation
    lines = [
        f"seqsim run: {sim.start:%Y-%m-%d %H:%M} UTC + {format_duration(sim.duration)}, "
        f"engine {result.info.get('engine', '?')}, seed {sim.seed}",
    ]
    width = max(len(label) for _, label, _ in _SUMMARY_LABELS)
    for key, label, unit in _SUMMARY_LABELS:
        lines.append(f"  {label:<{width}}  {format_value(result.summary.get(key), unit)}")
    info = result.info
    if "polls" in info:
        lines.append(
            f"  {'polls (run / total)':<{width}}  {info['polls_run']:,} / {info['polls']:,}"
        )
    if "wall_seconds" in info:
        lines.append(f"  {'wall time':<{width}}  {info['wall_seconds']:.1f} s")
    if "shards" in info:
        shards = info["shards"]
        how = "exact" if shards["exact"] else (
            f"APPROXIMATE: batch_size bound at poll {shards['batch_bound_at_poll']}")
        lines.append(f"  {'shards':<{width}}  {shards['count']} ({how})")
    problems = info.get("invariant_violations") or []
    for problem in problems:
        lines.append(f"  INVARIANT BROKEN: {problem}")
    for effect in info.get("fault_effects") or []:
        lines.append(f"  broken on purpose by [faults]: {effect}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    cli_compare.check_report_flag(args)
    scenario = Scenario.from_toml(args.scenario)
    if args.overrides:
        scenario = scenario.with_overrides(dict(parse_override(o) for o in args.overrides))
    if args.scheduler is not None and args.shards is None:
        raise SeqsimError(f"--scheduler: {args.scheduler!r} is not valid without --shards; "
                          "expected --shards N as well")
    progress = False if args.no_progress else None
    with open_executor(scheduler=args.scheduler) as executor:
        result = simulate(scenario, engine=args.engine, progress=progress, shards=args.shards,
                          executor=executor if args.scheduler is not None else None)
    print(format_summary(result))
    print()
    print(format_steps(result.steps))
    warning = unfinished_warning(result)
    if warning:
        print(f"seqsim: warning: {warning}", file=sys.stderr)
    if args.out is not None:
        # The report is written into the directory being saved, so it is one of its files.
        report = partial(cli_compare.write_run_report, result) if args.report else None
        folder = result.save(args.out, extra=report)
        print(f"results written to {folder}/")
        if args.report:
            print(f"report: {folder / 'report.html'}")
    return 0


@contextmanager
def _noting_interrupts() -> Iterator[list[int]]:
    """Yield a list that gets an entry on each SIGINT (which still raises KeyboardInterrupt).

    DuckDB turns an interrupt into its own exception (``InterruptException``,
    ``RuntimeError: Query interrupted``): the list tells that apart from a bug.
    A KeyboardInterrupt that Python cannot raise where the signal landed (in a
    weakref callback during an import, say) would be printed as "Exception
    ignored" and dropped: it is kept quiet and the signal sent again a moment
    later, from a thread, so that it lands outside that callback.
    """
    noted: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() \
            or previous in (signal.SIG_IGN, None):
        yield noted  # handlers run in the main thread only; an ignored SIGINT stays ignored
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        noted.append(signum)
        raise KeyboardInterrupt

    hook = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if not isinstance(info.exc_value, KeyboardInterrupt):
            hook(info)
            return
        # A SIGINT sent again landing in the next callback would raise in this
        # hook, and Python would print that: it is noted already, and if it cut
        # the timer's start short, main() still ends in "interrupted".
        with suppress(KeyboardInterrupt):
            # To the main thread, where Python runs handlers: a process-wide kill
            # may land on a library's thread and leave the main one asleep.
            again = threading.Timer(0.01, signal.pthread_kill,
                                    (threading.main_thread().ident, signal.SIGINT))
            again.daemon = True
            again.start()

    signal.signal(signal.SIGINT, handler)
    sys.unraisablehook = unraisable
    try:
        yield noted
    finally:
        sys.unraisablehook = hook
        signal.signal(signal.SIGINT, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0, 1, 2 or 130)."""
    try:
        with _noting_interrupts() as noted:
            try:
                args = _build_parser().parse_args(argv)
                status = args.handler(args)
            except Exception:
                if noted:
                    raise KeyboardInterrupt from None
                raise
            if noted:  # a Ctrl-C Python swallowed: what finished is whole, but say so
                raise KeyboardInterrupt
            return status
    except KeyboardInterrupt:
        print("seqsim: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SeqsimError as exc:
        print(f"seqsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
