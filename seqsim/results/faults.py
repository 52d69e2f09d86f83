"""The run figures of the production faults (``[faults]``), read from the tables alone.

:func:`fault_metrics` gives ``duplicate_sends`` (successful sends of a step
beyond its first), ``stuck_contacts`` and ``late_by_claim_release_s``; the
checks give ``lost_contacts`` and ``max_active_rows_per_contact``. They are
0 in a run without faults.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqsim.results.rows import distinct_count, marked, rows_of

__all__ = ["duplicate_sends", "fault_metrics"]


def duplicate_sends(messages: pd.DataFrame, contacts: pd.DataFrame, pairs: np.ndarray) -> int:
    """Return how many successful sends repeated a step a contact was sent already.

    A step is a (contact, sequence, step): two rows of one step (a duplicate
    guard that raced) count like two sends of one row (two pollers without
    claims). ``pairs``: the contacts' pair codes.
    """
    sent = (messages["outcome"] == "sent").to_numpy()
    row_ids = messages["sequence_contact_id"].to_numpy(np.int64)
    if not sent.all():  # usually every message was sent: no 32 MB masked copy
        row_ids = row_ids[sent]
    if not len(row_ids):
        return 0
    rows = rows_of(contacts["id"].to_numpy(np.int64), row_ids)
    known = rows >= 0
    stepids = contacts["sequence_stepid"].to_numpy()
    width = int(stepids.max()) + 1 if len(stepids) else 1
    # In place: on 4M sends each temporary is 32 MB of fresh pages.
    at = rows if known.all() else rows[known]
    keys = pairs[at].astype(np.int64, copy=False)
    keys *= width
    keys += stepids[at]
    # A send of a row that is not in the table counts by its row id (apart from the rest).
    orphans = distinct_count(row_ids[~known])
    return int(len(row_ids) - distinct_count(keys) - orphans)


def fault_metrics(messages: pd.DataFrame, contacts: pd.DataFrame, pairs: np.ndarray
                  ) -> dict[str, int | float]:
    """Return ``stuck_contacts`` and ``late_by_claim_release_s``.

    A claim was released before a send attempt when the attempt number is
    more than one past the failed attempts before it (a release adds 1 to
    ``retry_count`` without a send). ``stuck_contacts``: the (contact,
    sequence) pairs with a row sent after a release, released without a send
    since, or still claimed at the end with no message waiting for its
    device. ``late_by_claim_release_s``: the most a successful send after a
    release went out after its due time (0 when none did).
    """
    ids = messages["sequence_contact_id"].to_numpy(np.int64)
    attempt = messages["attempt"].to_numpy()
    outcome = messages["outcome"]
    failed = (outcome == "failed").to_numpy()
    if failed.any():
        order = np.argsort(messages["id"].to_numpy(np.int64), kind="stable")
        counts = pd.Series(failed[order].astype(np.int64)).groupby(ids[order]).cumsum()
        prior = np.empty(len(ids), np.int64)
        prior[order] = counts.to_numpy() - failed[order]
        released = attempt.astype(np.int64) - 1 - prior > 0
    else:  # no failed attempt before any: every attempt past the first followed a release
        released = attempt > 1
    late = released & (outcome == "sent").to_numpy()
    waited = (messages["sent_at"].to_numpy()[late] - messages["due_at"].to_numpy()[late])
    late_s = float(waited.max() / np.timedelta64(1, "s")) if late.any() else 0.0
    row_ids = contacts["id"].to_numpy(np.int64)
    # Each mark of a whole run's rows is looked up only where it can matter: a run
    # without faults has no claim left, no retry and no release.
    stuck = ((contacts["status"] == "active").to_numpy()
             & contacts["processing_device_id"].notna().to_numpy())
    if stuck.any():  # still claimed, with no message waiting for its device
        stuck &= ~marked(row_ids, ids[outcome.isna().to_numpy()])
    retried = contacts["retry_count"].to_numpy() > 0
    if retried.any():  # released without a send since
        stuck |= retried & ~marked(row_ids, ids)
    if released.any():  # sent after a release
        stuck |= marked(row_ids, ids[released])
    return {
        "stuck_contacts": distinct_count(pairs[stuck]),
        "late_by_claim_release_s": round(late_s, 6),
    }
