"""The compiled kernel's tables, built from its arrays with array operations.

``leads``, ``sequence_contacts`` and ``messages`` come out with the canonical
columns and dtypes of :func:`seqsim.engine.schema.canonical_frame`, as every
engine's do; strings are looked up from the integer codes once per column
(:class:`seqsim.engine.kernel_world.Codes`), never per row in Python.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from seqsim.engine import kernel_layout as k
from seqsim.engine.kernel_layout import NONE
from seqsim.engine.kernel_world import Codes
from seqsim.engine.rules import FAILED_SEND_ERROR, ROW_STATUSES, SKIPPED_ERROR
from seqsim.engine.schema import canonical_frame, column_types
from seqsim.engine.tallies import gather_rows, row_codes
from seqsim.spill import Pager
from seqsim.strings import arrow_names, from_codes

__all__ = ["BUILT", "ERROR_NAMES", "OUTCOME_NAMES", "STATUS_NAMES", "Final", "KernelTables",
           "final_columns", "paged", "timeline_frame"]

class Final(NamedTuple):
    """What the tables need of the kernel's final state: the used rows and messages
    (record arrays, :data:`~seqsim.engine.kernel_layout.ROW_DTYPE` and
    :data:`~seqsim.engine.kernel_layout.MESSAGE_DTYPE`) and the leads' triggers.

    Views of the state's own arrays, not copies: the rest of the state can be
    freed before the frames are built, and a column is read as ``rows["due"]``.
    """

    rows: np.ndarray
    messages: np.ndarray
    lead_trig: np.ndarray
    lead_n: np.ndarray


def final_columns(state: tuple) -> Final:
    """Return the state's used rows and messages and the leads' triggers."""
    counters = state[k.S_COUNT]
    return Final(state[k.S_ROWS][: counters[k.C_ROWS]], state[k.S_MSGS][: counters[k.C_MSGS]],
                 state[k.S_LEAD_TRIG], state[k.S_LEAD_N])


def _times(values: np.ndarray) -> pd.Series:
    """Return int64 µs (``NONE`` for NULL) as a datetime64[us] column."""
    return pd.Series(np.ascontiguousarray(values, dtype=np.int64).view("datetime64[us]"),
                     copy=False)


class _Nulls:
    """All-missing ``str`` columns by length: the columns of one length of one run's
    tables share one Arrow array (immutable; 4M rows of offsets are 32 MB each)."""

    def __init__(self) -> None:
        self._by_length: dict[int, pa.Array] = {}

    def __call__(self, n: int) -> pd.api.extensions.ExtensionArray:
        shared = self._by_length.get(n)
        if shared is None:
            shared = self._by_length[n] = pa.nulls(n, pa.large_string())
        return pd.array(shared, dtype="str")


class _Strings:
    """Strings by integer code, as ``str`` columns built in Arrow (no Python objects);
    all-missing columns come from ``nulls`` (shared by length) when given."""

    def __init__(self, names: np.ndarray, nulls: _Nulls | None = None) -> None:
        self._names = arrow_names(names)
        self._nulls = nulls

    def __getitem__(self, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """Return the names of ``codes`` (missing where a code is negative)."""
        codes = np.asarray(codes)
        if not len(codes) or codes.max() < 0:  # all missing: one shared column
            return (self._nulls or _Nulls())(len(codes))
        return from_codes(codes, self._names)


#: The names of the kernel's codes: row status, error (code - 1), message outcome.
STATUS_NAMES = np.array(ROW_STATUSES)  # k.ACTIVE, ...
ERROR_NAMES = np.array([FAILED_SEND_ERROR, SKIPPED_ERROR])  # k.SEND_ERROR - 1, ...
OUTCOME_NAMES = np.array(["sent", "failed"])  # k.SENT_OK, k.SEND_FAILED


def _lead_triggers(codes: Codes, lead_trig: np.ndarray, lead_n: np.ndarray,
                   seen: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Return each seen lead's triggers joined by commas (in the order it got them)."""
    n = lead_n[seen]
    first = np.where(n == 1, lead_trig[seen, 0], -1)
    joined = _Strings(codes.triggers)[first]
    several = np.flatnonzero(n > 1)
    if len(several) == 0:
        return joined
    out = np.asarray(joined, dtype=object)
    for j in several:
        out[j] = ",".join(codes.triggers[lead_trig[seen[j], : n[j]]])
    return pd.array(np.where(pd.isna(out), None, out), dtype="str")


