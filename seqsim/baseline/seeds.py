"""Running a scenario once per seed, recording a baseline from the runs, checking a
scenario against its baseline, and where a scenario's baseline file is."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from seqsim.baseline.compare import compare_to_baseline
from seqsim.baseline.errors import BaselineError
from seqsim.baseline.file import (
    BASELINE_FORMAT,
    BASELINE_VERSION,
    Baseline,
    as_baseline,
    check_seeds,
    read_baseline,
    write_baseline,
)
from seqsim.baseline.identity import as_results, common_identity, fingerprint, plain_value
from seqsim.baseline.metrics import (
    EXACT_METRICS,
    SEED_SE,
    default_tolerance,
    parse_tolerance,
    round6,
    seed_metrics,
)
from seqsim.baseline.report import CheckReport
from seqsim.errors import ScenarioError
from seqsim.model.scenario import Scenario
from seqsim.results.result import Result
from seqsim.run.simulate import simulate
from seqsim.version import __version__

__all__ = [
    "baseline_candidates",
    "baseline_from_results",
    "baseline_path_for",
    "check_scenario",
    "record_baseline",
    "run_seeds",
]


def _load_scenario(scenario: Scenario | str | os.PathLike[str]) -> Scenario:
    """Return ``scenario``, loading it when it is the path of a scenario file.

    Raises:
        ScenarioError: it is neither; or the file is invalid.
    """
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, (str, os.PathLike)):
        return Scenario.from_toml(scenario)
    raise ScenarioError(
        f"scenario: {type(scenario).__name__} is not valid; expected a seqsim.Scenario or the "
        "path of a scenario TOML file"
    )


def run_seeds(
    scenario: Scenario,
    seeds: Iterable[int],
    *,
    engine: str | None = None,
) -> list[Result]:
    """Run ``scenario`` once per seed (``simulation.seed`` replaced); return the results."""
    return [
        simulate(scenario.with_overrides({"simulation.seed": seed}), engine=engine,
                 progress=False)
        for seed in seeds
    ]


# --------------------------------------------------------------------------- recording


def _tolerance_for(
    name: str,
    tolerances: Mapping[str, Any] | None,
    previous: Baseline | None,
) -> tuple[float, float]:
    """Return the ``(abs, rel)`` of metric ``name``: kept from ``previous``, else the
    first of ``tolerances`` that matches, else the default."""
    if previous is not None and name in previous.metrics:
        kept = previous.metrics[name]
        return kept.abs, kept.rel
    for pattern, spec in (tolerances or {}).items():
        if fnmatchcase(name, pattern):
            return parse_tolerance(pattern, spec)
    return default_tolerance(name)


def _check_tolerances(tolerances: Mapping[str, Any] | None, names: Iterable[str]) -> None:
    """Reject a tolerance that is invalid or whose pattern matches no metric in ``names``."""
    names = list(names)
    for pattern, spec in (tolerances or {}).items():
        parse_tolerance(pattern, spec)
        if not any(fnmatchcase(name, pattern) for name in names):
            raise BaselineError(
                f"tolerances[{pattern!r}]: matches no metric; expected a shell-style pattern "
                "over metric names, e.g. 'summary.lateness_*' or 'steps.*.completion_*'"
            )


def baseline_from_results(
    results: Sequence[Result],
    *,
    overrides: Mapping[str, Any] | None = None,
    tolerances: Mapping[str, Any] | None = None,
    previous: Baseline | None = None,
) -> dict[str, Any]:
    """Return baseline data (for :func:`write_baseline`) from the runs of each seed.

    Args:
        results: one run per seed, all of the same scenario.
        overrides: the ``--set`` overrides the runs applied to the scenario
            file; stored so a check applies them again.
        tolerances: ``{pattern: {"abs": a, "rel": r}}`` (shell-style patterns
            over metric names, first match wins) before :data:`DEFAULT_TOLERANCES`.
        previous: a baseline being re-recorded: the tolerances of its metrics
            are kept.

    Raises:
        BaselineError: the results are not runs of one scenario with distinct
            seeds; a tolerance is invalid or matches no metric.
    """
    results = as_results(results)
    identity = common_identity(results)
    seeds = check_seeds([r.scenario.simulation.seed for r in results])
    values = seed_metrics(results)
    _check_tolerances(tolerances, values)
    metrics: dict[str, dict[str, Any]] = {}
    for name, (value, sd, n) in values.items():
        absolute, relative = _tolerance_for(name, tolerances, previous)
        entry: dict[str, Any] = {"value": value, "abs": absolute, "rel": relative}
        if sd is not None:
            entry["seed_sd"] = sd
            if name not in EXACT_METRICS and (previous is None or name not in previous.metrics):
                # n: the seeds that have a value, over which the mean was taken.
                entry["abs"] = max(absolute, round6(SEED_SE * sd / math.sqrt(n)))
        metrics[name] = entry
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "seqsim_version": __version__,
        "fingerprint": fingerprint(identity),
        "scenario": identity,
        "seeds": seeds,
        "overrides": plain_value(dict(overrides or {})),
        "metrics": metrics,
    }


def record_baseline(
    scenario: Scenario | str | os.PathLike[str],
    seeds: Iterable[int] | None = None,
    tolerances: Mapping[str, Any] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    engine: str | None = None,
) -> dict[str, Any]:
    """Run a scenario (once per seed) and return its baseline data.

    Args:
        scenario: a :class:`~seqsim.Scenario` or the path of a scenario file.
        seeds: the seeds to run (default: the scenario's own seed).
        tolerances: ``{pattern: {"abs": a, "rel": r}}`` overriding
            :data:`DEFAULT_TOLERANCES` for the metrics a pattern matches.
        overrides: dotted-key overrides applied to the scenario first and
            stored in the baseline (e.g. a reduced size for CI).
        engine: ``"row"`` or ``"batch"`` (default: the scenario's); both give
            the same baseline.

    Returns:
        Plain data; write it with :func:`write_baseline`.
    """
    scn = _load_scenario(scenario)
    if overrides:
        scn = scn.with_overrides(overrides)
    seed_list = check_seeds([scn.simulation.seed] if seeds is None else seeds)
    results = run_seeds(scn, seed_list, engine=engine)
    return baseline_from_results(results, overrides=overrides, tolerances=tolerances)


# --------------------------------------------------------------------------- checking


def _previous_baseline(
    baseline: Baseline | str | os.PathLike[str], update: bool
) -> Baseline | None:
    """Return the baseline a check compares with (None: ``update`` and no file yet).

    Raises:
        BaselineError: ``update`` without a path; the baseline is invalid.
    """
    if not update:
        return as_baseline(baseline)
    if not isinstance(baseline, (str, os.PathLike)):
        raise BaselineError("baseline: --update needs the path of the baseline file")
    return read_baseline(baseline) if Path(baseline).exists() else None


def check_scenario(
    scenario: Scenario | str | os.PathLike[str],
    baseline: Baseline | str | os.PathLike[str],
    *,
    engine: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    update: bool = False,
) -> CheckReport:
    """Run a scenario for each seed of a baseline and compare (the ``seqsim check`` API).

    The baseline's stored ``overrides`` are applied to the scenario first,
    then ``overrides``. With ``update`` the baseline file is rewritten from
    these runs (same seeds and overrides; tolerances of existing metrics
    kept); ``baseline`` must then be a path, and need not exist yet.

    Returns:
        The :class:`CheckReport` of the comparison (with ``update`` and no
        previous file: an empty passing report).
    """
    scn = _load_scenario(scenario)
    label = str(scenario) if isinstance(scenario, (str, os.PathLike)) else None
    previous = _previous_baseline(baseline, update)
    stored = dict(previous.overrides) if previous is not None else {}
    if stored:
        try:
            scn = scn.with_overrides(stored)
        except ScenarioError as exc:
            raise BaselineError(f"{previous.path}: overrides: {exc}") from exc  # type: ignore[union-attr]
    if overrides:
        scn = scn.with_overrides(overrides)
    run_overrides = {**stored, **(overrides or {})}
    seeds = list(previous.seeds) if previous is not None else [scn.simulation.seed]
    results = run_seeds(scn, seeds, engine=engine)
    if previous is not None:
        report = compare_to_baseline(results, previous, scenario_label=label,
                                     strict=not update)
    else:
        report = CheckReport(rows=[], scenario_label=label, seeds=tuple(seeds), engine=engine)
    if update:
        data = baseline_from_results(results, overrides=run_overrides, previous=previous)
        write_baseline(baseline, data)  # type: ignore[arg-type]
        report.baseline_path = Path(baseline)  # type: ignore[arg-type]
        report.updated = True
    return report


# --------------------------------------------------------------------------- finding


def baseline_path_for(
    scenario_path: str | os.PathLike[str],
    baselines_dir: str | os.PathLike[str] | None = None,
    *,
    existing: bool = True,
) -> Path | None:
    """Return the baseline file of scenario file ``DIR/NAME.toml``.

    With ``baselines_dir``: ``baselines_dir/NAME.json``. Otherwise the first
    that exists of ``DIR/NAME.baseline.json`` (beside the scenario) and
    ``DIR/../baselines/NAME.json`` (the ``data/scenarios`` +
    ``data/baselines`` layout). None when none exists, unless ``existing`` is
    False: then where a new baseline goes (``../baselines/NAME.json`` when
    that folder exists, else beside the scenario).
    """
    p = Path(scenario_path)
    if baselines_dir is not None:
        candidate = Path(baselines_dir) / f"{p.stem}.json"
        return candidate if candidate.exists() or not existing else None
    beside, shared = baseline_candidates(p)
    for candidate in (beside, shared):
        if candidate.exists():
            return candidate
    if existing:
        return None
    return shared if shared.parent.is_dir() else beside


def baseline_candidates(scenario_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return where the baseline of ``DIR/NAME.toml`` is looked for, in order:
    ``DIR/NAME.baseline.json`` and ``DIR/../baselines/NAME.json``."""
    p = Path(scenario_path)
    beside = p.with_name(f"{p.stem}.baseline.json")
    shared = Path(os.path.normpath(p.parent / ".." / "baselines")) / f"{p.stem}.json"
    return beside, shared
