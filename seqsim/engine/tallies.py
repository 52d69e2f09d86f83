"""Compiled passes over a finished run's columns, for its tables, checks and summary.

A big run's results make a few passes over millions of rows whose NumPy
form is a sort, several full-length temporaries or one strided gather per
column; written as loops they are one linear pass. :func:`most_in_window`
and :func:`group_order` take plain integer arrays, so every engine's tables
go through the same code; :func:`gather_rows` and :func:`row_codes` read the
compiled engine's row records.
"""

from __future__ import annotations

import numpy as np

from seqsim.engine.kernel_jit import column_forms, compiled
from seqsim.engine.kernel_layout import NONE, ROW_DTYPE

__all__ = ["compile_tallies", "dense_codes", "dense_keys", "gather_rows", "group_mean",
           "group_order", "most_in_window", "read_only", "row_codes"]

#: Groups up to this size are sorted by insertion (a phone's few sends);
#: larger ones by NumPy's sort, so a trace with one busy phone stays n log n.
_SMALL_GROUP = 32


def dense_keys(codes: np.ndarray) -> int | None:
    """Return the key count (largest code + 1) for :func:`most_in_window` and
    :func:`group_order`, which allocate one slot per code, when ``codes`` are
    non-negative and dense (at most about two slots a value); else None."""
    if not len(codes) or codes.min() < 0 or int(codes.max()) >= 2 * len(codes) + 1024:
        return None
    return int(codes.max()) + 1


