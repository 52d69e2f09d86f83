"""The progress bar: silent on short runs, shown from the start when asked."""

from __future__ import annotations

import time

import pytest

import seqsim
from seqsim.run import progress as progress_module
from seqsim.run.progress import Progress
from tests.small_runs import backlog_scenario


def test_a_short_automatic_run_prints_no_bar(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(100) as bar:
        bar.advance(0)
        bar.advance(5)
    assert capsys.readouterr().err == ""


def test_a_short_simulation_prints_nothing_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    seqsim.simulate(backlog_scenario(), progress=None)
    assert capsys.readouterr().err == ""


def test_the_automatic_bar_appears_once_the_run_is_long(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "AUTO_DELAY_S", 0.01)
    with Progress(100) as bar:
        bar.advance(0)
        time.sleep(0.6)  # past the delay and tqdm's 0.5 s refresh interval
        bar.advance(60)
    assert "60.0/100" in capsys.readouterr().err


def test_an_enabled_bar_shows_from_the_start_and_restarts_at_zero(
    capsys: pytest.CaptureFixture[str]
) -> None:
    with Progress(100, enabled=True) as bar:
        bar.advance(0)
        assert capsys.readouterr().err.count("0.00/100") >= 1
        bar.advance(7)
    assert "7.00/100" in capsys.readouterr().err


def test_a_disabled_bar_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(100, enabled=False) as bar:
        bar.advance(0)
        bar.advance(50)
    assert capsys.readouterr().err == ""
