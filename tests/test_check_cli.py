"""`seqsim baseline` and `seqsim check`: exit 0 when within tolerance, 1 on a
regression, 2 on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seqsim.cli.main import main
from tests.ci_helpers import BURST, TINY, break_engine, write_burst

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The BURST scenario and its baseline, recorded once (copy before editing)."""
    folder = tmp_path_factory.mktemp("recorded")
    scenario = write_burst(folder)
    assert main(["baseline", str(scenario), "--out", str(folder / "burst.json")]) == EXIT_OK
    return scenario, folder / "burst.json"


@pytest.fixture
def files(recorded: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    scenario, baseline = recorded
    return (Path(shutil.copy(scenario, tmp_path / "burst.toml")),
            Path(shutil.copy(baseline, tmp_path / "burst.json")))


def check(*args: object) -> int:
    return main(["check", *map(str, args)])


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("seqsim: error:"), err
    return lines[0]


def test_baseline_command_writes_sorted_json(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, _ = files
    out = scenario.parent / "new" / "b.json"
    assert main(["baseline", str(scenario), "--out", str(out)]) == EXIT_OK
    assert f"baseline written to {out}" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert list(data) == sorted(data)
    assert "summary.messages_sent" in data["metrics"]


def test_check_passes_on_a_second_run(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, baseline = files
    assert check(scenario, "--baseline", baseline) == EXIT_OK
    out = capsys.readouterr().out
    assert "PASS" in out and "scenario changed" not in out


def test_check_row_engine_at_small_size_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = write_burst(tmp_path)
    baseline = tmp_path / "tiny.json"
    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    assert main(["baseline", str(scenario), "--out", str(baseline), *sets]) == EXIT_OK
    assert json.loads(baseline.read_text())["overrides"] == TINY
    capsys.readouterr()
    assert check(scenario, "--baseline", baseline, "--engine", "row") == EXIT_OK
    out = capsys.readouterr().out
    assert "PASS" in out and "engine row" in out and "scenario changed" not in out
    # a scenario file that names the row engine is the same scenario
    row_file = write_burst(tmp_path, "row", BURST.replace('engine = "batch"', 'engine = "row"'))
    assert check(row_file, "--baseline", baseline) == EXIT_OK
    assert "scenario changed" not in capsys.readouterr().out


def test_one_device_removed_fails_with_a_table(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, baseline = files
    assert check(scenario, "--baseline", baseline, "--set", "capacity.devices=3") == (
        EXIT_REGRESSION)
    out = capsys.readouterr().out
    assert "scenario changed since baseline" in out
    assert "capacity.devices: 4 -> 3" in out
    header = next(line for line in out.splitlines() if line.strip().startswith("metric"))
    assert header.split() == ["metric", "baseline", "now", "change", "tolerance"]
    assert "summary.lateness_max_s" in out
    assert "FAIL" in out


def test_step_delay_changed_by_an_hour_fails(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, baseline = files
    scenario.write_text(BURST.replace("delay_hours = [0, 6, 12]", "delay_hours = [0, 6, 13]"))
    assert check(scenario, "--baseline", baseline) == EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "sequences.COLD.delay_hours: [0, 6, 12] -> [0, 6, 13]" in out
    assert "steps.COLD.day3.completion_p50_h" in out
    assert "summary.mean_completion_hours" in out


def test_broken_engine_fails_naming_the_invariant(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, baseline = files
    break_engine(monkeypatch)
    assert check(scenario, "--baseline", baseline) == EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "summary.max_active_rows_per_contact" in out
    assert "INVARIANT BROKEN" in out and "more than one active row" in out
    assert "scenario changed" not in out


def test_verbose_prints_every_metric(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, baseline = files
    assert check(scenario, "--baseline", baseline, "--verbose") == EXIT_OK
    out = capsys.readouterr().out
    assert "daily.2025-07-02.sent" in out and "steps.COLD.day2.lateness_p95_s" in out


def test_update_rewrites_deliberately(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, baseline = files
    scenario.write_text(BURST.replace("devices = 4", "devices = 3"))
    assert check(scenario, "--baseline", baseline) == EXIT_REGRESSION
    capsys.readouterr()
    assert check(scenario, "--baseline", baseline, "--update") == EXIT_OK
    out = capsys.readouterr().out
    assert f"baseline updated: {baseline}" in out
    assert "summary.lateness_max_s" in out  # what moved is shown when updating
    assert json.loads(baseline.read_text())["scenario"]["capacity"]["devices"] == 3
    assert check(scenario, "--baseline", baseline) == EXIT_OK


def test_baseline_refuses_to_overwrite(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, baseline = files
    before = baseline.read_text()
    assert main(["baseline", str(scenario), "--out", str(baseline)]) == EXIT_BAD_INPUT
    assert "--update" in error_line(capsys.readouterr().err)
    assert baseline.read_text() == before
    assert main(["baseline", str(scenario), "--out", str(baseline), "--force"]) == EXIT_OK


def test_baseline_with_several_seeds(tmp_path: Path) -> None:
    scenario = write_burst(tmp_path)
    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    out = tmp_path / "seeds.json"
    assert main(["baseline", str(scenario), "--out", str(out), "--seeds", "2", *sets]) == 0
    data = json.loads(out.read_text())
    assert data["seeds"] == [7, 8]
    assert "seed_sd" in data["metrics"]["summary.messages_sent"]
    assert check(scenario, "--baseline", out) == EXIT_OK


# ------------------------------------------------------------------ bad input: exit 2


def _corrupt(path: Path) -> None:
    path.write_text(path.read_text()[:-40])


def _drop_metric(path: Path) -> None:
    data = json.loads(path.read_text())
    del data["metrics"]["summary.lateness_p95_s"]
    path.write_text(json.dumps(data))


def _wrong_type(path: Path) -> None:
    data = json.loads(path.read_text())
    data["metrics"]["summary.messages_sent"]["abs"] = "5"
    path.write_text(json.dumps(data))


def _drop_step_metric(path: Path) -> None:
    data = json.loads(path.read_text())
    del data["metrics"]["steps.COLD.day2.lateness_p95_s"]
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_corrupt, "invalid JSON at line"),
        (_drop_metric, "metrics.summary.lateness_p95_s: missing"),
        (_wrong_type, 'metrics.summary.messages_sent.abs: "5" is not valid; expected a finite '
                      "number"),
        (_drop_step_metric, "metrics.steps.COLD.day2.lateness_p95_s: missing; the scenario is "
                            "unchanged"),
    ],
)
def test_spoiled_baseline_exits_2(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], spoil, message: str
) -> None:
    scenario, baseline = files
    spoil(baseline)
    assert check(scenario, "--baseline", baseline) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    line = error_line(captured.err)
    assert str(baseline) in line and message in line
    assert "PASS" not in captured.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.toml", "--baseline", "{baseline}"], "nope.toml: file not found"),
        (["{scenario}", "--baseline", "missing.json"], "missing.json: file not found"),
        (["{scenario}"], "no baseline found"),
        (["{scenario}", "--baseline", "{baseline}", "--set", "capacity.devices=0"],
         "capacity.devices: 0 is not valid"),
        (["{scenario}", "--baseline", "{baseline}", "--engine", "fast"], "invalid choice"),
        (["{folder}", "--baseline", "{baseline}"], "is not valid with a folder"),
    ],
)
def test_bad_arguments_exit_2(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    scenario, baseline = files
    fill = {"scenario": scenario, "baseline": baseline, "folder": scenario.parent}
    assert check(*[a.format(**fill) for a in args]) == EXIT_BAD_INPUT
    assert message in error_line(capsys.readouterr().err)


# ------------------------------------------------------------------ folders


@pytest.fixture
def project(recorded: tuple[Path, Path], tmp_path: Path) -> Path:
    """A data/ layout: scenarios/{a,b,c}.toml, baselines for a and b."""
    scenario, baseline = recorded
    scenarios, baselines = tmp_path / "scenarios", tmp_path / "baselines"
    scenarios.mkdir()
    baselines.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(scenario, scenarios / f"{name}.toml")
    for name in ("a", "b"):
        shutil.copy(baseline, baselines / f"{name}.json")
    return tmp_path


def test_check_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(project / "scenarios") == EXIT_OK
    out = capsys.readouterr().out
    assert out.count("PASS") == 2
    assert "c.toml: no baseline, skipped" in out
    assert "2 scenarios checked: 2 passed, 0 failed, 0 bad input" in out


def test_check_folder_with_a_regression_and_a_bad_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "scenarios" / "a.toml").write_text(BURST.replace("devices = 4", "devices = 3"))
    assert check(project / "scenarios") == EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "1 passed, 1 failed" in out and "capacity.devices: 4 -> 3" in out
    _corrupt(project / "baselines" / "b.json")
    assert check(project / "scenarios") == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert "0 passed, 1 failed, 1 bad input" in captured.out
    assert "b.json: invalid JSON" in captured.err


def test_check_folder_with_baselines_elsewhere(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = project / "other"
    shutil.copytree(project / "baselines", other)
    (other / "a.json").unlink()
    assert check(project / "scenarios", "--baselines", other) == EXIT_OK
    assert "1 scenario checked: 1 passed" in capsys.readouterr().out


def test_check_folder_without_any_baseline(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(project / "baselines")
    assert check(project / "scenarios") == EXIT_BAD_INPUT
    assert "no scenario here has a baseline" in error_line(capsys.readouterr().err)
