from __future__ import annotations

import threading

import pytest
from numpy._core import multiarray

import seqsim
from seqsim import pages
from seqsim.pages import ordinary_pages
from seqsim.run import simulate as simulate_module
from tests.store_helpers import tiny_scenario


def _huge_pages_asked() -> bool:
    """Return NumPy's current setting, leaving it as it was."""
    now = multiarray._set_madvise_hugepage(True)
    multiarray._set_madvise_hugepage(now)
    return now


@pytest.fixture(autouse=True)
def _numpy_asks_for_huge_pages(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    before = multiarray._set_madvise_hugepage(True)
    yield
    multiarray._set_madvise_hugepage(before)


def test_inside_numpy_asks_for_no_huge_pages_and_after_it_asks_again() -> None:
    with ordinary_pages():
        assert not _huge_pages_asked()
    assert _huge_pages_asked()


def test_an_error_inside_still_restores_the_setting() -> None:
    with pytest.raises(ValueError, match="boom"), ordinary_pages():
        raise ValueError("boom")
    assert _huge_pages_asked()


def test_a_setting_of_false_is_restored_as_false() -> None:
    multiarray._set_madvise_hugepage(False)
    with ordinary_pages():
        pass
    assert not _huge_pages_asked()


def test_overlapping_runs_restore_only_when_the_last_leaves() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        first_in.wait()
        with ordinary_pages():
            second_in.set()
            first_out.wait()
            seen.append(_huge_pages_asked())  # the first has left; this one has not

    thread = threading.Thread(target=second)
    thread.start()
    with ordinary_pages():
        first_in.set()
        second_in.wait()
    first_out.set()
    thread.join()
    assert seen == [False]
    assert _huge_pages_asked()
    assert pages._inside == 0


def test_the_environment_variable_leaves_the_choice_to_numpy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    with ordinary_pages():
        assert _huge_pages_asked()


def test_simulate_runs_its_engine_in_ordinary_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []
    real = simulate_module.run_engine

    def spy(*args, **kwargs):
        asked.append(_huge_pages_asked())
        return real(*args, **kwargs)

    monkeypatch.setattr(simulate_module, "run_engine", spy)
    res = seqsim.simulate(tiny_scenario(), engine="batch", progress=False)
    assert asked == [False]
    assert _huge_pages_asked()
    assert res.summary["messages_sent"] > 0