def _lead_order(codes: Codes, seen: np.ndarray) -> np.ndarray | None:
    """Return ``seen`` (lead codes) in the leads table's order: ``created_at``, then
    ``phone``, stable, as :func:`~seqsim.engine.schema.canonical_frame` sorts them.

    Only leads created at the same instant compare phones. Returns None when a
    time or a phone is missing (canonical_frame places those; it sorts).
    """
    created = codes.lead_created[seen]
    if (created == NONE).any():
        return None
    order = np.argsort(created, kind="stable")
    ordered = created[order]
    tie = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(tie):
        in_tie = np.zeros(len(order), dtype=bool)
        in_tie[tie] = in_tie[tie + 1] = True
        sub = order[in_tie]
        phones = codes.phones[seen[sub]]
        if not all(isinstance(p, str) for p in phones):
            return None
        rank = np.unique(phones, return_inverse=True)[1]
        order[in_tie] = sub[np.lexsort((sub, rank, created[sub]))]
    return seen[order]


class _Contract:
    """How a table's columns are made for users: strings as pandas ``str`` (Arrow,
    shared all-missing columns), times and integers as contiguous copies."""

    def __init__(self) -> None:
        self._nulls = _Nulls()
        self._by_names: dict[int, _Strings] = {}

    def names(self, names: np.ndarray, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """Return ``names[codes]`` (missing where a code is negative)."""
        strings = self._by_names.get(id(names))
        if strings is None:
            strings = self._by_names[id(names)] = _Strings(names, self._nulls)
        return strings[codes]

    def missing(self, n: int) -> pd.api.extensions.ExtensionArray:
        return self._nulls(n)

    @staticmethod
    def times(values: np.ndarray) -> pd.Series:
        return _times(values)

    @staticmethod
    def ints(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(values)


class _Working:
    """How a table's columns are made for the run's own checks and summary: strings
    as categoricals of the codes, times and integers as views of the records (no
    copy): a few bytes a row where the contract's columns take a hundred."""

    def __init__(self) -> None:
        # Per names array: its categorical dtype, and each name's category (None
        # when the names are distinct: a code is its own category then).
        self._dtypes: dict[int, tuple[pd.CategoricalDtype, np.ndarray | None]] = {}
        # Two tables built at once (seqsim.beside) make a dtype once.
        self._lock = threading.Lock()

    def names(self, names: np.ndarray, codes: np.ndarray) -> pd.Categorical:
        """Return ``names[codes]`` as a categorical (missing where a code is -1)."""
        with self._lock:
            known = self._dtypes.get(id(names))
            if known is None:
                index = pd.Index(names, dtype=object)
                if index.is_unique:
                    known = (pd.CategoricalDtype(index), None)
                else:
                    position, uniques = pd.factorize(index)
                    known = (pd.CategoricalDtype(uniques), position)
                self._dtypes[id(names)] = known
        dtype, position = known
        # A field of the records (a message's outcome) is a strided view: every
        # comparison with it would read the whole records (4M messages: 25 ms
        # where contiguous codes take 0.5), and the summary compares it often.
        codes = np.ascontiguousarray(codes)
        if position is not None:  # a negative code picks position[-1], then is -1 again
            codes = np.where(codes >= 0, position[codes], -1)
        # The kernel's codes are in range by construction (and its tables equal the
        # row engine's in the property tests): no min and max of millions of codes.
        return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)

    @staticmethod
    def missing(n: int) -> pd.Categorical:
        return pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8), categories=[])

    @staticmethod
    def times(values: np.ndarray) -> np.ndarray:
        return values.view("datetime64[us]")

    @staticmethod
    def ints(values: np.ndarray) -> np.ndarray:
        return values


_Columns = _Contract | _Working


def _lead_table(codes: Codes, make: _Columns, lead_trig: np.ndarray,
                lead_n: np.ndarray) -> tuple[pd.DataFrame, bool]:
    """Return the leads frame, and whether its rows are in the table's order already."""
    seen = np.flatnonzero(lead_n >= 0)
    ordered = _lead_order(codes, seen)
    if ordered is not None:
        seen = ordered
    return pd.DataFrame({
        "phone": make.names(codes.phones, seen),
        "name": make.missing(len(seen)),
        "device_id": make.names(codes.devices, codes.lead_devices[seen]),
        "trigger": _lead_triggers(codes, lead_trig, lead_n, seen),
        "created_at": make.times(codes.lead_created[seen]),
        "timezone": make.names(codes.zones, codes.lead_zone[seen]),
    }, copy=False), ordered is not None


