"""seqsim.results.store / manifest: a result directory is seqsim's own.

What may be replaced (absent, empty, wholly seqsim's), what is refused (a
user's file, a link, a file, a parent that is not a folder, a long name), the
manifest, clean-up after a killed save, both swap paths, and DuckDB's
checkpoint on a full disk.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from seqsim import Result, SeqsimError, load_result
from seqsim.errors import OutputError
from seqsim.results import store
from seqsim.results.manifest import FORMAT_VERSION, LEGACY_FILES, MANIFEST, record_files
from tests.store_helpers import assert_no_debris, summary_at, tiny_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["exchange", "two renames"])
def swap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with renameat2(RENAME_EXCHANGE), and with the portable fallback."""
    if request.param == "two renames":
        monkeypatch.setattr(store, "_RENAMEAT2", None)
    elif store._RENAMEAT2 is None:
        pytest.skip("no renameat2 here")
    return request.param


@pytest.fixture(scope="module")
def old() -> Result:
    return tiny_run(1)


@pytest.fixture(scope="module")
def new() -> Result:
    return tiny_run(2)


def test_manifest_lists_every_file(old: Result, tmp_path: Path) -> None:
    out = old.save(tmp_path / "run")
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["format"] == "seqsim-result"
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["seqsim_version"] == __import__("seqsim").__version__
    on_disk = {p.name: p.stat().st_size for p in out.iterdir() if p.name != MANIFEST}
    assert manifest["files"] == on_disk
    assert "seqsim.duckdb" in on_disk and "seqsim.duckdb.wal" not in on_disk
    assert summary_at(out) == old.summary


def test_result_directory_gets_the_usual_permissions(old: Result, tmp_path: Path) -> None:
    out = old.save(tmp_path / "run")
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700


def test_replacing_a_result(old: Result, new: Result, tmp_path: Path, swap: str) -> None:
    target = tmp_path / "run"
    old.save(target)
    assert new.save(target) == target
    assert summary_at(target) == new.summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_users_file_in_a_result_is_never_deleted(old: Result, new: Result,
                                                   tmp_path: Path) -> None:
    target = old.save(tmp_path / "run")
    (target / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"out: .*run' is not valid; it holds 'notes.txt', "
                       r"which seqsim did not write"):
        new.save(target)
    assert (target / "notes.txt").read_text() == "mine"
    assert load_result(target).summary == old.summary
    assert_no_debris(target)


@pytest.mark.parametrize("make", ["subfolder", "symlink", "trace-dir-file"])
def test_other_foreign_entries_are_refused(old: Result, new: Result, tmp_path: Path,
                                          make: str) -> None:
    target = old.save(tmp_path / "run")
    if make == "subfolder":
        (target / "plots").mkdir()
    elif make == "symlink":
        (target / "link").symlink_to(tmp_path)
    else:
        (target / "traces").mkdir()
        (target / "traces" / "extra.csv").write_text("x")
    with pytest.raises(SeqsimError, match="which seqsim did not write"):
        new.save(target)
    assert load_result(target).summary == old.summary


def test_a_listed_file_replaced_by_a_symlink_is_foreign(old: Result, new: Result,
                                                        tmp_path: Path) -> None:
    target = old.save(tmp_path / "run")
    (tmp_path / "info.json").write_text("{}")
    (target / "info.json").unlink()
    (target / "info.json").symlink_to(tmp_path / "info.json")
    with pytest.raises(SeqsimError, match=r"'info\.json', which seqsim did not write"):
        new.save(target)
    assert (tmp_path / "info.json").read_text() == "{}"


def test_a_folder_without_manifest_is_refused(new: Result, tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "summary.json").write_text("{}")  # looks like a result, is not one
    (target / "data.csv").write_text("1,2")
    with pytest.raises(SeqsimError, match=r"it exists and is not a seqsim result directory "
                       r"\(no seqsim-result.json; it holds 'data.csv', 'summary.json'\)"):
        new.save(target)
    assert sorted(p.name for p in target.iterdir()) == ["data.csv", "summary.json"]


