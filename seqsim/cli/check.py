"""The ``seqsim baseline`` and ``seqsim check`` commands (regression checks for CI).

A thin layer over :mod:`seqsim.baseline`. Exit status of ``check``: 0 when
every metric is within tolerance and the invariants hold, 1 when something
moved (the table of what moved is printed), 2 on bad input (a missing or
invalid scenario or baseline file, a bad flag).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from seqsim.baseline import (
    baseline_candidates,
    baseline_path_for,
    check_scenario,
    record_baseline,
    write_baseline,
)
from seqsim.engine.registry import ENGINES
from seqsim.errors import ScenarioError, SeqsimError
from seqsim.model.overrides import parse_override
from seqsim.model.scenario import Scenario

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_REGRESSION", "add_commands"]

EXIT_OK = 0
EXIT_REGRESSION = 1
#: Bad input (a scenario key, a flag, a baseline file): one line on stderr.
EXIT_BAD_INPUT = 2

_LOOKUP = "NAME.baseline.json beside DIR/NAME.toml, or DIR/../baselines/NAME.json"


def add_commands(sub: Any) -> None:
    """Add the ``baseline`` and ``check`` subcommands to an argparse subparsers object.

    Each sets ``handler`` (called with the parsed arguments, returning the exit
    status) as a default.
    """
    base = sub.add_parser(
        "baseline", help="run a scenario and record its KPIs as a regression baseline",
        description="Run a scenario and write a baseline JSON file that `seqsim check` "
        "compares later runs with.",
    )
    base.add_argument("scenario", type=Path, help="scenario TOML file")
    base.add_argument(
        "--out", type=Path,
        help=f"baseline file to write (default: an existing one, else {_LOOKUP} "
        "when that folder exists, else beside the scenario)",
    )
    base.add_argument(
        "--seeds", default=None, metavar="N|S1,S2,...",
        help="run N seeds from the scenario's seed on (or the listed seeds) and record the "
        "mean, with tolerances widened by the spread (default: the scenario's seed only)",
    )
    _add_common(base)
    base.add_argument("--force", action="store_true",
                      help="overwrite an existing baseline (its edited tolerances are lost)")
    base.set_defaults(handler=_baseline)

    check = sub.add_parser(
        "check", help="run scenarios and compare them with their baselines",
        description="Run a scenario (or every scenario in a folder that has a baseline) and "
        "compare with the baseline. Exit 0 within tolerance, 1 when a metric moved or an "
        "invariant broke, 2 on bad input.",
    )
    check.add_argument("path", type=Path, help="scenario TOML file, or a folder of them")
    check.add_argument("--baseline", type=Path, help=f"baseline file (default: {_LOOKUP})")
    check.add_argument("--baselines", type=Path, metavar="DIR",
                       help="look for NAME.json in this folder instead")
    check.add_argument(
        "--update", action="store_true",
        help="rewrite the baseline from this run (same seeds and overrides; edited "
        "tolerances kept)",
    )
    check.add_argument("--verbose", "-v", action="store_true",
                       help="print every metric, not only those that moved")
    _add_common(check)
    check.set_defaults(handler=_check)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set capacity.devices=4 (repeatable)",
    )
    parser.add_argument("--engine", choices=tuple(ENGINES),
                        help="advance engine (default: the scenario's; both give the same "
                        "results)")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return dict(parse_override(o) for o in args.overrides)


def _parse_seeds(text: str | None, scenario: Scenario) -> list[int] | None:
    if text is None:
        return None
    expected = "a count N >= 1 or a comma-separated list of seeds, e.g. --seeds 3 or 1,2,5"
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise ScenarioError(f"--seeds: {text!r} is not valid; expected {expected}")
    numbers = [int(p) for p in parts]
    if len(numbers) == 1:
        if numbers[0] < 1:
            raise ScenarioError(f"--seeds: {text!r} is not valid; expected {expected}")
        first = scenario.simulation.seed
        return list(range(first, first + numbers[0]))
    if len(set(numbers)) != len(numbers):
        raise ScenarioError(f"--seeds: {text!r} is not valid; expected distinct seeds")
    return numbers


def _baseline(args: argparse.Namespace) -> int:
    scenario = Scenario.from_toml(args.scenario)
    overrides = _overrides(args)
    seeds = _parse_seeds(args.seeds, scenario.with_overrides(overrides) if overrides
                         else scenario)
    out = args.out or baseline_path_for(args.scenario, existing=False)
    assert out is not None
    if out.exists() and not args.force:
        raise ScenarioError(
            f"--out: {str(out)!r} exists; re-record it with `seqsim check {args.scenario} "
            f"--baseline {out} --update` (keeps its seeds, overrides and tolerances) or pass "
            "--force to start afresh"
        )
    data = record_baseline(scenario, seeds, overrides=overrides, engine=args.engine)
    path = write_baseline(out, data)
    seed_text = ", ".join(map(str, data["seeds"]))
    print(f"baseline written to {path}: {len(data['metrics'])} metrics, seeds {seed_text}, "
          f"scenario {data['fingerprint']}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    if args.path.is_dir():
        if args.baseline is not None:
            raise ScenarioError(
                f"--baseline: {str(args.baseline)!r} is not valid with a folder; expected "
                "--baselines DIR (or one scenario file)"
            )
        return _check_dir(args)
    if not args.path.exists():
        raise ScenarioError(
            f"{args.path}: file not found; expected a scenario TOML file or a folder of them"
        )
    baseline = args.baseline or baseline_path_for(args.path, args.baselines,
                                                  existing=not args.update)
    if baseline is None:
        raise ScenarioError(
            f"{args.path}: no baseline found (looked for "
            f"{_candidates(args.path, args.baselines)}); record one with "
            f"`seqsim baseline {args.path}` or pass --baseline FILE"
        )
    return _check_one(args, args.path, baseline)


def _candidates(path: Path, baselines: Path | None) -> str:
    if baselines is not None:
        return str(baselines / f"{path.stem}.json")
    beside, shared = baseline_candidates(path)
    return f"{beside} and {shared}"


def _check_one(args: argparse.Namespace, scenario: Path, baseline: Path) -> int:
    report = check_scenario(scenario, baseline, engine=args.engine,
                            overrides=_overrides(args), update=args.update)
    if report.rows:
        print(report.format(verbose=args.verbose))
    if args.update:
        print(f"baseline updated: {baseline}")
        return EXIT_OK
    return EXIT_OK if report.ok else EXIT_REGRESSION


def _check_dir(args: argparse.Namespace) -> int:
    scenarios = sorted(args.path.glob("*.toml"))
    if not scenarios:
        raise ScenarioError(f"{args.path}: no scenario (*.toml) in this folder")
    pairs = [(s, baseline_path_for(s, args.baselines)) for s in scenarios]
    checked = [(s, b) for s, b in pairs if b is not None]
    if not checked:
        raise ScenarioError(
            f"{args.path}: no scenario here has a baseline (looked for "
            f"{'DIR/NAME.json' if args.baselines else _LOOKUP}); record one with "
            "`seqsim baseline SCENARIO`"
        )
    status = {EXIT_OK: 0, EXIT_REGRESSION: 0, EXIT_BAD_INPUT: 0}
    for scenario, baseline in pairs:
        if baseline is None:
            print(f"seqsim check: {scenario}: no baseline, skipped")
            continue
        try:
            code = _check_one(args, scenario, baseline)
        except SeqsimError as exc:
            print(f"seqsim: error: {exc}", file=sys.stderr)
            code = EXIT_BAD_INPUT
        status[code] += 1
    print(
        f"seqsim check: {len(checked)} scenario{'s' if len(checked) != 1 else ''} checked: "
        f"{status[EXIT_OK]} passed, {status[EXIT_REGRESSION]} failed, "
        f"{status[EXIT_BAD_INPUT]} bad input"
    )
    if status[EXIT_BAD_INPUT]:
        return EXIT_BAD_INPUT
    return EXIT_REGRESSION if status[EXIT_REGRESSION] else EXIT_OK