def _contacts(codes: Codes, make: _Columns, R: np.ndarray, ids: np.ndarray) -> pd.DataFrame:
    """Return the ``sequence_contacts`` frame of rows ``R`` (``ids``: 1, 2, ... at least
    as many)."""
    n = len(R)
    # The tables' id columns are int32: the few ids cast, then looked up per row.
    sequence_id, stepid, lead, step, dev, processing, status, error = row_codes(
        R, codes.sequence_ids.astype(np.int32), codes.step_ids.astype(np.int32))
    return pd.DataFrame({
        "id": ids[:n],
        "sequence_id": sequence_id,
        "contact_phone": make.names(codes.phones, lead),
        "contact_name": make.missing(n),
        "current_step": make.ints(R["day"]),
        "status": make.names(STATUS_NAMES, status),
        "current_trigger": make.names(codes.step_triggers, step),
        "next_trigger_time": make.times(R["due"]),
        "sequence_stepid": stepid,
        "assigned_device_id": make.names(codes.devices, dev),
        "processing_device_id": make.names(codes.devices, processing),
        "processing_started_at": make.times(R["claimed_at"]),
        "completed_at": make.times(R["completed_at"]),
        "failed_at": make.times(R["failed_at"]),
        "retry_count": make.ints(R["retry"]),
        "last_error": make.names(ERROR_NAMES, error),
        "created_at": make.times(R["created"]),
    }, copy=False)


def _messages(codes: Codes, make: _Columns, R: np.ndarray, M: np.ndarray,
              ids: np.ndarray) -> pd.DataFrame:
    """Return the ``messages`` frame of messages ``M`` (their rows in ``R``; ``ids``:
    1, 2, ... at least as many)."""
    rows = M["row"]
    outcome = M["outcome"]
    lead, sequence, step, day = gather_rows(R, np.ascontiguousarray(rows),
                                            codes.sequence_ids.astype(np.int32),
                                            codes.step_ids.astype(np.int32))
    return pd.DataFrame({
        "id": ids[: len(rows)],
        "sequence_contact_id": np.add(rows, 1, dtype=np.int64),
        "contact_phone": make.names(codes.phones, lead),
        "sequence_id": sequence,
        "sequence_stepid": step,
        "day_number": day,
        "device_id": make.names(codes.devices, M["dev"]),
        "due_at": make.times(M["due"]),
        "queued_at": make.times(M["queued"]),
        "scheduled_at": make.times(M["scheduled"]),
        "sent_at": make.times(M["sent"]),
        "outcome": make.names(OUTCOME_NAMES, outcome),
        "attempt": make.ints(M["attempt"]),
        "error": make.names(ERROR_NAMES, np.where(outcome == k.SEND_FAILED,
                                                  np.int8(k.SEND_ERROR - 1), np.int8(-1))),
    }, copy=False)


def _canonical(table: str, frame: pd.DataFrame, ordered: bool) -> pd.DataFrame:
    """Return ``frame`` as :func:`~seqsim.engine.schema.canonical_frame` would.

    Built with the table's columns and dtypes, in key order (``ordered``), it is
    canonical already: returned as is, without canonical_frame's uniqueness
    test and sort of millions of keys. Otherwise canonical_frame converts it.
    """
    types = column_types(table)
    if ordered and list(frame.columns) == [c for c, _ in types] and all(
            frame[c].dtype == d for c, d in types):
        return frame
    return canonical_frame(table, frame)


#: The tables built from the kernel's records, in the order a run lists them.
BUILT = ("leads", "sequence_contacts", "messages")


