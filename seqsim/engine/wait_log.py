"""What an engine saw during a run that its tables do not keep: `WaitLog`.

The lateness attribution (:mod:`seqsim.engine.lateness`) needs to know, for a
row that was due and not queued at a poll, whether its device was full (over
a limit, or offline) and whether a dead worker held its claim. Each engine
records those as it runs, in this one shape, so the attribution is one
function for every engine.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["WaitLog", "full_changes"]


class WaitLog(NamedTuple):
    """Per-run records behind the lateness attribution (instants: int64 µs).

    - ``full_at``, ``full_device``: every change of a device's "full" flag
      (it could queue nothing more, after a poll's selection), in time order;
      each device starts not full and the flag flips at each of its entries;
      ``full_device`` indexes the run's device list.
    - ``held_row``, ``held_from``, ``held_to``: claims a dead worker left
      (``sequence_contacts`` id, claimed, released), ``[faults] stuck_claims``.
    """

    full_at: np.ndarray
    full_device: np.ndarray
    held_row: np.ndarray
    held_from: np.ndarray
    held_to: np.ndarray

    @classmethod
    def of(cls, full: list[tuple[int, int]] | np.ndarray,
           held: list[tuple[int, int, int]] | np.ndarray | None = None) -> WaitLog:
        """Return a log from ``(at, device)`` flag changes and ``(row, from, to)`` holds."""
        f = np.asarray(full, dtype=np.int64).reshape(-1, 2)
        h = np.asarray([] if held is None else held, dtype=np.int64).reshape(-1, 3)
        return cls(f[:, 0].copy(), f[:, 1].copy(), h[:, 0].copy(), h[:, 1].copy(),
                   h[:, 2].copy())


def full_changes(previous: set[int], full: set[int], at: int) -> list[tuple[int, int]]:
    """Return the ``(at, device)`` flag changes from ``previous`` to ``full``, in
    device order (the devices whose flag flips at ``at``)."""
    return [(at, d) for d in sorted(previous ^ full)]
