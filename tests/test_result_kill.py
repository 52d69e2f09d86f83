"""The kill test: stop a save over an earlier result at many instants; nothing is lost.

A child process (forked by tests/kill_server.py, signalled by the PID it
reports) saves one small result over another. It is stopped with SIGKILL or
SIGINT either after a delay spread over the save, or just before its N-th
file-system call (mkdir, rename, fsync, unlink...) for every N, with the
atomic exchange and with the two-rename fallback. After each stop the path
must hold the old or the new result, complete (manifest, sizes, load_result),
or, in the fallback's gap between its renames only, be absent with the old
result complete beside it; the next load or save must put things right and
leave no hidden sibling. A SIGINT must end the command with one line, exit 130.

``SEQSIM_KILL_INSTANTS=N`` (``make test-kill``) runs N delayed kills of each
signal and every hooked step; by default a sample keeps this to seconds.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from seqsim import load_result
from seqsim.results import store
from seqsim.results.manifest import check_complete
from tests.store_helpers import assert_no_debris, summary_at, tiny_run, write_scenario

ROOT = Path(__file__).resolve().parents[1]
BUDGET = int(os.environ.get("SEQSIM_KILL_INSTANTS", "0"))
#: Delayed stops per signal, and every how many hooked steps the default run stops.
DELAYED = BUDGET or 4
DELAYED_COMMANDS = BUDGET or 2  # each runs a simulation too: fewer by default
STEP_EVERY = 1 if BUDGET else 6
SIGINT_EVERY = 1 if BUDGET else 8  # two swap modes, so half as many each


class Server:
    """The fork server: one child per command."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "kill_server.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self._read() == "ready"
        self.runs = 0

    def _read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def _send(self, data: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(data) + "\n")
        self.proc.stdin.flush()

    def run(self, *, kill: str = "KILL", delay: float | None = None, step: int | None = None,
            fallback: bool = False, **command: object) -> dict:
        """Run a child; signal it ``delay`` seconds after it starts saving (if given)."""
        self.runs += 1
        logs = {name: str(self.tmp / f"{self.runs}.{name}") for name in ("stdout", "stderr",
                                                                         "count")}
        self._send({"signal": kill, "step": step, "fallback": fallback, **logs, **command})
        pid = json.loads(self._read())["pid"]
        started = time.monotonic()
        if delay is not None:
            time.sleep(delay)
            os.kill(pid, signal.SIGKILL if kill == "KILL" else signal.SIGINT)
        self._send("reap")
        outcome = json.loads(self._read())
        outcome["seconds"] = time.monotonic() - started
        for name in ("stdout", "stderr", "count"):
            path = Path(logs[name])
            outcome[name] = path.read_text() if path.exists() else ""
        return outcome

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("logs"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two results ("A", "B"), pickled, that a child saves over the path, and their scenarios."""
    root = tmp_path_factory.mktemp("sources")
    made = {}
    for name, seed in (("A", 1), ("B", 2)):
        made[name] = root / f"{name}.pickle"
        made[name].write_bytes(pickle.dumps(tiny_run(seed)))
        made[f"{name}.toml"] = write_scenario(root / f"{name}.toml", seed)
    return made


SUMMARIES = {"A": tiny_run(1).summary, "B": tiny_run(2).summary}


def which(summary: dict | None) -> str | None:
    assert summary is None or summary in SUMMARIES.values(), "neither the old nor the new result"
    return next((name for name, s in SUMMARIES.items() if s == summary), None)


def raw_state(target: Path, fallback: bool) -> str:
    """Return which result the path holds right after the stop, before any clean-up."""
    if os.path.lexists(target):
        check_complete(target)
        return which(json.loads((target / "summary.json").read_text())) or "?"
    assert fallback, "the exchange leaves no instant without a result at the path"
    old = [p for p in store.debris(target) if ".seqsim-old-" in p.name]
    assert len(old) == 1, store.debris(target)
    check_complete(old[0])
    return f"absent, {which(json.loads((old[0] / 'summary.json').read_text()))} aside"


class Walk:
    """Save A and B over each other at one path, stopping the saves; check after each."""

    def __init__(self, server: Server, sources: dict[str, Path], target: Path) -> None:
        self.server, self.sources, self.target = server, sources, target
        target.parent.mkdir()
        tiny_run(1).save(target)
        self.now = "A"
        self.stops = 0

    def stop(self, *, cli: bool = False, clean_up: bool = False, **how: object) -> dict:
        new = "B" if self.now == "A" else "A"
        if cli:
            argv = ["run", str(self.sources[f"{new}.toml"]), "--out", str(self.target),
                    "--no-progress"]
            outcome = self.server.run(mode="cli", argv=argv, **how)
        else:
            outcome = self.server.run(mode="save", source=str(self.sources[new]),
                                      target=str(self.target), **how)
        self.check(outcome, new, clean_up=clean_up, fallback=bool(how.get("fallback")))
        return outcome

    def check(self, outcome: dict, new: str, *, clean_up: bool, fallback: bool) -> None:
        state = raw_state(self.target, fallback)
        assert state in (self.now, new, f"absent, {self.now} aside"), state
        if outcome["code"] == 0:  # finished before the signal: new, and nothing left over
            assert state == new
            assert_no_debris(self.target)
        else:
            self.stops += 1
        if not state.startswith("absent"):
            self.now = state
        if clean_up:  # else the next save cleans up (and puts an absent result back)
            assert which(load_result(self.target).summary) == self.now
            assert_no_debris(self.target)

    def finish(self) -> None:
        """A last save goes through and leaves the path's folder alone in its parent."""
        tiny_run(1).save(self.target)
        assert summary_at(self.target) == SUMMARIES["A"]
        assert_no_debris(self.target)
        assert os.listdir(self.target.parent) == [self.target.name]


def count_steps(server: Server, sources: dict[str, Path], tmp: Path, *, fallback: bool,
                cli: bool = False) -> tuple[int, float]:
    """Return how many hooked calls a whole save makes, and how long it took (seconds)."""
    walk = Walk(server, sources, tmp / "count" / "run")
    outcome = walk.stop(cli=cli, fallback=fallback)
    assert outcome["code"] == 0, outcome["stderr"]
    return int(outcome["count"]), outcome["seconds"]


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "two renames"])
@pytest.mark.parametrize("kill", ["KILL", "INT"])
def test_a_signal_before_every_step(server: Server, sources: dict[str, Path], tmp_path: Path,
                                    fallback: bool, kill: str) -> None:
    """SIGKILL ends the child; SIGINT makes Result.save raise KeyboardInterrupt (exit 130)."""
    if not fallback and store._RENAMEAT2 is None:
        pytest.skip("no renameat2 here")
    steps, _ = count_steps(server, sources, tmp_path, fallback=fallback)
    assert steps > 20  # a dozen fsyncs, the swap, the clean-up
    walk = Walk(server, sources, tmp_path / "walk" / "run")
    for i, step in enumerate(range(1, steps + 1, STEP_EVERY if kill == "KILL" else SIGINT_EVERY)):
        outcome = walk.stop(kill=kill, step=step, fallback=fallback, clean_up=i % 2 == 1)
        if kill == "KILL":
            assert outcome["signal"] == signal.SIGKILL
        else:
            assert outcome["code"] == 130, outcome["stderr"]
    walk.finish()
    print(f"SIG{kill} at {walk.stops} of {steps} steps ({'fallback' if fallback else 'exchange'})")