class KernelTables(Mapping[str, pd.DataFrame]):
    """A compiled run's tables: the static ones as given, and ``leads``,
    ``sequence_contacts`` and ``messages`` built from the kernel's records
    (:class:`Final`) on first access, with the canonical columns and dtypes.

    A big run's frames are most of its memory and of the time its result
    takes, and a run's own checks and summary need none of them:
    :meth:`working` gives those the same tables with categorical strings and
    views of the records. Pickling carries the records, not the frames.
    """

    def __init__(self, static: Mapping[str, pd.DataFrame], codes: Codes, final: Final) -> None:
        # The run's database lists the built tables too (empty): keep its order.
        self._names = (*static, *(name for name in BUILT if name not in static))
        self._static = {name: frame for name, frame in static.items() if name not in BUILT}
        self._codes = codes
        self._final = final
        self._frames: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()
        self._contract = _Contract()
        # One of each maker a run: their string tables and categorical dtypes
        # (a million phones checked unique) are made once, not per frame.
        self._working = _Working()
        # The working tables some caller still holds: a step table and the send
        # log it reads ask for the same ones, built once (freed when all let go).
        self._in_use: weakref.WeakValueDictionary[str, pd.DataFrame] = (
            weakref.WeakValueDictionary())
        self._id_range: np.ndarray | None = None
        self._id_lock = threading.Lock()

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name in self._static:
            return self._static[name]
        if name not in BUILT:
            raise KeyError(name)
        with self._lock:  # two threads asking at once build it once
            if name not in self._frames:
                self._frames[name] = self._build(name, self._contract)
            return self._frames[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names  # Mapping's own would build the frame

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        built = ", ".join(self._frames) or "none"
        return f"KernelTables({', '.join(self)}; built: {built})"

    def working(self, name: str) -> pd.DataFrame:
        """Return ``leads``, ``sequence_contacts`` or ``messages`` for the run's
        checks, summary and send log: the contract frame once built, else one
        whose string columns are categoricals (a phone's dtype is the same object
        in each of the three) and whose other columns view the records; the
        same object while any caller holds it (it is read, never changed)."""
        with self._lock:
            if name in self._frames:
                return self._frames[name]
            held = self._in_use.get(name)
        if held is not None:
            return held
        frame = self._build(name, self._working)
        with self._lock:
            return self._in_use.setdefault(name, frame)

    @property
    def records(self) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's row and message records the tables are built from."""
        return self._final.rows, self._final.messages

    def paged(self) -> Pager:
        """Return a :class:`~seqsim.spill.Pager` of :attr:`records`: while it runs,
        passes over them hold only the pages read last."""
        return Pager(*self.records)

    def _ids(self) -> np.ndarray:
        """Return 1, 2, ..., n for the longer of the two tables, read-only: both
        tables' ``id`` columns (working and contract) are views of it, one array
        where each was 32 MB on a big run."""
        with self._id_lock:  # not self._lock: __getitem__ holds it while building
            if self._id_range is None:
                n = max(len(self._final.rows), len(self._final.messages))
                self._id_range = np.arange(1, n + 1, dtype=np.int64)
                self._id_range.flags.writeable = False
            return self._id_range

    def _build(self, name: str, make: _Columns) -> pd.DataFrame:
        with self.paged():  # each frame reads the records once, front to back
            return self._build_from(name, make)

    def _build_from(self, name: str, make: _Columns) -> pd.DataFrame:
        codes, final = self._codes, self._final
        if name == "leads":
            leads, ordered = _lead_table(codes, make, final.lead_trig, final.lead_n)
            return _canonical("leads", leads, ordered) if isinstance(make, _Contract) else leads
        # Ids run 1..n in row order: both frames are in key order by construction.
        if name == "sequence_contacts":
            frame = _contacts(codes, make, final.rows, self._ids())
        else:
            frame = _messages(codes, make, final.rows, final.messages, self._ids())
        return _canonical(name, frame, True) if isinstance(make, _Contract) else frame

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_frames": {}, "_lock": None, "_contract": None,
                "_working": None, "_in_use": None, "_id_range": None, "_id_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock(), _contract=_Contract(),
                             _working=_Working(), _in_use=weakref.WeakValueDictionary(),
                             _id_lock=threading.Lock())


def paged(tables: Mapping[str, pd.DataFrame]) -> AbstractContextManager[object]:
    """Return :meth:`KernelTables.paged` of a compiled run's tables, else a context
    that does nothing (other engines' tables are frames)."""
    return tables.paged() if isinstance(tables, KernelTables) else nullcontext()


def timeline_frame(start_us: int, poll_us: int, timeline: np.ndarray) -> pd.DataFrame:
    """Return the kernel's per-poll counts as the run's timeline frame."""
    polls = timeline.shape[1]
    times = start_us + poll_us * np.arange(polls, dtype=np.int64)
    return pd.DataFrame({
        "time": _times(times),
        "enrolled": timeline[k.L_ENROLLED],
        "sent": timeline[k.L_SENT],
        "failed": timeline[k.L_FAILED],
        "backlog": timeline[k.L_BACKLOG],
        "active": timeline[k.L_ACTIVE],
        "completed_contacts": timeline[k.L_DONE],
        "skipped": timeline[k.L_SKIPPED],
    })
