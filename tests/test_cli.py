"""The `seqsim` command line (seqsim.cli.main.main and the installed console script)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from seqsim import load_result
from seqsim.cli.main import main
from seqsim.testing import assert_invariants

TINY = """
[simulation]
start = "2025-07-01T00:00:00"
duration = "2h"
poll_interval = "1m"
seed = 5

[[sequences]]
name = "COLD"
trigger = "cold"
days = [1, 2]
delay_hours = [0, 1]

[[workload]]
kind = "constant"
trigger = "cold"
rate_per_hour = 4
end = "2025-07-01T01:00:00"

[capacity]
devices = 3
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("seqsim: error:"), err
    return lines[0]


def test_run_prints_summary_and_writes_results(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(scenario_file), "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith("seqsim run: 2025-07-01 00:00 UTC")
    for label in ("contacts enrolled", "messages sent", "peak backlog", "lateness p95",
                  "mean completion time", "polls (run / total)"):
        assert label in stdout
    assert f"results written to {out}" in stdout
    result = load_result(out)
    assert_invariants(result)
    assert result.summary["contacts_enrolled"] == 4
    assert re.search(r"^  contacts enrolled +4$", stdout, re.MULTILINE)


def test_run_without_out_writes_nothing(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(tmp_path.iterdir())
    assert main(["run", str(scenario_file), "--no-progress"]) == 0
    assert "results written to" not in capsys.readouterr().out
    assert sorted(tmp_path.iterdir()) == before


def test_set_overrides_apply(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["run", str(scenario_file), "--out", str(out), "--set", "capacity.devices=2",
            "--set", "simulation.seed=9", "--set", "policy.progress_on=queue", "--no-progress"]
    assert main(argv) == 0
    assert "seed 9" in capsys.readouterr().out
    result = load_result(out)
    assert result.scenario.capacity.devices == 2
    assert result.scenario.policy.progress_on == "queue"
    assert set(result.sends["device_id"]) == {"dev-001", "dev-002"}


def test_engine_flag(scenario_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(scenario_file), "--engine", "row", "--no-progress"]) == 0
    assert "engine row" in capsys.readouterr().out


def test_bad_engine_flag(scenario_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(scenario_file), "--engine", "warp"]) == 2
    assert "warp" in error_line(capsys.readouterr().err)


def test_bad_key_in_set(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["run", str(scenario_file), "--out", str(out), "--set", "capacity.devicez=2"])
    assert code == 2
    captured = capsys.readouterr()
    line = error_line(captured.err)
    assert "capacity.devicez" in line
    assert "devices" in line  # the did-you-mean
    assert captured.out == ""
    assert not out.exists()


def test_bad_value_in_set(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", str(scenario_file), "--out", str(out), "--set", "capacity.devices=0"]) == 2
    assert "capacity.devices" in error_line(capsys.readouterr().err)
    assert not out.exists()


def test_missing_equals_in_set(scenario_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(scenario_file), "--set", "capacity.devices"]) == 2
    assert "--set" in error_line(capsys.readouterr().err)


def test_missing_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "nope.toml"), "--out", str(out)]) == 2
    assert "nope.toml" in error_line(capsys.readouterr().err)
    assert not out.exists()


def test_invalid_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace("devices = 3", "devices = -1"))
    assert main(["run", str(path)]) == 2
    assert "capacity.devices" in error_line(capsys.readouterr().err)


def test_no_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    error_line(capsys.readouterr().err)


def test_unknown_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fly"]) == 2
    assert "fly" in error_line(capsys.readouterr().err)


def test_out_over_foreign_directory(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert main(["run", str(scenario_file), "--out", str(out), "--no-progress"]) == 2
    assert "not a seqsim result directory" in error_line(capsys.readouterr().err)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_installed_console_script(scenario_file: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "seqsim"
    assert script.exists(), f"console script not installed at {script}"
    out = tmp_path / "out"
    proc = subprocess.run(
        [str(script), "run", str(scenario_file), "--out", str(out), "--set",
         "capacity.devices=2"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "messages sent" in proc.stdout
    assert "results written to" in proc.stdout
    assert load_result(out).scenario.capacity.devices == 2

    bad = subprocess.run(
        [str(script), "run", str(scenario_file), "--set", "capacity.nope=1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
    )
    assert bad.returncode == 2
    assert error_line(bad.stderr)
    assert "Traceback" not in bad.stderr
