"""The `seqsim` command line (seqsim.cli.main.main and the installed console script)."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
import weakref
from pathlib import Path

import duckdb
import pytest

import seqsim
import seqsim.cli.main as cli_main
from seqsim import interrupts, load_result
from seqsim.cli import command
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


def test_out_over_a_result_with_a_users_file(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["run", str(scenario_file), "--out", str(out), "--no-progress"]) == 0
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["run", str(scenario_file), "--out", str(out), "--no-progress"]) == 2
    line = error_line(capsys.readouterr().err)
    assert "out: " in line and "'notes.txt', which seqsim did not write" in line
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("out", "says"), [
    ("link", "is a symbolic link"),
    ("dangling", "is a symbolic link (to 'nowhere')"),
    ("blocker/run", "its parent"),
    ("dangling/run", "is a dangling symbolic link"),
    ("x" * 300, "its last part is 300 bytes long"),
    ("blocker", "it exists and is not a directory"),
])
def test_out_that_cannot_be_written_is_one_line(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str,
    says: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    (tmp_path / "dangling").symlink_to("nowhere")
    (tmp_path / "blocker").write_text("a file")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["run", str(scenario_file), "--out", out, "--no-progress"]) == 2
    line = error_line(capsys.readouterr().err)
    assert line.startswith("seqsim: error: out: ") and says in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_out_on_a_read_only_file_system_is_one_line(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EROFS faked (mounting one needs root); the message is the OS's reason."""
    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "mkdir", read_only)
    assert main(["run", str(scenario_file), "--out", str(tmp_path / "a" / "run"),
                 "--no-progress"]) == 2
    line = error_line(capsys.readouterr().err)
    assert "it cannot be created (Read-only file system)" in line


def interrupting_simulate(then: BaseException | None) -> object:
    """A simulate() that gets a SIGINT, the way a user's Ctrl-C arrives, then raises ``then``.

    ``then``: what DuckDB raises when a query is interrupted (None: the
    KeyboardInterrupt itself goes up).
    """
    def simulate(*args: object, **kwargs: object) -> None:
        try:
            # To the main thread: a process-wide kill may land on a library's thread.
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            time.sleep(5)  # the handler raises well before this ends
        except KeyboardInterrupt:
            if then is None:
                raise
            raise then from None
        raise AssertionError("no KeyboardInterrupt")

    return simulate


@pytest.mark.parametrize("then", [None, RuntimeError("Query interrupted"),
                                  duckdb.InterruptException("INTERRUPT Error: Interrupted!")],
                         ids=["KeyboardInterrupt", "RuntimeError", "InterruptException"])
@pytest.mark.usefixtures("plain_sigint")
def test_ctrl_c_is_one_line_and_exit_130(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, then: BaseException | None,
) -> None:
    monkeypatch.setattr(cli_main, "simulate", interrupting_simulate(then))
    out = tmp_path / "run"
    assert main(["run", str(scenario_file), "--out", str(out)]) == 130
    captured = capsys.readouterr()
    assert captured.err == "seqsim: interrupted\n"
    assert not out.exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


