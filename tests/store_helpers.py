"""Two tiny saved runs and checks of a result directory, for the store, kill and fuzz tests."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import tomli_w

import seqsim
from seqsim import Result, Scenario, load_result
from seqsim.results.manifest import MANIFEST, check_complete, list_files
from seqsim.results.store import debris


def tiny_scenario(seed: int = 3, failure_rate: float = 0.2) -> Scenario:
    """Three hours, a minute a poll, a dozen contacts, some failed sends: a small save."""
    return Scenario.from_dict({
        "simulation": {"start": "2025-07-01T00:00:00", "duration": "3h",
                       "poll_interval": "1m", "seed": seed},
        "sequences": [{"name": "COLD", "trigger": "cold", "days": [1, 2],
                       "delay_hours": [0, 1]}],
        "workload": [{"kind": "poisson", "trigger": "cold", "rate_per_hour": 6,
                      "end": "2025-07-01T01:30:00"}],
        "capacity": {"devices": 2, "failure_rate": failure_rate, "max_retries": 1},
    })


@cache
def tiny_run(seed: int) -> Result:
    return seqsim.simulate(tiny_scenario(seed), progress=False)


def write_scenario(path: Path, seed: int) -> Path:
    path.write_text(tomli_w.dumps(tiny_scenario(seed).to_dict()))
    return path


def summary_at(folder: Path) -> dict | None:
    """Return the summary of the complete result at ``folder`` (None when absent).

    Asserts the folder is whole: its manifest lists exactly the files there,
    at their sizes, and load_result reads it.
    """
    if not os.path.lexists(folder):
        return None
    check_complete(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    files, _ = list_files(folder)
    assert set(files) == set(manifest["files"]) | {MANIFEST}
    return load_result(folder).summary


def assert_no_debris(target: Path) -> None:
    assert debris(target) == []
    hidden = [p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
    assert hidden == []
