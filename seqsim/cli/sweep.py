"""The ``seqsim sweep`` command, and the ``--seed`` option of ``seqsim run``.

``seqsim sweep SCENARIO.toml [--set key=value ...] --grid key=v1,v2 [--grid ...]
[--seeds N] [--workers N | --scheduler ADDR] --out DIR`` runs :func:`seqsim.sweep`,
writes ``runs.jsonl`` (as runs finish; a re-run resumes), ``runs.csv`` (the
frame) and ``summary.csv`` (:func:`seqsim.summarize`) into DIR, and prints the
summary table: per metric and grid point the mean with its 95% interval, and
the seed-paired difference to the first grid point (or ``--reference``).

Grid values are read like ``--set`` values (TOML, else text), separated by
commas outside brackets: ``--grid 'sequences.COLD.days=[1,3,6,9],[1,2,4,8]'``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from seqsim.analysis.summarize import DEFAULT_METRICS, format_sweep_summary, summarize
from seqsim.analysis.sweep import sweep
from seqsim.errors import SeqsimError
from seqsim.model.overrides import parse_override
from seqsim.model.scenario import Scenario
from seqsim.validation import fail, show

__all__ = ["add_commands", "add_seed_flag", "parse_grid"]


class _SeedAction(argparse.Action):
    """``--seed N``: the same as ``--set simulation.seed=N`` (one validation path)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        overrides = list(getattr(namespace, self.dest, None) or [])
        overrides.append(f"simulation.seed={values}")
        setattr(namespace, self.dest, overrides)


def add_seed_flag(run: argparse.ArgumentParser) -> None:
    """Add ``--seed N`` to the ``run`` subcommand (it becomes a ``--set`` override)."""
    run.add_argument("--seed", dest="overrides", action=_SeedAction, metavar="N",
                     help="the run's seed (simulation.seed), e.g. --seed 7")


def _split_values(text: str) -> list[str]:
    """Split at commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        current += char
    return [*parts, current]


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """Return the grid of ``--grid key=v1,v2`` options: key -> values, in order.

    Raises:
        ScenarioError: no ``=``, an empty value, or a key given twice.
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise fail("--grid", item, "key=v1,v2, e.g. 'capacity.devices=20,30,40'")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key in grid:
            raise fail("--grid", item, f"each key once; {key} is already in the grid")
        values = []
        for piece in _split_values(raw):
            if not piece.strip():
                raise fail("--grid", item, "comma-separated values, none empty")
            values.append(parse_override(f"{key}={piece}")[1])
        grid[key] = values
    return grid


def add_commands(sub: Any) -> None:
    """Add the ``sweep`` subcommand (sets ``handler``) to an argparse subparsers object."""
    cmd = sub.add_parser(
        "sweep", help="run a grid of scenario keys times seeds; print means with intervals",
        description="Run every combination of the --grid values with every seed and print, "
        "per metric and grid point, the mean with its 95% t-interval and the seed-paired "
        "difference to the reference point.")
    cmd.add_argument("scenario", type=Path, help="scenario TOML file")
    cmd.add_argument("--set", dest="overrides", action="append", default=[],
                     metavar="KEY=VALUE", help="override a key of the base scenario, as for "
                     "run (repeatable)")
    cmd.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2",
                     help="a scenario key and its values (repeatable; the sweep runs every "
                     "combination)")
    cmd.add_argument("--seeds", type=int, default=10, metavar="N",
                     help="runs per grid point, seeds from the scenario's (default 10)")
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="local worker processes (default: the cores)")
    where.add_argument("--scheduler", metavar="ADDR",
                       help="a Dask scheduler, e.g. tcp://10.0.0.5:8786 (needs seqsim[dask])")
    cmd.add_argument("--out", type=Path, required=True,
                     help="folder for runs.jsonl, runs.csv and summary.csv (a re-run resumes)")
    cmd.add_argument("--metric", action="append", metavar="KPI",
                     help=f"a KPI column to summarize (repeatable; default "
                     f"{', '.join(DEFAULT_METRICS)})")
    cmd.add_argument("--reference", action="append", default=[], metavar="KEY=VALUE",
                     help="the grid point differences are taken against (default: the first)")
    cmd.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    cmd.set_defaults(handler=_sweep_command)


def _sweep_command(args: argparse.Namespace) -> int:
    base = Scenario.from_toml(args.scenario)
    if args.overrides:
        base = base.with_overrides(dict(parse_override(o) for o in args.overrides))
    grid = parse_grid(args.grid)
    reference = dict(parse_override(r) for r in args.reference) or None
    for key in reference or {}:
        if key not in grid:
            raise fail("--reference", key, f"a --grid key: {', '.join(map(show, grid))}")
    frame = sweep(base, grid, seeds=args.seeds, out=args.out, workers=args.workers,
                  scheduler=args.scheduler, progress=False if args.no_progress else None)
    table = summarize(frame, args.metric, reference=reference)
    print(format_sweep_summary(table))
    try:
        frame.to_csv(args.out / "runs.csv", index=False)
        table.to_csv(args.out / "summary.csv", index=False)
    except OSError as exc:
        raise SeqsimError(f"--out: {show(str(args.out))} is not valid; expected a folder that "
                          f"can be written ({exc.strerror or exc})") from None
    failed = int(frame["error"].notna().sum())
    print(f"\n{len(frame)} runs ({failed} failed) written to {args.out}/")
    if failed:
        print(f"seqsim: {failed} runs failed; their rows in runs.csv say why", file=sys.stderr)
    return 0
