from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

import seqsim
from seqsim import spill
from seqsim.engine.kernel_layout import ROW_DTYPE
from seqsim.errors import OutputError
from tests.store_helpers import tiny_scenario

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="record files: Linux")

MIB = 1 << 20


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


@pytest.fixture
def in_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Record files go to a test directory (on the test machine's disk)."""
    monkeypatch.setenv("SEQSIM_RECORDS_DIR", str(tmp_path))
    if spill.records_dir() is None:
        pytest.skip("this test directory keeps records in memory (tmpfs)")
    return tmp_path


@linux
def test_a_big_array_is_a_zeroed_writable_file_that_leaves_no_name(in_dir: Path) -> None:
    a = spill.zeros(1000, ROW_DTYPE, min_bytes=0)
    assert spill.backed(a) is not None and spill.backed(a[10:20]) is not None
    assert a.dtype == ROW_DTYPE and len(a) == 1000 and a.flags.writeable
    assert not a["due"].any() and not a["status"].any()
    a["due"][5] = 7
    assert a[5]["due"] == 7
    assert list(in_dir.iterdir()) == []  # unlinked at once: nothing outlives the process


def test_below_the_floor_or_when_switched_off_an_array_stays_in_memory(
        in_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert spill.backed(spill.zeros(10, ROW_DTYPE)) is None  # under MIN_BYTES
    monkeypatch.setenv("SEQSIM_RECORDS_DIR", "")
    assert spill.records_dir() is None
    small = spill.zeros(10, ROW_DTYPE, min_bytes=0)
    assert spill.backed(small) is None and not small["due"].any()


def test_a_file_the_system_refuses_keeps_the_records_in_memory(
        in_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int, offset: int, size: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(spill.os, "posix_fallocate", no_space)
    a = spill.zeros(100, np.int64, min_bytes=0)
    assert spill.backed(a) is None and a.sum() == 0
    assert list(in_dir.iterdir()) == []


@linux
@pytest.mark.skipif(spill._fs_type("/dev/shm") != "tmpfs", reason="no tmpfs at /dev/shm")
def test_a_directory_in_memory_keeps_the_records_in_memory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQSIM_RECORDS_DIR", "/dev/shm")
    assert spill.records_dir() is None
    assert spill.backed(spill.zeros(100, np.int64, min_bytes=0)) is None


@linux
def test_release_hands_pages_back_and_keeps_every_value(in_dir: Path) -> None:
    a = spill.zeros(96 * MIB // 8, np.int64, min_bytes=0)
    a[:] = np.arange(len(a))
    before = _rss_mib()
    spill.release(a[5:])  # a view finds its file too
    assert before - _rss_mib() > 64
    assert np.array_equal(a, np.arange(len(a)))


def test_release_leaves_arrays_in_memory_as_they_are() -> None:
    a = np.arange(MIB, dtype=np.int64)
    spill.release(a, a[3:])
    assert np.array_equal(a, np.arange(MIB))


@linux
def test_a_pager_releases_while_another_thread_writes_and_nothing_is_lost(
        in_dir: Path) -> None:
    a = spill.zeros(32 * MIB // 8, np.int64, min_bytes=0)
    with spill.Pager(a, every=0.0):
        for round_ in range(1, 4):
            a[round_::3] = round_ * np.arange(round_, len(a), 3)
    expected = np.zeros(len(a), dtype=np.int64)
    for round_ in range(1, 4):
        expected[round_::3] = round_ * np.arange(round_, len(a), 3)
    assert np.array_equal(a, expected)


def test_a_pager_of_arrays_in_memory_starts_no_thread() -> None:
    pager = spill.Pager(np.zeros(10))
    assert pager._thread is None
    pager.stop()


@linux
def test_a_pickled_record_array_comes_back_in_memory_with_its_values(in_dir: Path) -> None:
    a = spill.zeros(1000, ROW_DTYPE, min_bytes=0)
    a["due"] = np.arange(1000)
    b = pickle.loads(pickle.dumps(a))
    assert spill.backed(b) is None and np.array_equal(a, b)


@pytest.mark.parametrize("bad", ["missing", "a-file"])
def test_a_records_dir_that_is_no_writable_directory_is_refused_before_a_run(
        bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    monkeypatch.setenv("SEQSIM_RECORDS_DIR", str(tmp_path / bad))
    with pytest.raises(OutputError, match=rf"SEQSIM_RECORDS_DIR: '.*{bad}' is not valid; "
                       "expected a directory this process may write in, or empty"):
        seqsim.simulate(tiny_scenario(), progress=False)


@linux
def test_a_temporary_directory_in_memory_sends_the_records_to_var_tmp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEQSIM_RECORDS_DIR", raising=False)
    monkeypatch.setattr(spill.tempfile, "gettempdir", lambda: "/in-memory")
    monkeypatch.setattr(spill, "_VAR_TMP", str(tmp_path))
    kinds = {"/in-memory": "tmpfs"}
    monkeypatch.setattr(spill, "_fs_type", lambda path: kinds.get(path, "ext4"))
    monkeypatch.setattr(spill.os.path, "isdir", lambda path: True)
    assert spill.records_dir() == str(tmp_path)
    kinds[str(tmp_path)] = "tmpfs"
    assert spill.records_dir() is None
