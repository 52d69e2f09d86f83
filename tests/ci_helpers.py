"""Small scenarios and a deliberately broken engine for the regression-check tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seqsim import Scenario
from seqsim.engine import kernel_run
from seqsim.engine.kernel_layout import ACTIVE, COMPLETED, NONE
from seqsim.engine.kernel_tables import Final

#: A capacity-bound campaign: a burst of 120 leads plus a trickle, on 4 devices
#: limited to 20 messages an hour, so the fleet size shows in the lateness.
BURST = """
[simulation]
start = "2025-07-01T00:00:00"
duration = "2d"
poll_interval = "1m"
seed = 7
engine = "batch"

[[sequences]]
name = "COLD"
trigger = "cold"
days = [1, 2, 3]
delay_hours = [0, 6, 12]

[[workload]]
kind = "burst"
trigger = "cold"
count = 120
at = "2025-07-01T01:00:00"

[[workload]]
kind = "poisson"
trigger = "cold"
rate_per_hour = 4
end = "2025-07-01T12:00:00"

[capacity]
devices = 4
hourly_limit = 20
daily_limit = 0
"""

#: Overrides that make BURST small enough for the row engine (~70 messages).
TINY = {"workload.0.count": 12, "workload.1.rate_per_hour": 1}


def burst(overrides: dict[str, Any] | None = None) -> Scenario:
    scenario = Scenario.from_toml_string(BURST)
    return scenario.with_overrides(overrides) if overrides else scenario


def write_burst(folder: Path, name: str = "burst", text: str = BURST) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def break_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the compiled engine leave every completed row active (the status
    update is lost while the next step's row is created): two active rows per
    contact, as a broken advance would leave them."""
    original = kernel_run.final_columns

    def leave_completed_rows_active(*args: object) -> Final:
        final = original(*args)
        rows = final.rows
        done = rows["status"] == COMPLETED
        rows["completed_at"][done] = NONE
        rows["status"][done] = ACTIVE
        return final

    monkeypatch.setattr(kernel_run, "final_columns", leave_completed_rows_active)
