"""Every shipped scenario has a baseline in data/baselines/, and still matches it.

`seqsim check data/scenarios` finds data/baselines/NAME.json for
data/scenarios/NAME.toml; the policy comparison set and the fault scenarios
keep their baselines beside their scenarios (data/scenarios/policies/ and
data/scenarios/faults/NAME.baseline.json). All run at full size (about 15 s
on the batch engine together, and about 5 s for the tiny fault scenarios on
the row engine). After a deliberate change to a
scenario or the engine, re-record with `make baselines` and review the diff of
the baseline files in the pull request.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqsim import Scenario
from seqsim.baseline import baseline_path_for, read_baseline, scenario_fingerprint
from seqsim.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
#: Shipped scenarios too large for ``make test`` (a minute and 5 GiB): no baseline, so
#: ``seqsim check`` skips them; tests/test_production_month.py runs a slice.
TOO_LARGE = ("production_month",)
SCENARIOS = sorted(p for p in (ROOT / "data" / "scenarios").glob("*.toml")
                   if p.stem not in TOO_LARGE)
POLICIES = sorted((ROOT / "data" / "scenarios" / "policies").glob("*.toml"))
FAULTS = sorted((ROOT / "data" / "scenarios" / "faults").glob("*.toml"))


@pytest.mark.parametrize("scenario", SCENARIOS + POLICIES + FAULTS, ids=lambda p: p.stem)
def test_every_scenario_has_a_current_baseline(scenario: Path) -> None:
    path = baseline_path_for(scenario)
    if scenario in POLICIES or scenario in FAULTS:
        assert path == scenario.with_name(f"{scenario.stem}.baseline.json")
    else:
        assert path == ROOT / "data" / "baselines" / f"{scenario.stem}.json"
    baseline = read_baseline(path)
    assert baseline.overrides == {}, "shipped baselines are recorded at full size"
    assert baseline.fingerprint == scenario_fingerprint(Scenario.from_toml(scenario)), (
        f"{scenario.name} changed since its baseline: run `seqsim check {scenario} --update`"
    )


def test_shipped_scenarios_match_their_baselines(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", str(ROOT / "data" / "scenarios")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{len(SCENARIOS)} scenarios checked: {len(SCENARIOS)} passed" in out
    for name in TOO_LARGE:
        assert f"{name}.toml: no baseline, skipped" in out


def test_policy_scenarios_match_their_baselines(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", str(ROOT / "data" / "scenarios" / "policies")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{len(POLICIES)} scenarios checked: {len(POLICIES)} passed" in out


def test_fault_scenarios_match_their_baselines(capsys: pytest.CaptureFixture[str]) -> None:
    # They break invariants on purpose: the check passes, the metrics say how much.
    status = main(["check", str(ROOT / "data" / "scenarios" / "faults")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{len(FAULTS)} scenarios checked: {len(FAULTS)} passed" in out
    assert len(FAULTS) == 6
