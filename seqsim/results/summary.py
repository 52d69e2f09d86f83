"""A run's KPIs: the summary (keys :data:`seqsim.results.result.SUMMARY_KEYS`, a contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from seqsim.beside import Beside
from seqsim.checks.contacts import ContactChecks, check_contacts
from seqsim.checks.invariants import skipped_rows
from seqsim.engine.schema import contact_pair_codes
from seqsim.engine.send_scan import enrolments
from seqsim.engine.tallies import dense_codes, dense_keys, most_in_window
from seqsim.results.faults import duplicate_sends, fault_metrics
from seqsim.results.rows import distinct_count, entry_step_ids, rows_of
from seqsim.results.steps import queued_at, round_quantiles, unsent_at_end
from seqsim.units import HOUR_US

__all__ = ["build_summary"]


def build_summary(
    sends: pd.DataFrame,
    timeline: pd.DataFrame,
    contacts: pd.DataFrame,
    steps: pd.DataFrame,
    messages: pd.DataFrame,
    *,
    pairs: np.ndarray | None = None,
    checks: ContactChecks | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Return the run's KPIs (see :data:`SUMMARY_KEYS`), all JSON-serialisable.

    ``pairs``: :func:`seqsim.engine.schema.contact_pair_codes` of ``contacts``, and
    ``checks``: :func:`seqsim.checks.contacts.check_contacts` of them, if known.
    ``start`` / ``end``: the run's first instant and its end; without them
    ``last_contact_finished_hours`` is None and nothing counts as unsent at the
    end (see :mod:`seqsim.results.steps`).
    """
    sent_mask = (sends["outcome"] == "sent").to_numpy()
    pairs = contact_pair_codes(contacts) if pairs is None else pairs
    # The two figures that join each send to its row run beside the rest: on a
    # big run they are a third of the summary's time.
    per_send = Beside(_per_send, sends, sent_mask, messages, contacts, pairs)
    lateness = _where(sends["lateness_s"].to_numpy(), sent_mask)
    if checks is None:
        checks = check_contacts(contacts, steps, check_timing=False, pairs=pairs)
    stepid = contacts["sequence_stepid"].to_numpy()
    status = contacts["status"]
    is_entry = np.isin(stepid, entry_step_ids(steps))
    last_ids = steps.sort_values("day_number").groupby("sequence_id")["id"].last().to_numpy()
    finished = np.isin(stepid, last_ids) & (status == "completed").to_numpy()
    hours, designed = _completions(contacts, steps, pairs, is_entry, finished)
    drift = _drift(sends, sent_mask)
    faults = fault_metrics(messages, contacts, pairs)
    finish = _finish(contacts["completed_at"].to_numpy()[finished], timeline, messages, start)
    unsent = unsent_at_end(contacts, messages, end).summary()
    duplicates, most_per_hour = per_send.result()
    return {
        "contacts_enrolled": int(is_entry.sum()),
        "messages_sent": int(sent_mask.sum()),
        "messages_failed": int((sends["outcome"] == "failed").sum()),
        "contacts_completed": int(finished.sum()),
        "contacts_failed": distinct_count(pairs[(status == "failed").to_numpy()]),
        "contacts_active": distinct_count(pairs[(status == "active").to_numpy()]),
        "peak_backlog": int(timeline["backlog"].max()) if not timeline.empty else 0,
        **dict(zip(("lateness_p50_s", "lateness_p95_s", "lateness_p99_s"),
                   round_quantiles(lateness, (0.50, 0.95, 0.99)), strict=True)),
        "lateness_max_s": None if not len(lateness) else round(float(lateness.max()), 6),
        "mean_completion_hours": None if not len(hours) else round(float(hours.mean()), 6),
        "designed_completion_hours": None if not len(designed)
        else round(float(designed.mean()), 6),
        "duplicate_sends": duplicates,
        "lost_contacts": checks.lost,
        "max_active_rows_per_contact": checks.max_active_rows,
        "early_sends": int(sends["early"].sum()) if "early" in sends else 0,
        **dict(zip(("drift_hours_p50", "drift_hours_p95"),
                   round_quantiles(drift, (0.50, 0.95)), strict=True)),
        "drift_hours_max": None if not len(drift) else round(float(drift.max()), 6),
        "max_messages_per_contact_per_hour": most_per_hour,
        "skipped_steps": int(((status == "completed").to_numpy()
                              & skipped_rows(contacts)).sum()),
        **faults,
        **finish,
        **unsent,
    }


def _per_send(sends: pd.DataFrame, sent_mask: np.ndarray, messages: pd.DataFrame,
              contacts: pd.DataFrame, pairs: np.ndarray) -> tuple[int, int]:
    """Return ``duplicate_sends`` and ``max_messages_per_contact_per_hour``."""
    return (duplicate_sends(messages, contacts, pairs),
            _max_messages_per_hour(sends, sent_mask, messages, contacts, pairs))


