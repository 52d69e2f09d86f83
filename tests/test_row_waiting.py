"""The per-row processor's book of active rows against a read of the table.

The book follows the processor's own statements instead of reading the rows
after every poll; after every poll of these runs it must hold exactly what a
read finds (rows of every kind: retried, capped, windowed, chained, created
at enrolment, moved or skipped by a catch-up).
"""

from __future__ import annotations

from collections import Counter

import pytest

import seqsim
from seqsim import Scenario
from seqsim.engine import row_queries
from seqsim.engine.row_processor import RowProcessor
from seqsim.engine.row_waiting import WaitingBook
from tests.small_runs import SCENARIOS, backlog_scenario

OUTAGE = [{"start": "2025-07-02T10:00:00", "duration": "9h"}]
CASES = {
    "retries and capped devices": {},
    "advance on queue": {"policy.progress_on": "queue"},
    "all at enrolment": {"policy.strategy": "all_at_enrollment"},
    "windows in two zones": {"policy.send_hours": "09:00-18:00",
                             "workload.0.timezone": "Asia/Singapore"},
    "reschedule after an outage": {"policy.outages": OUTAGE, "policy.catch_up": "reschedule"},
    "skip stale after an outage": {"policy.outages": OUTAGE, "policy.catch_up": "skip_stale",
                                   "policy.stale_after": "2h"},
}


def _rows(waiting: row_queries.WaitingRows) -> Counter:
    return Counter(zip(waiting.due.tolist(), waiting.sequences, waiting.zones, waiting.devices,
                       strict=True))


def _run_checked(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run ``scenario`` on the row engine, comparing the book with a read after
    every poll; return the number of polls compared."""
    polls = []
    poll = RowProcessor.poll

    def checked(self: RowProcessor, *args: object, **kwargs: object) -> object:
        stats = poll(self, *args, **kwargs)
        read = row_queries.WaitingRows.read(self.con, self._active_sequences,
                                            self.windows.active)
        assert (self._waiting.active, _rows(self._waiting)) == (read.active, _rows(read))
        polls.append(stats)
        return stats

    monkeypatch.setattr(RowProcessor, "poll", checked)
    seqsim.simulate(scenario.with_overrides({"simulation.engine": "row"}), progress=False)
    return len(polls)


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_the_book_holds_what_a_read_finds(overrides: dict, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    assert _run_checked(backlog_scenario(**overrides), monkeypatch) > 100


def test_the_book_follows_chained_sequences(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = Scenario.from_toml(SCENARIOS / "chained.toml").with_overrides({
        "simulation.duration": "16d", "workload.0.rate_per_hour": 1,
        "workload.0.end": "2025-07-02T00:00:00"})
    assert _run_checked(scenario, monkeypatch) > 50


def test_a_change_it_cannot_follow_makes_it_read(monkeypatch: pytest.MonkeyPatch) -> None:
    book = WaitingBook({1}, zones=False)
    book.added(7, (100, 1, "", "d1"))
    book.claimed(8)  # a row it never saw: it reads at the next snapshot
    reads = []
    monkeypatch.setattr("seqsim.engine.row_waiting.active_rows",
                        lambda con, zones: reads.append(zones) or ({9: (50, 1, "", "d2")}, {}))
    snapshot = book.snapshot(None)
    assert reads == [False]
    assert (snapshot.active, snapshot.due.tolist(), snapshot.devices) == (1, [50], ["d2"])
    assert book.snapshot(None) is snapshot  # nothing changed since: no read, same snapshot
