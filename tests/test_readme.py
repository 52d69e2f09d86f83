"""The README runs as written: every fenced ``python`` and ``sh`` block is executed.

Blocks run in README order in one scratch folder that holds the repository's
``data/`` (read only, linked) and a small ``campaigns/scenarios/launch.toml``
for the CI section. Python blocks share one namespace (a later block uses the
``res`` of an earlier one). Shell lines must exit 0: ``seqsim --version`` runs
in bash with the virtualenv's ``bin`` first on PATH (the installed command
works as the README says), the other ``seqsim`` lines run in this process
through :func:`seqsim.cli.main.main` with the line's words as the shell would
split them (half a second of imports saved each: the suite's time budget); a
line with other shell syntax (pipes, redirections, variables) fails the test
until this runner learns it. ``make`` lines are checked with ``make -n`` (the
target exists and would run) rather than run: ``make test`` is the suite
itself. A ``seqsim`` line on a scenario too large for the suite (the
production month: about a minute and 5 GiB) runs with its enrolment and
duration cut to a slice (:data:`SLICES`, as ``tests/test_production_month.py``
runs it), after the line's own ``--set`` flags: the command, its flags and
what it writes are checked, not the month. ``toml`` blocks must parse, and a
complete one must load as a Scenario. Other blocks (output, YAML) are not code.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import seqsim
from seqsim.cli.main import main
from tests.test_shipped_baselines import TOO_LARGE

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
#: The CI section's campaign: a day of a small steady workload (a second to run).
_LAUNCH = """
[simulation]
start = "2025-07-01T00:00:00"
duration = "2d"
seed = 7

[[sequences]]
name = "COLD"
trigger = "cold"
days = [1, 2]

[[workload]]
kind = "constant"
trigger = "cold"
rate_per_hour = 10
end = "2025-07-02T00:00:00"

[capacity]
devices = 2
"""

#: Scenario file -> the ``--set`` flags appended to a README line that runs it:
#: a hundredth of the production month's enrolment for two days (a second or two
#: where the month took 45 s and its tenth of a fleet 20 s of the suite's time).
SLICES = {
    "production_month.toml": ["--set", "simulation.duration=2d",
                              "--set", "workload.0.rate_per_hour=27.5"],
}


def blocks(language: str) -> list[str]:
    """Return the README's fenced blocks of ``language``, in order."""
    return [body for lang, body in _FENCE.findall(README.read_text()) if lang == language]


def shell_commands(block: str) -> list[str]:
    """Return a shell block's commands: comments dropped, ``\\`` continuations joined."""
    text = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in text.splitlines():
        command = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if command:
            commands.append(command)
    return commands


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readme")
    (folder / "data").symlink_to(REPO / "data", target_is_directory=True)
    (folder / "campaigns" / "scenarios").mkdir(parents=True)
    (folder / "campaigns" / "scenarios" / "launch.toml").write_text(_LAUNCH)
    return folder


def _run_shell(command: str, cwd: Path) -> None:
    words = shlex.split(command)
    if words[0] == "seqsim" and words[1:] != ["--version"]:
        assert not set("|&;<>$`") & set(command), f"{command!r}: shell syntax this runner lacks"
        for scenario, flags in SLICES.items():
            if any(word.endswith(scenario) for word in words):
                words += flags
        assert main(words[1:]) == 0, f"{command!r} failed"
        return
    if words[0] == "make":
        command = f"make -n -C {shlex.quote(str(REPO))} {shlex.quote(words[1])}"
    env = {**os.environ,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           # the checkout under test, even where the venv's seqsim is another checkout
           "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{command!r} exited {done.returncode}:\n{done.stderr}"


def test_the_readme_has_runnable_blocks() -> None:
    assert len(blocks("python")) >= 4 and len(blocks("sh")) >= 5


def test_every_python_and_shell_block_runs(scratch: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(scratch)
    namespace: dict[str, object] = {"__name__": "readme"}
    for lang, body in _FENCE.findall(README.read_text()):
        if lang == "python":
            exec(compile(body, "README.md", "exec"), namespace)
        elif lang == "sh":
            for command in shell_commands(body):
                _run_shell(command, scratch)
    assert (scratch / "out" / "cmp" / "report.html").is_file()
    assert (scratch / "out" / "month").is_dir()  # the production month's line, sliced
    assert (scratch / "campaigns" / "scenarios" / "launch.baseline.json").is_file()


def test_toml_blocks_parse_and_the_scenario_loads(tmp_path: Path) -> None:
    tables = [tomllib.loads(body) for body in blocks("toml")]
    # a complete scenario: a start, sequences and workload (others are fragments)
    complete = [t for t in tables if "start" in t.get("simulation", {})
                and "sequences" in t and "workload" in t]
    assert complete
    for number, data in enumerate(complete):
        path = tmp_path / f"s{number}.toml"
        path.write_text(next(b for b in blocks("toml") if tomllib.loads(b) == data))
        assert seqsim.Scenario.from_toml(path).capacity.devices >= 1


def test_the_demo_scenario_and_its_second_design_load() -> None:
    makefile = (REPO / "Makefile").read_text()
    demo = makefile[makefile.index("\ndemo:"):].split("\n\n", 1)[0]
    assert "data/demo/launch.toml" in demo and "seqsim compare" in demo
    override = re.search(r"--set '([^']+)'", demo)
    assert override is not None
    key, value = override.group(1).split("=", 1)
    launch = seqsim.Scenario.from_toml(REPO / "data" / "demo" / "launch.toml")
    other = launch.with_overrides({key: tomllib.loads(f"v = {value}")["v"]})
    assert launch.sequences[0].days != other.sequences[0].days
    # a launch bigger than a day of the fleet's daily limit: it builds a backlog
    assert launch.workload[0].count > launch.capacity.devices * launch.capacity.daily_limit


def test_every_scenario_too_large_for_the_suite_has_a_slice() -> None:
    assert {name.removesuffix(".toml") for name in SLICES} == set(TOO_LARGE)