def legacy_copy(result: Result, tmp_path: Path, *, report: bool = False) -> Path:
    """A result directory as seqsim wrote it before manifests."""
    folder = result.save(tmp_path / "legacy")
    (folder / MANIFEST).unlink()
    if report:
        (folder / "report.html").write_text("<html></html>")
        (folder / "backlog.png").write_bytes(b"png")
    return folder


def test_a_result_from_before_manifests_loads_and_is_replaced(old: Result, new: Result,
                                                              tmp_path: Path) -> None:
    folder = legacy_copy(old, tmp_path, report=True)
    assert load_result(folder).summary == old.summary
    new.save(folder)
    assert summary_at(folder) == new.summary
    assert not (folder / "report.html").exists()


def test_a_result_from_before_manifests_with_a_users_file_is_refused(
        old: Result, new: Result, tmp_path: Path) -> None:
    folder = legacy_copy(old, tmp_path)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(SeqsimError, match=r"'notes.txt', which seqsim did not write \(per a "
                       r"result directory from before manifests\)"):
        new.save(folder)
    assert (folder / "notes.txt").read_text() == "mine"
    assert {"summary.json", "scenario.toml"} <= LEGACY_FILES


def test_an_empty_directory_is_replaced(new: Result, tmp_path: Path, swap: str) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    new.save(target)
    assert summary_at(target) == new.summary


@pytest.mark.parametrize(("make", "match"), [
    ("link to a result", r"it is a symbolic link \(to '.*old'\); seqsim never replaces "
                         r"through a link; expected the real directory path"),
    ("dangling link", r"it is a symbolic link \(to 'nowhere'\)"),
    ("file", r"it exists and is not a directory"),
    ("parent file", r"its parent '.*blocker' is not a directory"),
    ("parent dangling", r"its parent '.*deadlink' is a dangling symbolic link"),
    ("long name", r"its last part is 300 bytes long; expected a name of at most 255 bytes"),
    ("empty", r"out: '' is not valid; it is empty"),
    ("question mark", r"DuckDB cannot open a file whose path holds '\?'; expected a path "
                      r"without them"),
    ("backslash", r"DuckDB cannot open a file whose path holds '\\\\'"),
])
def test_paths_that_are_refused(old: Result, new: Result, tmp_path: Path, make: str,
                                match: str) -> None:
    real = old.save(tmp_path / "old")
    (tmp_path / "blocker").write_text("file")
    (tmp_path / "deadlink").symlink_to(tmp_path / "nowhere")
    (tmp_path / "link").symlink_to(real)
    (tmp_path / "dangling").symlink_to("nowhere")
    path = {"link to a result": tmp_path / "link", "dangling link": tmp_path / "dangling",
            "file": tmp_path / "blocker", "parent file": tmp_path / "blocker" / "run",
            "parent dangling": tmp_path / "deadlink" / "run", "long name": tmp_path / ("a" * 300),
            "empty": "", "question mark": tmp_path / "run?", "backslash": tmp_path / "a\\b"}[make]
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(OutputError, match=match):
        new.save(path)
    assert sorted(os.listdir(tmp_path)) == before
    assert os.readlink(tmp_path / "link") == str(real)
    assert load_result(real).summary == old.summary


def test_the_current_directory_is_refused(new: Result, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(OutputError, match=r"it is the current directory, which a save "
                       r"replaces .*; expected a path below it"):
        new.save(".")
    new.save("run")
    assert summary_at(tmp_path / "here" / "run") == new.summary


def test_loading_a_path_duckdb_cannot_open_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"result: .* DuckDB cannot open a file whose path "
                       r"holds '\?'"):
        load_result(tmp_path / "what?")