@pytest.mark.usefixtures("plain_sigint")
def test_ctrl_c_python_could_not_raise_is_not_lost(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A KeyboardInterrupt raised in a weakref callback (as in an import) is only printed
    as "Exception ignored" by Python; the command must still stop, with its one line."""
    class Thing:
        pass

    def interrupt(ref: object) -> None:
        raise KeyboardInterrupt

    def simulate(*args: object, **kwargs: object) -> None:
        thing = Thing()
        ref = weakref.ref(thing, interrupt)
        del thing  # the callback runs here; its exception cannot propagate
        time.sleep(5)  # the signal sent again ends this well before
        raise AssertionError(f"not interrupted ({ref})")

    monkeypatch.setattr(cli_main, "simulate", simulate)
    before = sys.unraisablehook
    assert main(["run", str(scenario_file), "--out", str(tmp_path / "run")]) == 130
    assert capsys.readouterr().err == "seqsim: interrupted\n"
    assert sys.unraisablehook is before  # put back


@pytest.mark.usefixtures("plain_sigint")
def test_ctrl_c_inside_the_hook_that_sends_it_again_is_quiet(
    scenario_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The signal sent again may land in the next callback, and the one after that
    in the hook itself (as numba's cache load made them): still one line, exit 130."""
    class Thing:
        pass

    def interrupt(ref: object) -> None:
        signal.raise_signal(signal.SIGINT)  # the handler raises inside this callback

    def start(self: threading.Timer) -> None:
        raise KeyboardInterrupt  # as a SIGINT landing while start() waits

    def simulate(*args: object, **kwargs: object) -> None:
        thing = Thing()
        ref = weakref.ref(thing, interrupt)
        del thing
        raise RuntimeError(f"what the interrupted work raised ({ref})")

    monkeypatch.setattr(cli_main, "simulate", simulate)
    monkeypatch.setattr(threading.Timer, "start", start)
    assert main(["run", str(scenario_file), "--out", str(tmp_path / "run")]) == 130
    assert capsys.readouterr().err == "seqsim: interrupted\n"


def test_the_command_ignores_a_ctrl_c_once_main_has_returned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ``seqsim`` console script (run): a SIGINT after main() put its handler back
    (Python then shuts down) neither raises nor kills; the status is main()'s."""
    previous = signal.getsignal(signal.SIGINT)
    seen = []

    def finished(argv: object = None) -> int:
        seen.append(signal.getsignal(signal.SIGINT))  # what main() would restore
        return 0

    monkeypatch.setattr(cli_main, "main", finished)
    monkeypatch.setattr(interrupts, "_second_exits", False)  # run() sets it for the process
    try:
        with pytest.raises(SystemExit) as exited:
            command.run()
        os.kill(os.getpid(), signal.SIGINT)  # during "shutdown": ignored
        assert exited.value.code == 0
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert callable(seen[0]) and seen[0] is not signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


# The command's entry, with a SIGINT sent while it loads numba (argv[1]: "ignored"
# starts it with SIGINT ignored, as a background job of a script is).
LOADING = """
import os, signal, sys
if sys.argv[1] == "ignored":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
class Interrupting:
    def find_spec(self, name, path=None, target=None):
        if name == "numba":
            os.kill(os.getpid(), signal.SIGINT)
        return None
from seqsim.cli import command
assert not {"numba", "numpy", "pandas", "duckdb"} & set(sys.modules), "the entry is not light"
sys.meta_path.insert(0, Interrupting())
sys.argv = ["seqsim", "--version"]
command.run()
"""


@pytest.mark.parametrize("start", ["default", "ignored"])
def test_a_ctrl_c_while_the_command_loads_stops_it_cleanly(start: str) -> None:
    proc = subprocess.run([sys.executable, "-c", LOADING, start], capture_output=True,
                          text=True, timeout=120, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    if start == "ignored":
        assert (proc.returncode, proc.stdout.strip()) == (0, f"seqsim {seqsim.__version__}")
    else:
        assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "seqsim: interrupted\n")


def test_the_console_script_is_run() -> None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts == {"seqsim": "seqsim.cli.command:run"}


def test_a_runtime_error_without_ctrl_c_is_not_called_an_interrupt(
    scenario_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(cli_main, "simulate", broken)
    with pytest.raises(RuntimeError, match="Query interrupted"):
        main(["run", str(scenario_file)])


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


def test_run_with_shards_says_the_merge_was_exact(
    scenario_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(scenario_file), "--shards", "2", "--no-progress"]) == 0
    assert re.search(r"^  shards +2 \(exact\)$", capsys.readouterr().out, re.M)


def test_scheduler_without_shards_is_refused(
    scenario_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(scenario_file), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert error_line(capsys.readouterr().err) == (
        "seqsim: error: --scheduler: 'tcp://127.0.0.1:1' is not valid without --shards; "
        "expected --shards N as well")