def test_sigkill_after_a_delay(server: Server, sources: dict[str, Path], tmp_path: Path) -> None:
    _, seconds = count_steps(server, sources, tmp_path, fallback=False)
    delays = np.random.default_rng(17).uniform(0, seconds * 1.2, DELAYED)
    walk = Walk(server, sources, tmp_path / "walk" / "run")
    for i, delay in enumerate(delays):
        walk.stop(delay=float(delay), fallback=i % 3 == 2, clean_up=i % 2 == 1)
    walk.finish()
    print(f"SIGKILL after {DELAYED} delays: {walk.stops} stopped a save")
    assert walk.stops > 0


def interrupted(outcome: dict) -> bool:
    """Return whether the command ended by SIGINT as it should: one line, exit 130."""
    if outcome["code"] == 0:
        assert outcome["stderr"] == ""
        return False
    assert outcome["code"] == 130 and outcome["stderr"] == "seqsim: interrupted\n", outcome
    return True


def test_sigint_ends_the_command_with_one_line(server: Server, sources: dict[str, Path],
                                               tmp_path: Path) -> None:
    """`seqsim run --out` interrupted while running or saving: one line, exit 130."""
    steps, seconds = count_steps(server, sources, tmp_path, fallback=False, cli=True)
    delays = np.random.default_rng(18).uniform(0, seconds * 1.2, DELAYED_COMMANDS)
    walk = Walk(server, sources, tmp_path / "walk" / "run")
    stopped = sum(interrupted(walk.stop(cli=True, kill="INT", delay=float(d),
                                        fallback=i % 2 == 0, clean_up=i % 3 == 0))
                  for i, d in enumerate(delays))
    for step in (1, steps // 2, steps - 2):  # inside the save: staging, fsyncs, the swap
        stopped += interrupted(walk.stop(cli=True, kill="INT", step=step))
    walk.finish()
    print(f"SIGINT after {DELAYED_COMMANDS} delays and at 3 steps: {stopped} interrupted")
    assert stopped >= 3
