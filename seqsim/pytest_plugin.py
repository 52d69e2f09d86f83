"""pytest plugin: seqsim fixtures for a project's own test suite.

Installed with seqsim (entry point ``pytest11: seqsim``), so any test can ask
for the fixtures without importing anything::

    def test_campaign_still_on_time(seqsim_check):
        seqsim_check("scenarios/campaign.toml")   # baseline: ../baselines/campaign.json

    def test_three_devices_are_enough(seqsim_run):
        result = seqsim_run("scenarios/campaign.toml", {"capacity.devices": 3})
        assert result.summary["lateness_p95_s"] < 3600

Fixtures:

- ``seqsim_run(scenario, overrides=None, *, engine=None, invariants=True)``:
  run a scenario (a path or a :class:`seqsim.Scenario`), assert its
  invariants (:func:`seqsim.testing.assert_invariants`), return the Result.
- ``seqsim_check(scenario, baseline=None, *, engine=None, overrides=None)``:
  run a scenario for each seed of its baseline and fail the test with the
  table of metrics that moved (or the invariants broken); returns the
  :class:`seqsim.baseline.CheckReport`. The baseline defaults to
  ``NAME.baseline.json`` beside ``NAME.toml`` or ``../baselines/NAME.json``.

Relative paths are tried from the working directory, then from the pytest
root directory. ``pytest --seqsim-update`` rewrites (or creates) the baselines
that ``seqsim_check`` uses instead of comparing, as ``seqsim check --update`` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

__all__ = ["pytest_addoption", "seqsim_check", "seqsim_run"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seqsim", "seqsim simulation checks")
    group.addoption(
        "--seqsim-update",
        action="store_true",
        default=False,
        help="seqsim_check rewrites (or creates) its baseline files instead of comparing",
    )


def _resolve(path: str | os.PathLike[str], config: pytest.Config) -> Path:
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    rooted = Path(config.rootpath) / p
    return rooted if rooted.exists() else p


@pytest.fixture
def seqsim_run(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Return ``run(scenario, overrides=None, *, engine=None, invariants=True) -> Result``."""

    def run(
        scenario: Any,
        overrides: Mapping[str, Any] | None = None,
        *,
        engine: str | None = None,
        invariants: bool = True,
    ) -> Any:
        __tracebackhide__ = True
        from seqsim import Scenario, SeqsimError, simulate
        from seqsim.testing import assert_invariants

        try:
            scn = scenario if isinstance(scenario, Scenario) else Scenario.from_toml(
                _resolve(scenario, request.config))
            if overrides:
                scn = scn.with_overrides(overrides)
            result = simulate(scn, engine=engine, progress=False)
        except SeqsimError as exc:
            pytest.fail(f"seqsim: error: {exc}", pytrace=False)
        if invariants:
            assert_invariants(result)
        return result

    return run


@pytest.fixture
def seqsim_check(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Return ``check(scenario, baseline=None, *, engine=None, overrides=None) -> CheckReport``."""

    def check(
        scenario: str | os.PathLike[str],
        baseline: str | os.PathLike[str] | None = None,
        *,
        engine: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Any:
        __tracebackhide__ = True
        from seqsim import SeqsimError
        from seqsim.baseline import baseline_candidates, baseline_path_for, check_scenario

        update = bool(request.config.getoption("seqsim_update"))
        path = _resolve(scenario, request.config)
        if baseline is None:
            found = baseline_path_for(path, existing=not update)
            if found is None:
                beside, shared = baseline_candidates(path)
                pytest.fail(
                    f"seqsim: no baseline for {path} (looked for {beside} and {shared}); "
                    f"record one with `seqsim baseline {path}` or run pytest --seqsim-update",
                    pytrace=False,
                )
            baseline_file = found
        else:
            baseline_file = _resolve(baseline, request.config)
        try:
            report = check_scenario(path, baseline_file, engine=engine, overrides=overrides,
                                    update=update)
        except SeqsimError as exc:
            pytest.fail(f"seqsim: error: {exc}", pytrace=False)
        if not update and not report.ok:
            pytest.fail(report.format(), pytrace=False)
        return report

    return check