def _completions(contacts: pd.DataFrame, steps: pd.DataFrame, pairs: np.ndarray,
                 is_entry: np.ndarray, finished: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Return, per ``finished`` row (a last step completed), the hours from its
    pair's first entry row's creation to its completion, and what its sequence's
    step delays add up to (what the contact would have taken on schedule)."""
    # Each pair's first entry row (a racing duplicate guard may let in two).
    codes, n_codes = dense_codes(pairs)
    created = contacts["created_at"].to_numpy("datetime64[us]").view(np.int64)
    started = enrolments(codes, created, is_entry, n_codes)[codes[finished]].view("datetime64[us]")
    hours = (contacts["completed_at"].to_numpy()[finished] - started) / np.timedelta64(1, "h")
    planned = steps.groupby("sequence_id")["trigger_delay_hours"].sum()
    designed = planned.reindex(contacts["sequence_id"].to_numpy()[finished]).to_numpy()
    return hours, designed


def _where(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return ``values[mask]``, or ``values`` itself when every row is selected (the
    usual case: every send succeeded; a masked copy of 4M values is 32 MB)."""
    return values if mask.all() else values[mask]


def _drift(sends: pd.DataFrame, sent_mask: np.ndarray) -> np.ndarray:
    """Return the successful sends' ``drift_hours`` (none for a send log from before
    the schedule columns)."""
    if "drift_hours" not in sends:
        return np.array([], dtype=float)
    drift = _where(sends["drift_hours"].to_numpy(dtype=float), sent_mask)
    return _where(drift, ~np.isnan(drift))


def _finish(finished_at: np.ndarray, timeline: pd.DataFrame, messages: pd.DataFrame,
            start: datetime | None) -> dict[str, Any]:
    """Return ``last_contact_finished_hours`` (hours from ``start`` to the last
    completion of a sequence's last step; None without either) and
    ``queued_at_peak_backlog`` (messages on devices, not yet delivered, right after
    the first poll with the peak backlog: the backlog does not count them)."""
    last = None
    if start is not None and len(finished_at):
        last = round(float((finished_at.max() - np.datetime64(start, "us"))
                           / np.timedelta64(1, "h")), 6)
    peak_at = (None if timeline.empty or "time" not in timeline
               else timeline["time"].iloc[int(timeline["backlog"].argmax())])
    return {"last_contact_finished_hours": last,
            "queued_at_peak_backlog": queued_at(messages, peak_at)}


def _max_messages_per_hour(
    sends: pd.DataFrame,
    sent_mask: np.ndarray,
    messages: pd.DataFrame,
    contacts: pd.DataFrame,
    pairs: np.ndarray,
) -> int:
    """Return ``max_messages_per_contact_per_hour``, phones named by pair codes
    (``code // (max sequence_id + 1)``, see :func:`seqsim.engine.schema.contact_pair_codes`)
    rather than by factorising millions of phone strings again."""
    sent = (messages["outcome"] == "sent").to_numpy()
    if len(contacts) and sent.any():
        row = rows_of(contacts["id"].to_numpy(np.int64),
                       _where(messages["sequence_contact_id"].to_numpy(np.int64), sent))
        if (row >= 0).all():
            phones = pairs[row]
            phones //= int(contacts["sequence_id"].max()) + 1  # in place: 32 MB less
            return _max_sends_in_an_hour(phones, _where(messages["sent_at"].to_numpy(), sent))
    return _max_sends_in_an_hour(sends["contact_phone"][sent_mask],
                                 sends["sent_at"].to_numpy()[sent_mask])


def _max_sends_in_an_hour(phones: pd.Series | np.ndarray, times: np.ndarray) -> int:
    """Return the most sends one phone got within any half-open hour ``(t - 1h, t]``.

    ``phones`` are names, or non-negative integer codes naming them; the count
    is :func:`seqsim.engine.tallies.most_in_window`, one linear pass.
    """
    if not len(times):
        return 0
    is_code = isinstance(phones, np.ndarray) and phones.dtype.kind in "iu"
    codes = (np.asarray(phones, dtype=np.int64) if is_code
             else pd.factorize(phones)[0].astype(np.int64))
    n_keys = dense_keys(codes)
    if n_keys is None:
        # Missing phones (-1, counted as one phone as before) or sparse codes:
        # renumber densely.
        codes = np.unique(codes, return_inverse=True)[1].astype(np.int64).ravel()
        n_keys = int(codes.max()) + 1
    micros = np.asarray(times, dtype="datetime64[us]").view(np.int64)
    return int(most_in_window(codes, micros, n_keys, HOUR_US))
