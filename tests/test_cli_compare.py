"""`seqsim compare DIR ...` and `seqsim run ... --report` (seqsim.cli.main.main)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqsim import load_result
from seqsim.cli.main import main
from seqsim.results.manifest import MANIFEST
from tests.small_runs import BACKLOG_OVERRIDES, SCENARIOS, backlog_run


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("seqsim: error:"), err
    return lines[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {name: backlog_run(devices).save(root / name)
            for name, devices in (("two", 2), ("four", 4))}


def set_args() -> list[str]:
    args = []
    for key, value in BACKLOG_OVERRIDES.items():
        text = "[" + ",".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
        args += ["--set", f"{key}={text}"]
    return args


def test_run_with_report_writes_charts_and_html(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    argv = ["run", str(SCENARIOS / "backlog.toml"), "--out", str(out), "--report",
            "--no-progress", *set_args()]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert stdout.rstrip().endswith(f"report: {out / 'report.html'}")
    listed = json.loads((out / MANIFEST).read_text())["files"]
    for name in ("report.html", "backlog.png", "sends_per_hour.png", "device_utilisation.png"):
        assert (out / name).is_file()
        assert listed[name] == (out / name).stat().st_size  # part of the result directory
    assert not list(tmp_path.glob(".demo.*"))
    result = load_result(out)
    assert result.summary == backlog_run().summary  # the same run as the fixtures'


def test_report_without_out_is_rejected_before_running(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    argv = ["run", str(SCENARIOS / "backlog.toml"), "--report", "--no-progress"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "--report: is not valid without --out" in error_line(captured.err)
    assert captured.out == ""  # nothing ran


def test_compare_prints_the_table_and_what_differs(saved: dict[str, Path],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(saved["two"]), str(saved["four"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KPI", "two", "four"]
    backlog = next(line for line in lines if line.startswith("peak backlog"))
    assert backlog.split()[-1].startswith("(-")  # four devices: less backlog than two
    assert any(line.split() == ["capacity.devices", "2", "4"] for line in lines)


def test_compare_with_out_writes_charts_and_report(saved: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", str(saved["two"]), str(saved["four"]), "--out", str(out)]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    for name in ("report.html", "compare.csv", "comparison.png", "sends_per_hour.png"):
        assert (out / name).is_file()


def test_compare_one_directory(saved: dict[str, Path], capsys: pytest.CaptureFixture[str]
                               ) -> None:
    assert main(["compare", str(saved["two"])]) == 0
    out = capsys.readouterr().out
    assert "scenarios: identical" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare"], "DIR: none given; expected result directories or --label NAME=DIR"),
        (["compare", "{missing}"], "is not a seqsim result directory"),
        (["compare", "{two}", "{two}"], "expected each result directory once"),
    ],
)
def test_compare_bad_input_is_one_line_exit_2(argv: list[str], message: str,
                                              saved: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.format(missing=tmp_path / "nope", two=saved["two"]) for a in argv]
    assert main(argv) == 2
    assert message in error_line(capsys.readouterr().err)

