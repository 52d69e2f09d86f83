"""The runs of a sweep: a grid of scenario keys times seeds, validated before any run.

`plan_sweep` turns ``grid`` (dotted keys as in `Scenario.with_overrides`, each
with a list of values) and ``seeds`` into one `PlannedRun` per grid point and
seed, in a fixed order: grid points in the cartesian order of the grid's keys
and values, seeds inside each point. Every value is checked on its own first,
then every combination, so a bad grid fails with one `ScenarioError` before a
single run starts.

A run's ``run_id`` is a digest of the scenario it simulates (seed included):
the same run gets the same id in any sweep, which is what lets a re-run
resume, and a changed base scenario gets new ids instead of stale rows.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seqsim.errors import ScenarioError
from seqsim.model.scenario import Scenario
from seqsim.validation import MAX_SEED, fail, is_int, show, show_key

__all__ = ["PlannedRun", "grid_values", "plan_sweep", "point_label"]

#: Varied by ``seeds=``, never by the grid: a grid point is every seed's configuration.
_SEED_KEY = "simulation.seed"


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep.

    Attributes:
        run_id: 12 hex digits identifying the simulated scenario and seed.
        point: index of the grid point (0-based, grid order).
        seed: the run's ``simulation.seed``.
        values: the grid point, key -> value, in grid order.
        scenario: the scenario to simulate (base + the point's values + seed).
    """

    run_id: str
    point: int
    seed: int
    values: tuple[tuple[str, Any], ...]
    scenario: Scenario


def grid_values(value: Any) -> Any:
    """Return a grid value as a frame cell: lists become tuples (hashable, groupable)."""
    if isinstance(value, list | tuple):
        return tuple(grid_values(v) for v in value)
    return value


def point_label(values: Sequence[tuple[str, Any]]) -> str:
    """Return ``key=value, key=value`` for a grid point (error messages, tables)."""
    return ", ".join(f"{key}={_grid_text(value)}" for key, value in values)


def _grid_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(_grid_text(v) for v in value) + "]"
    return str(value)


def _grid_error(key: Any, value: Any, exc: ScenarioError) -> ScenarioError:
    """Return the rejection of one grid value, naming the key and the value once."""
    text = str(exc)
    if show(value) in text and text.startswith(show_key(key)):
        return ScenarioError(f"grid {text}")
    return ScenarioError(f"grid {show_key(key)} = {show(value)}: {text}")


def _check_grid(base: Scenario, grid: Any) -> list[tuple[str, list[Any]]]:
    """Return the grid as (key, values) pairs after checking each value on its own.

    Raises:
        ScenarioError: not a mapping, an empty or non-list entry, a repeated
            value, the seed as a key, or a key/value `with_overrides` rejects.
    """
    if not isinstance(base, Scenario):
        raise fail("base", base, "a seqsim.Scenario (load one with Scenario.from_toml)")
    if not isinstance(grid, Mapping) or not grid:
        raise fail("grid", grid, "a non-empty mapping of scenario keys to lists of values, "
                   "e.g. {'capacity.devices': [20, 30]}")
    pairs = []
    for key, values in grid.items():
        name = f"grid[{show_key(key)}]"
        if key == _SEED_KEY:
            raise fail(name, values, "no grid over the seed; pass seeds= instead")
        if not isinstance(values, list | tuple) or not values:
            raise fail(name, values, "a non-empty list of values for that key")
        seen = []
        for value in values:
            if grid_values(value) in seen:
                raise fail(name, value, "each value once")
            seen.append(grid_values(value))
            try:
                base.with_overrides({key: value})
            except ScenarioError as exc:
                raise _grid_error(key, value, exc) from None
        pairs.append((key, list(values)))
    return pairs


def _check_seeds(base: Scenario, seeds: Any) -> list[int]:
    """Return the seeds of every grid point: ``seeds`` itself, or n seeds from the base's.

    Raises:
        ScenarioError: not an integer >= 1 nor a non-empty list of distinct seeds.
    """
    if is_int(seeds):
        if seeds < 1:
            raise fail("seeds", seeds, "an integer >= 1 (runs per grid point) or a list of seeds")
        first = base.simulation.seed
        if first + seeds - 1 > MAX_SEED:
            raise fail("seeds", seeds, f"at most {MAX_SEED - first + 1:,} from seed {first}")
        return list(range(first, first + int(seeds)))
    if not isinstance(seeds, list | tuple) or not seeds:
        raise fail("seeds", seeds, "an integer >= 1 (runs per grid point) or a list of seeds")
    for seed in seeds:
        if not is_int(seed) or not 0 <= seed <= MAX_SEED:
            raise fail("seeds", seed, f"seeds from 0 to {MAX_SEED:,}")
    if len(set(seeds)) < len(seeds):
        raise fail("seeds", list(seeds), "each seed once")
    return [int(s) for s in seeds]


def _run_id(scenario: Scenario) -> str:
    return hashlib.sha256(scenario.to_toml().encode("utf-8")).hexdigest()[:12]


def plan_sweep(base: Scenario, grid: Any, seeds: Any) -> list[PlannedRun]:
    """Return every run of the sweep, grid points in order and seeds inside each.

    ``seeds``: an integer n (the base scenario's seed and the n - 1 after it)
    or a list of seeds. The same seeds are used at every grid point, which is
    what pairs runs across points (common random numbers).

    Raises:
        ScenarioError: naming the key and value (or ``seeds``) of a bad grid;
            a combination of valid values the scenario rejects names the point.
    """
    pairs = _check_grid(base, grid)
    seed_list = _check_seeds(base, seeds)
    runs = []
    for point, combo in enumerate(itertools.product(*(values for _, values in pairs))):
        values = tuple((key, value) for (key, _), value in zip(pairs, combo, strict=True))
        try:
            scenario = base.with_overrides(dict(values))
        except ScenarioError as exc:
            raise ScenarioError(f"grid point {point_label(values)}: {exc}") from None
        for seed in seed_list:
            seeded = scenario.with_overrides({_SEED_KEY: seed})
            runs.append(PlannedRun(_run_id(seeded), point, seed,
                                   tuple((k, grid_values(v)) for k, v in values), seeded))
    return runs
