"""seqsim.results.stored: a loaded result reads its tables on first access, from
the files as they were when it was loaded."""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

from seqsim import Result, SeqsimError, load_result
from seqsim.results.stored import CONTRACT_FRAMES
from tests.store_helpers import tiny_run


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    run = tiny_run(3)
    return run, run.save(tmp_path_factory.mktemp("stored") / "run")


def _assert_same_tables(loaded: Result, run: Result) -> None:
    for name in CONTRACT_FRAMES:
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(run, name))
    assert list(loaded.tables) == sorted(run.tables)
    for name, frame in run.tables.items():
        pd.testing.assert_frame_equal(loaded.tables[name], frame)


def _loaded_copy(folder: Path, tmp_path: Path) -> tuple[Path, Result]:
    """Return a copy of result directory ``folder`` in ``tmp_path``, and it loaded."""
    path = tmp_path / "run"
    shutil.copytree(folder, path)
    return path, load_result(path)


def test_loading_reads_no_table_until_one_is_asked_for(saved: tuple[Result, Path]) -> None:
    run, folder = saved
    loaded = load_result(folder)
    assert not set(CONTRACT_FRAMES) & set(vars(loaded))
    assert repr(loaded.tables).endswith("read: none)")
    assert loaded.sql("SELECT count(*) AS n FROM sends")["n"].item() == len(run.sends)
    assert not set(CONTRACT_FRAMES) & set(vars(loaded))  # sql read the file, not a frame
    assert len(loaded.tables["messages"]) == len(run.tables["messages"])
    assert repr(loaded.tables).endswith("read: messages)")
    assert loaded.sends is loaded.sends  # read once, then kept
    _assert_same_tables(loaded, run)


def test_a_save_over_the_path_does_not_change_a_loaded_result(
        saved: tuple[Result, Path], tmp_path: Path) -> None:
    run, folder = saved
    path, first = _loaded_copy(folder, tmp_path)
    other = tiny_run(4)
    other.save(path)  # replaces the directory the first result was loaded from
    query = "SELECT count(*) AS n FROM sends"
    assert first.sql(query)["n"].item() == len(run.sends) != len(other.sends)
    _assert_same_tables(first, run)
    again = load_result(path)
    assert again.sql(query)["n"].item() == len(other.sends)
    _assert_same_tables(again, other)


def test_a_deleted_directory_does_not_change_a_loaded_result(
        saved: tuple[Result, Path], tmp_path: Path) -> None:
    run, folder = saved
    path, loaded = _loaded_copy(folder, tmp_path)
    shutil.rmtree(path)
    _assert_same_tables(loaded, run)
    assert loaded.relation("sends").aggregate("count(*) AS n").df()["n"].item() == len(run.sends)


def test_a_pickled_loaded_result_carries_every_table(saved: tuple[Result, Path]) -> None:
    run, folder = saved
    again = pickle.loads(pickle.dumps(load_result(folder)))
    assert isinstance(again.tables, dict)
    _assert_same_tables(again, run)
    assert again.sql("SELECT count(*) AS n FROM timeline")["n"].item() == len(run.timeline)


def test_threads_reading_one_loaded_result_each_get_the_same_frame(
        saved: tuple[Result, Path]) -> None:
    _, folder = saved
    loaded = load_result(folder)
    got: list[pd.DataFrame] = []
    threads = [threading.Thread(target=lambda: got.append(loaded.sends)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(frame is got[0] for frame in got)


def test_a_loaded_result_saves_again(saved: tuple[Result, Path], tmp_path: Path) -> None:
    run, folder = saved
    copy = load_result(load_result(folder).save(tmp_path / "copy"))
    _assert_same_tables(copy, run)
    assert copy.summary == run.summary


def test_an_unknown_attribute_is_still_an_attribute_error(saved: tuple[Result, Path]) -> None:
    with pytest.raises(AttributeError, match="has no attribute 'sendz'"):
        load_result(saved[1]).sendz  # noqa: B018


@pytest.mark.parametrize("name", ["sends.parquet", "contacts.parquet", "seqsim.duckdb"])
def test_a_damaged_file_is_refused_at_the_load(saved: tuple[Result, Path], tmp_path: Path,
                                               name: str) -> None:
    path = tmp_path / "run"
    shutil.copytree(saved[1], path)
    (path / "seqsim-result.json").unlink()  # a directory from before manifests: no sizes
    size = (path / name).stat().st_size
    (path / name).write_bytes(b"\0" * size)  # same size, not the file seqsim wrote
    with pytest.raises(SeqsimError, match=rf"^result: {name} in .* is not valid: .*; "
                                          r"expected the (Parquet file|database) seqsim saved"):
        load_result(path)


def _open_under(folder: Path) -> list[str]:
    """Return the files under ``folder`` this process holds open."""
    links = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
    return [link for link in links if link.startswith(f"{folder}{os.sep}")]


def test_a_load_that_fails_half_way_leaves_nothing_open(saved: tuple[Result, Path],
                                                        tmp_path: Path) -> None:
    path = tmp_path / "run"
    shutil.copytree(saved[1], path)
    (path / "seqsim-result.json").unlink()
    (path / "timeline.parquet").write_bytes(b"not parquet")  # opened after the database
    try:
        load_result(path)
    except SeqsimError as exc:
        assert re.match(r"^result: timeline.parquet in .* is not valid", str(exc))
        # Looked at while the traceback, which holds the half-opened run, is alive.
        leaked = _open_under(path)
    else:
        pytest.fail("load_result accepted a damaged timeline.parquet")
    assert leaked == []
