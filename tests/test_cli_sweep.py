"""`seqsim sweep`, `seqsim run --seed` and `seqsim compare --label` (seqsim.cli.main.main)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from seqsim.cli.main import main
from seqsim.cli.sweep import parse_grid
from tests.test_sweep import tiny


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(tiny().to_toml())
    return path


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqsim: error:"), err
    return lines[0]


def test_grid_values_read_like_set_values() -> None:
    assert parse_grid(["capacity.devices=1,2", "sequences.COLD.days=[1,3,6,9],[1,2,4,8]",
                       "simulation.duration=1d,36h"]) == {
        "capacity.devices": [1, 2], "sequences.COLD.days": [[1, 3, 6, 9], [1, 2, 4, 8]],
        "simulation.duration": ["1d", "36h"]}


def test_sweep_prints_intervals_and_writes_the_frames(scenario: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    argv = ["sweep", str(scenario), "--grid", "capacity.devices=1,2", "--seeds", "3",
            "--workers", "1", "--out", str(out), "--metric", "messages_sent",
            "--reference", "capacity.devices=2", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "against capacity.devices=2" in printed and "messages_sent:" in printed
    assert "capacity.devices=1  n=3   mean " in printed
    runs = pd.read_csv(out / "runs.csv")
    summary = pd.read_csv(out / "summary.csv")
    assert len(runs) == 6 and list(summary["capacity.devices"]) == [1, 2]
    assert len((out / "runs.jsonl").read_text().splitlines()) == 6
    # Again: every run is finished, the table is the same.
    assert main(argv) == 0
    assert capsys.readouterr().out == printed


@pytest.mark.parametrize(("extra", "message"), [
    (["--grid", "capacity.devices"], r"--grid: 'capacity.devices' is not valid; expected key="),
    (["--grid", "capacity.devices=1,,2"], r"none empty"),
    (["--grid", "capacity.devices=1,0"], r"grid capacity.devices: 0 is not valid"),
    (["--grid", "capacity.devices=1", "--seeds", "0"], r"seeds: 0 is not valid"),
    (["--grid", "capacity.devices=1", "--workers", "2", "--scheduler", "tcp://x:1"],
     r"not allowed with argument"),
    (["--grid", "capacity.devices=1", "--reference", "capacity.hourly_limit=3"],
     r"--reference: 'capacity.hourly_limit' is not valid; expected a --grid key"),
])
def test_bad_sweep_input_is_one_line_exit_2(scenario: Path, tmp_path: Path, extra: list[str],
                                            message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", str(scenario), "--out", str(out), *extra]) == 2
    assert re.search(message, error_line(capsys.readouterr().err))
    assert not out.exists()


def test_run_seed_and_compare_labels(scenario: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    for seed in (5, 6):
        assert main(["run", str(scenario), "--seed", str(seed), "--no-progress",
                     "--out", str(tmp_path / f"s{seed}")]) == 0
        assert f"seed {seed}" in capsys.readouterr().out
    enrolled = [json.loads((tmp_path / f"s{s}" / "summary.json").read_text())
                ["contacts_enrolled"] for s in (5, 6)]
    assert enrolled[0] != enrolled[1]
    assert main(["compare", str(tmp_path / "s5"), "--label", f"seed five={tmp_path / 's5'}",
                 "--label", f"seed six={tmp_path / 's6'}"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "seed five" in header and "seed six" in header and "s5" not in header
    assert main(["run", str(scenario), "--seed", "-1"]) == 2
    assert "simulation.seed: -1 is not valid" in error_line(capsys.readouterr().err)
    assert main(["compare", "--label", "nodir"]) == 2
    assert "--label: 'nodir' is not valid; expected NAME=DIR" in \
        error_line(capsys.readouterr().err)
