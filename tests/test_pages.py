from __future__ import annotations

import ctypes
import errno
import threading

import numpy as np
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


# Prefault: pages mapped ahead of a filling loop, on another thread.

MIB = 1 << 20
PAGE = 4096


def _resident(array: np.ndarray) -> int:
    """Return how many bytes of ``array``'s pages are mapped (mincore)."""
    libc = ctypes.CDLL(None, use_errno=True)
    start = array.ctypes.data & ~(PAGE - 1)
    length = array.ctypes.data + array.nbytes - start
    vec = (ctypes.c_ubyte * ((length + PAGE - 1) // PAGE))()
    assert libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(length), vec) == 0
    return sum(v & 1 for v in vec) * PAGE


def _fresh(n_bytes: int) -> np.ndarray:
    """Return a zeroed array none of whose pages is mapped yet."""
    with ordinary_pages():
        return np.zeros(n_bytes, dtype=np.uint8)


def _can_populate() -> bool:
    if pages._MADVISE is None:
        return False
    probe = _fresh(4 * MIB)
    start = (probe.ctypes.data + PAGE - 1) & ~(PAGE - 1)
    return pages._MADVISE(start, PAGE, pages._POPULATE_WRITE) == 0


populating = pytest.mark.skipif(not _can_populate(),
                                reason="this system cannot populate pages (Linux 5.14+)")


@pytest.fixture
def _may_populate(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another test may have turned it off for the process; CI may give one core.
    monkeypatch.setattr(pages, "_populating", pages._MADVISE is not None)
    monkeypatch.setattr(pages, "spare_core", lambda: True)


@populating
@pytest.mark.usefixtures("_may_populate")
def test_prefault_maps_pages_only_ahead_of_what_is_used() -> None:
    array = _fresh(64 * MIB)
    used = np.zeros(1, dtype=np.int64)
    with pages.Prefault([(array, lambda: used[0])], ahead=2 * MIB):
        pass  # it maps at least once before it sees the stop
    assert 2 * MIB - 2 * PAGE <= _resident(array) <= 2 * MIB + PAGE
    used[0] = 40 * MIB
    with pages.Prefault([(array, lambda: used[0])], ahead=2 * MIB):
        pass
    assert 42 * MIB - 2 * PAGE <= _resident(array) <= 42 * MIB + PAGE
    assert not array.any()  # mapped, never written


@populating
@pytest.mark.usefixtures("_may_populate")
def test_prefault_changes_nothing_a_concurrent_writer_writes() -> None:
    items = 8 * MIB  # int64: 64 MB
    with ordinary_pages():
        array = np.zeros(items, dtype=np.int64)
    used = np.zeros(1, dtype=np.int64)
    with pages.Prefault([(array, lambda: used[0])], ahead=MIB):
        for start in range(0, items, items // 64):
            stop = start + items // 64
            array[start:stop] = np.arange(start, stop)
            used[0] = stop
    assert np.array_equal(array, np.arange(items))
    assert not [t for t in threading.enumerate() if t.name == "seqsim-prefault"]


def test_a_refusal_turns_prefaulting_off_for_the_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "spare_core", lambda: True)
    calls: list[int] = []

    def refuse(address: int, length: int, advice: int) -> int:
        calls.append(advice)
        ctypes.set_errno(errno.EINVAL)  # a kernel before 5.14
        return -1

    monkeypatch.setattr(pages, "_MADVISE", refuse)
    monkeypatch.setattr(pages, "_populating", True)
    array = _fresh(4 * MIB)
    with pages.Prefault([(array, lambda: 0)]):
        pass
    assert calls == [pages._POPULATE_WRITE] and not pages._populating
    with pages.Prefault([(array, lambda: 0)]) as again:
        assert again._thread is None  # not tried again
    assert calls == [pages._POPULATE_WRITE]


def test_other_errors_stop_only_that_prefault(monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(address: int, length: int, advice: int) -> int:
        ctypes.set_errno(errno.ENOMEM)
        return -1

    monkeypatch.setattr(pages, "_MADVISE", out_of_memory)
    monkeypatch.setattr(pages, "_populating", True)
    monkeypatch.setattr(pages, "spare_core", lambda: True)
    with pages.Prefault([(_fresh(4 * MIB), lambda: 0)]) as ahead:
        ahead._thread.join(timeout=10)  # it gave up on its own
        assert not ahead._thread.is_alive()
    assert pages._populating


def test_one_core_starts_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "spare_core", lambda: False)
    with pages.Prefault([(_fresh(4 * MIB), lambda: 0)]) as ahead:
        assert ahead._thread is None


def test_nothing_to_map_starts_no_thread() -> None:
    with pages.Prefault([]) as nothing, pages.Prefault([(np.zeros(0), lambda: 0)]) as empty:
        assert nothing._thread is None and empty._thread is None
    nothing.stop()  # stopping twice is harmless


@pytest.mark.skipif(pages._TRIM is None, reason="a C library without malloc_trim")
def test_give_back_returns_the_free_pages_of_the_c_heap() -> None:
    """Small blocks freed below one still held stay in the heap (free() can only
    trim its top); give_back hands their pages to the system."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size, count = 64 << 10, 1600  # 100 MiB in blocks under glibc's mmap threshold
    blocks = [libc.malloc(size) for _ in range(count)]
    try:
        for block in blocks:
            ctypes.memset(block, 1, size)
        for block in blocks[:-1]:
            libc.free(block)
        held = _rss_mib()
        pages.give_back()
        assert held - _rss_mib() > 64
    finally:
        libc.free(blocks[-1])


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4096 / MIB
