"""A pass run beside another (seqsim.beside)."""

from __future__ import annotations

import threading

import pytest

import seqsim
from seqsim import beside as beside_module
from seqsim.beside import Beside
from tests.store_helpers import tiny_scenario


def _where_it_ran(value: int) -> tuple[int, str]:
    return value * 2, threading.current_thread().name


def test_with_a_spare_core_it_runs_on_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(beside_module, "spare_core", lambda: True)
    assert Beside(_where_it_ran, 21).result() == (42, "seqsim-beside")


def test_without_one_it_runs_at_once_in_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(beside_module, "spare_core", lambda: False)
    ran: list[str] = []
    later = Beside(lambda: ran.append(threading.current_thread().name))
    assert ran == [threading.current_thread().name]  # before result() is asked
    assert later.result() is None


@pytest.mark.parametrize("spare", [True, False])
def test_its_exception_reaches_the_caller(monkeypatch: pytest.MonkeyPatch,
                                               spare: bool) -> None:
    monkeypatch.setattr(beside_module, "spare_core", lambda: spare)

    def fail() -> None:
        raise KeyError("sequence_stepid")

    failed = Beside(fail)
    for _ in range(2):  # each time it is asked
        with pytest.raises(KeyError, match="sequence_stepid"):
            failed.result()


@pytest.mark.parametrize("spare", [True, False])
def test_a_run_is_the_same_with_and_without_a_spare_core(monkeypatch: pytest.MonkeyPatch,
                                                         spare: bool) -> None:
    monkeypatch.setattr(beside_module, "spare_core", lambda: spare)
    res = seqsim.simulate(tiny_scenario(), engine="batch", progress=False)
    monkeypatch.setattr(beside_module, "spare_core", lambda: not spare)
    again = seqsim.simulate(tiny_scenario(), engine="batch", progress=False)
    assert res.summary == again.summary and res.info["invariant_violations"] == []
    assert not [t for t in threading.enumerate() if t.name == "seqsim-beside"]