def test_a_long_name_that_fits_gets_short_sibling_names(new: Result, tmp_path: Path) -> None:
    target = tmp_path / ("é" * 120)  # 240 bytes: ".NAME.seqsim-new-TOKEN" would not fit
    new.save(target)
    new.save(target)
    assert summary_at(target) == new.summary
    assert os.listdir(tmp_path) == [target.name]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_no_permission(new: Result, tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=r"it cannot be written \(Permission denied\)"):
            new.save(tmp_path / "run")
    finally:
        tmp_path.chmod(0o755)


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EXDEV])
def test_os_errors_become_one_line(new: Result, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """What a read-only file system, a denied folder or a full disk raise (faked: we are root)."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "mkdir", refuse)
    with pytest.raises(OutputError, match=rf"out: .* is not valid; it cannot be written "
                       rf"\({os.strerror(code)}\); expected a path where seqsim may create"):
        new.save(tmp_path / "run")
    assert os.listdir(tmp_path) == []


def test_a_failed_write_keeps_the_old_result(old: Result, new: Result, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    target = old.save(tmp_path / "run")

    def full(frame: object, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pandas.DataFrame.to_parquet", full)
    with pytest.raises(OutputError, match=r"No space left on device"):
        new.save(target)
    assert summary_at(target) == old.summary
    assert_no_debris(target)


def test_a_checkpoint_that_did_not_complete_is_an_error(new: Result, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """DuckDB's close() keeps quiet when its checkpoint fails: the .wal left tells."""
    connect = duckdb.connect

    class NoCheckpoint:
        def __init__(self, path: str) -> None:
            self.con = connect(path)
            self.con.execute("PRAGMA disable_checkpoint_on_shutdown")
            self.con.execute("SET checkpoint_threshold = '1TB'")

        def execute(self, sql: str) -> object:
            return None if sql == "CHECKPOINT" else self.con.execute(sql)

        def __getattr__(self, name: str) -> object:
            return getattr(self.con, name)

    def no_checkpoint(path: str) -> NoCheckpoint:
        return NoCheckpoint(path)

    monkeypatch.setattr(duckdb, "connect", no_checkpoint)
    with pytest.raises(OutputError, match=r"seqsim.duckdb: the checkpoint did not complete "
                       r"\(seqsim.duckdb.wal is left\)"):
        new.save(tmp_path / "run")
    assert os.listdir(tmp_path) == []


FULL_DISK = """
import resource, signal, sys
from seqsim import load_result
source, target = sys.argv[1], sys.argv[2]
result = load_result(source)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
for limit in map(int, sys.argv[3:]):
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        result.save(target)
        print("saved")
    except Exception as exc:
        print(type(exc).__name__, exc)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
"""

#: File-size limits that stop the save at the Parquet files, in DuckDB, and not at all.
LIMITS = (1_000, 30_000, 200_000, 10**9)


def test_a_full_disk_is_one_clear_error(old: Result, new: Result, tmp_path: Path) -> None:
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk, at several points."""
    source = new.save(tmp_path / "source")
    target = old.save(tmp_path / "run")
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK)
    proc = subprocess.run([sys.executable, str(script), str(source), str(target),
                           *map(str, LIMITS)], capture_output=True, text=True, timeout=300,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    *failed, saved = proc.stdout.splitlines()
    assert len(failed) == 3 and saved == "saved", proc.stdout
    assert all(line.startswith(f"OutputError out: {str(target)!r} is not valid; it cannot be "
                               "written (") and "File too large" in line for line in failed)
    assert "parquet" in failed[0] and "seqsim.duckdb" in failed[2], failed
    assert summary_at(target) == new.summary  # only the last save went through
    assert_no_debris(target)


@pytest.mark.usefixtures("plain_sigint")
def test_ctrl_c_during_the_swap_waits_for_it(old: Result, new: Result, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, swap: str) -> None:
    """The swap finishes, the old result goes, then KeyboardInterrupt: no half state."""
    target = old.save(tmp_path / "run")
    real = store._swap

    def interrupted_swap(*args: Path | str) -> Path | None:
        # To the main thread: a process-wide kill may land on a library's thread.
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_swap", interrupted_swap)
    with pytest.raises(KeyboardInterrupt):
        new.save(target)
    assert summary_at(target) == new.summary
    assert sorted(os.listdir(tmp_path)) == ["run"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ------------------------------------------------------------------ after a killed save

def killed_state(result: Result, target: Path, kinds: tuple[str, ...]) -> dict[str, Path]:
    """Make the siblings a save killed at some instant leaves (each a copy of ``result``)."""
    made = {}
    for kind in kinds:
        made[kind] = store._sibling(target, kind, "0123456789abcdef")
        shutil.copytree(result.save(target.parent / f"src-{kind}"), made[kind])
        shutil.rmtree(target.parent / f"src-{kind}")
    return made


def test_a_killed_swap_is_undone_by_the_next_load(old: Result, new: Result,
                                                  tmp_path: Path) -> None:
    """Killed between the fallback's two renames: the path is absent, the old result aside."""
    target = tmp_path / "run"
    killed_state(old, target, ("old",))
    killed_state(new, target, ("new",))
    assert load_result(target).summary == old.summary
    assert_no_debris(target)


def test_a_killed_swap_is_undone_by_the_next_save(old: Result, new: Result,
                                                  tmp_path: Path) -> None:
    target = tmp_path / "run"
    killed_state(old, target, ("old", "new"))
    (tmp_path / "keep.txt").write_text("not ours")
    new.save(target)
    assert summary_at(target) == new.summary
    assert sorted(os.listdir(tmp_path)) == ["keep.txt", "run"]


def test_stale_siblings_go_when_the_path_holds_a_result(old: Result, new: Result,
                                                        tmp_path: Path) -> None:
    target = old.save(tmp_path / "run")
    killed_state(new, target, ("new", "old", "del"))
    assert len(store.debris(target)) == 3
    assert load_result(target).summary == old.summary  # the path's result wins
    assert_no_debris(target)


def test_a_save_in_progress_is_left_alone(old: Result, tmp_path: Path) -> None:
    """Its staging folder is locked: another save or load of the path does not touch it."""
    target = old.save(tmp_path / "run")
    staging = killed_state(old, target, ("new",))["new"]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()",
         str(staging)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        load_result(target)
        old.save(target)
        assert store.debris(target) == [staging]
    finally:
        holder.communicate("", timeout=30)
    load_result(target)
    assert_no_debris(target)


def test_lookalike_names_are_not_debris(old: Result, tmp_path: Path) -> None:
    target = old.save(tmp_path / "run")
    for name in (".run.seqsim-new-short", ".run.seqsim-keep-0123456789abcdef",
                 ".run.seqsim-new-0123456789ABCDEF", ".runx.seqsim-new-0123456789abcdef"):
        (tmp_path / name).mkdir()
    (tmp_path / ".run.seqsim-old-0123456789abcdef").write_text("a file, not our folder")
    old.save(target)
    assert len(os.listdir(tmp_path)) == 6


# ------------------------------------------------------------------ the manifest on load

def test_load_notices_a_truncated_file(old: Result, tmp_path: Path) -> None:
    target = old.save(tmp_path / "run")
    with open(target / "sends.parquet", "r+b") as handle:
        handle.truncate(10)
    with pytest.raises(OutputError, match=r"result: .* is not valid; 'sends.parquet' is "
                       r"missing or was changed after seqsim wrote it"):
        load_result(target)


@pytest.mark.parametrize(("text", "match"), [
    ("{", r"its seqsim-result.json cannot be read"),
    ('{"format": "other", "format_version": 1, "files": {}}', r"is not a seqsim manifest"),
    ('{"format": "seqsim-result", "format_version": 1, "files": {"../x": 1}}',
     r"is not a seqsim manifest"),
    ('{"format": "seqsim-result", "format_version": 99, "files": {}}',
     r"written by a newer seqsim \(format 99\)"),
])
def test_a_bad_manifest_is_one_error(old: Result, new: Result, tmp_path: Path, text: str,
                                     match: str) -> None:
    target = old.save(tmp_path / "run")
    (target / MANIFEST).write_text(text)
    with pytest.raises(OutputError, match=match):
        load_result(target)
    with pytest.raises(OutputError, match=match.replace("result:", "out:")):
        new.save(target)
    assert (target / "sends.parquet").exists()


def test_a_report_written_into_a_result_joins_its_manifest(old: Result, new: Result,
                                                           tmp_path: Path) -> None:
    target = old.save(tmp_path / "run")
    (target / "report.html").write_text("<p>written by seqsim</p>")
    assert record_files(target, [target / "report.html"])
    assert json.loads((target / MANIFEST).read_text())["files"]["report.html"] == 24
    new.save(target)
    assert not (target / "report.html").exists()
    assert not record_files(tmp_path, [])  # not a result directory: nothing to record