def dense_codes(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Return ``codes`` as int64 codes in ``[0, n)``, and ``n``: as they are when
    :func:`dense_keys` finds them dense, else numbered in sorted order."""
    n_keys = dense_keys(codes)
    if n_keys is not None:
        return codes.astype(np.int64, copy=False), n_keys
    values, dense = np.unique(codes, return_inverse=True)
    return dense.astype(np.int64, copy=False).reshape(-1), len(values)


@compiled(nogil=True)
def _sort_small(values: np.ndarray, lo: int, hi: int) -> None:
    """Sort ``values[lo:hi]`` in place (insertion sort: the slices are short)."""
    for j in range(lo + 1, hi):
        v = values[j]
        i = j - 1
        while i >= lo and values[i] > v:
            values[i + 1] = values[i]
            i -= 1
        values[i + 1] = v


@compiled(nogil=True)
def _key_starts(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Return where each key's run starts once ``keys`` (codes in ``[0, n_keys)``)
    are ordered by key (``n_keys + 1`` values: the last is the length).

    Raises:
        ValueError: a key outside ``[0, n_keys)``.
    """
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for j in range(keys.shape[0]):
        if keys[j] < 0 or keys[j] >= n_keys:  # compiled code does not check bounds
            raise ValueError("a key is outside [0, n_keys)")
        start[keys[j] + 1] += 1
    for c in range(n_keys):
        start[c + 1] += start[c]
    return start


@compiled(nogil=True)
def _key_order(keys: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the positions of ``keys`` ordered by key, stably (a counting sort),
    and :func:`_key_starts`."""
    start = _key_starts(keys, n_keys)
    fill = start[:-1].copy()
    order = np.empty(keys.shape[0], dtype=np.int64)
    for j in range(keys.shape[0]):
        order[fill[keys[j]]] = j
        fill[keys[j]] += 1
    return order, start


@compiled(nogil=True)
def most_in_window(keys: np.ndarray, times: np.ndarray, n_keys: int, window: int) -> int:
    """Return the most ``times`` one key has within any half-open window
    ``(t - window, t]`` (0 when there are none).

    ``keys`` are codes in ``[0, n_keys)``, ``times`` int64 of the same length.
    The times are grouped by key with a counting sort (linear), each group
    sorted, then counted with two pointers.
    """
    if keys.shape[0] == 0:
        return 0
    start = _key_starts(keys, n_keys)
    # The times scattered straight into their key's run: no array of positions.
    fill = start[:-1].copy()
    grouped = np.empty(keys.shape[0], dtype=np.int64)
    for j in range(keys.shape[0]):
        grouped[fill[keys[j]]] = times[j]
        fill[keys[j]] += 1
    most = 0
    for c in range(n_keys):
        lo, hi = start[c], start[c + 1]
        if hi - lo <= most:
            continue  # cannot beat the best so far
        if hi - lo <= _SMALL_GROUP:
            _sort_small(grouped, lo, hi)
        else:
            grouped[lo:hi] = np.sort(grouped[lo:hi])
        first = lo
        for j in range(lo, hi):
            while grouped[first] <= grouped[j] - window:
                first += 1
            most = max(most, j - first + 1)
    return most


@compiled(nogil=True)
def group_order(keys: np.ndarray, n_keys: int, within: np.ndarray) -> np.ndarray:
    """Return the positions of ``keys`` ordered by key, then by ``within``, then
    by position: ``np.lexsort((within, keys))`` in linear time for codes in
    ``[0, n_keys)`` whose groups are small (each is sorted on its own)."""
    order, start = _key_order(keys, n_keys)
    for c in range(n_keys):
        lo, hi = start[c], start[c + 1]
        if hi - lo <= _SMALL_GROUP:
            # Insertion sort, moving only past strictly greater values: stable.
            for j in range(lo + 1, hi):
                p = order[j]
                i = j - 1
                while i >= lo and within[order[i]] > within[p]:
                    order[i + 1] = order[i]
                    i -= 1
                order[i + 1] = p
        else:
            part = order[lo:hi].copy()
            order[lo:hi] = part[np.argsort(within[part], kind="mergesort")]
    return order


@compiled(nogil=True)
def gather_rows(R: np.ndarray, rows: np.ndarray, sequence_ids: np.ndarray,
                step_ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return, per message, its row's lead code, ``sequence_id``, ``sequence_stepid``
    and ``day_number`` (contiguous int32 arrays).

    ``R``: the row records (:data:`~seqsim.engine.kernel_layout.ROW_DTYPE`);
    ``rows``: each message's row; ``sequence_ids`` / ``step_ids``: the ids by
    the kernel's codes. One read of each message's record, where four NumPy
    gathers would read it four times.
    """
    n = rows.shape[0]
    lead, sequence = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    step, day = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    for j in range(n):
        r = R[rows[j]]
        lead[j] = r["lead"]
        sequence[j] = sequence_ids[r["seq"]]
        step[j] = step_ids[r["step"]]
        day[j] = r["day"]
    return lead, sequence, step, day


@compiled(nogil=True)
def row_codes(R: np.ndarray, sequence_ids: np.ndarray,
              step_ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return, per row record (:data:`~seqsim.engine.kernel_layout.ROW_DTYPE`), its
    ``sequence_id``, ``sequence_stepid``, lead, step, device, processing device
    (-1 unless claimed), status and error - 1 (-1: none), as contiguous arrays
    (int32; int8 for the last two): one read of the records, where a NumPy
    gather or comparison per column reads all of them (80 bytes each) again.
    """
    n = R.shape[0]
    # One array each (not one block): a column that pandas narrows is freed.
    sequence, stepid = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    lead, step = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    dev, processing = np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    status, error = np.empty(n, dtype=np.int8), np.empty(n, dtype=np.int8)
    for i in range(n):
        r = R[i]
        sequence[i] = sequence_ids[r["seq"]]
        stepid[i] = step_ids[r["step"]]
        lead[i] = r["lead"]
        step[i] = r["step"]
        dev[i] = r["dev"]
        processing[i] = r["dev"] if r["claimed_at"] != NONE else -1
        status[i] = r["status"]
        error[i] = r["error"] - 1
    return sequence, stepid, lead, step, dev, processing, status, error


@compiled(nogil=True)
def pair_codes(R: np.ndarray, sequence_ids: np.ndarray, n_leads: int) -> np.ndarray:
    """Return per row record its (contact, sequence) code, int64, as
    :func:`seqsim.engine.schema.contact_pair_codes` gives for its table: the lead
    numbered in order of first appearance (as ``pd.factorize`` numbers them)
    times (the rows' largest ``sequence_id`` + 1), plus its ``sequence_id``.

    ``R``: the row records; ``sequence_ids``: the ids by sequence index (a
    handful); ``n_leads``: leads are codes in ``[0, n_leads)``. A table of the
    leads, where ``pd.factorize`` hashes every row's lead, and one read of the
    records: the second pass reads the codes alone.
    """
    n, n_seqs = R.shape[0], sequence_ids.shape[0]
    number = np.full(n_leads, -1, dtype=np.int64)
    present = np.zeros(n_seqs, dtype=np.bool_)
    out = np.empty(n, dtype=np.int64)
    seen = 0
    for i in range(n):
        r = R[i]
        lead, seq = r["lead"], r["seq"]
        if number[lead] < 0:
            number[lead] = seen
            seen += 1
        out[i] = number[lead] * n_seqs + seq
        present[seq] = True
    width = 1
    first = True
    for s in range(n_seqs):
        if present[s] and (first or sequence_ids[s] + 1 > width):
            width, first = sequence_ids[s] + 1, False
    for i in range(n):
        out[i] = out[i] // n_seqs * width + sequence_ids[out[i] % n_seqs]
    return out


@compiled(nogil=True)
def count_distinct(values: np.ndarray, lowest: int, span: int) -> int:
    """Return how many distinct values ``values`` holds, all in ``[lowest, lowest +
    span)``: a table of flags, without NumPy's shifted copy of the values."""
    seen = np.zeros(span, dtype=np.bool_)
    count = 0
    for v in values:
        if not seen[v - lowest]:
            seen[v - lowest] = True
            count += 1
    return count


@compiled(nogil=True)
def group_mean(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Return the mean of ``values`` in each of ``n`` groups (``codes``: each row's
    group, -1 for none), NaN skipped, NaN for a group with no value.

    Kahan summation in row order (as pandas' per-group mean over unsorted
    labels, ``group_mean``, sums; a compensation an infinity made NaN is reset
    to 0), then the sum divided by the count. One column at a time, where
    pandas first copied every column into one block. pandas itself gives
    other last bits when the labels come sorted (it subtracts the final
    compensation): a step table's means are these, whatever the order.
    """
    total = np.zeros(n)
    compensation = np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    for i in range(codes.shape[0]):
        g = codes[i]
        v = values[i]
        if g < 0 or v != v:
            continue
        count[g] += 1
        y = v - compensation[g]
        t = total[g] + y
        compensation[g] = t - total[g] - y
        if compensation[g] != compensation[g]:
            compensation[g] = 0.0
        total[g] = t
    out = np.empty(n)
    for g in range(n):
        out[g] = total[g] / count[g] if count[g] else np.nan
    return out


def read_only(values: np.ndarray) -> np.ndarray:
    """Return a read-only view of ``values``: columns reach the compiled passes
    writable or not (a pandas column's ``to_numpy()`` is read-only), and numba
    compiles a specialization per form; this gives them one."""
    view = values.view()
    view.flags.writeable = False
    return view


def as_keys(values: np.ndarray) -> np.ndarray:
    """Return integer ids or codes as they are when int32 or int64 (the compiled
    passes are compiled for both), else as int64."""
    return values if values.dtype in (np.int32, np.int64) else values.astype(np.int64)


def id_table(ids: np.ndarray) -> tuple[int, np.ndarray] | None:
    """Return ``(lowest, places)``: ``places[id - lowest]`` is each id's position in
    ``ids`` (int32, -1 for a value between them that is not an id), for
    :func:`look_up`; None when ``ids`` are not integers, repeat, or spread too
    wide for a table (more than about four slots an id)."""
    if ids.dtype.kind not in "iu" or not len(ids):
        return None
    ids = ids.astype(np.int64, copy=False)
    if len(np.unique(ids)) != len(ids):
        return None
    lowest, span = int(ids.min()), int(ids.max()) - int(ids.min()) + 1
    if span > 4 * len(ids) + 1024:
        return None
    places = np.full(span, -1, dtype=np.int32)
    places[ids - lowest] = np.arange(len(ids), dtype=np.int32)
    return lowest, places


@compiled(nogil=True)
def look_up(keys: np.ndarray, table: np.ndarray, lowest: int, missing: int) -> np.ndarray:
    """Return ``table[key - lowest]`` per key, ``missing`` where that is outside the
    table (a step id's place or flag, in the table's dtype): one pass, where
    NumPy would make the shifted keys, a mask and the gather."""
    out = np.empty(keys.shape[0], dtype=table.dtype)
    n = table.shape[0]
    for m in range(keys.shape[0]):
        at = keys[m] - lowest
        out[m] = table[at] if 0 <= at < n else missing
    return out


@compiled(nogil=True)
def step_places(step_ids: np.ndarray, sequence_ids: np.ndarray, places: np.ndarray,
                lowest: int, step_sequence: np.ndarray) -> np.ndarray:
    """Return per row the position of its step (``places``, as :func:`look_up`), or
    -1 where the row names no step or a step of another sequence than its own
    (``step_sequence``: each step's sequence id), as int32."""
    out = np.empty(step_ids.shape[0], dtype=np.int32)
    n = places.shape[0]
    for i in range(step_ids.shape[0]):
        at = step_ids[i] - lowest
        place = places[at] if 0 <= at < n else -1
        out[i] = place if place >= 0 and step_sequence[place] == sequence_ids[i] else -1
    return out


def compile_tallies() -> None:
    """Compile these passes (or load them from the cache) on one value."""
    one = np.zeros(1, dtype=np.int64)
    most_in_window(one, one, 1, 1)
    group_order(one, 1, one)
    ints = np.zeros(1, dtype=np.int32)
    records = np.zeros(1, dtype=ROW_DTYPE)
    gather_rows(records, ints, ints, ints)
    row_codes(records, ints, ints)
    pair_codes(records, one, 1)
    flag = np.ones(1, dtype=np.bool_)
    for keys in (ints, one):  # step ids: int32 in the engines' tables, int64 elsewhere
        look_up(keys, ints, 0, -1)
        look_up(keys, flag, 0, False)
        step_places(keys, ints, ints, 0, ints)
        step_places(keys, one, ints, 0, one)
    group_order(one, 1, ints)  # the checks' days are int32
    count_distinct(one, 0, 1)
    count_distinct(ints, 0, 1)
    # The forms the results pass: the tables' columns read-only, times strided.
    two = np.zeros(2, dtype=np.int64)
    for times in column_forms(two):
        most_in_window(two, times, 1, 1)
    keys = column_forms(np.zeros(2, dtype=np.int32))[0]
    look_up(keys, ints, 0, -1)
    look_up(keys, flag, 0, False)
    step_places(keys, keys, ints, 0, keys)
    # The step table's means: codes and a column as read_only() passes them.
    group_mean(read_only(one), read_only(np.zeros(1)), 1)
