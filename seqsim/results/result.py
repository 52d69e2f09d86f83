"""What a run produced: tables, a summary of KPIs, and saving/loading them.

Columns of ``sends``, ``timeline`` and the ``summary`` keys are a contract
(``shared/architecture.md``): add to them, never rename.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import tomli_w

from seqsim.engine.schema import canonical_frame, contact_pair_codes
from seqsim.errors import SeqsimError
from seqsim.model.scenario import Scenario
from seqsim.testing import ContactChecks, check_contacts, skipped_rows
from seqsim.units import HOUR_US

__all__ = ["SENDS_COLUMNS", "SUMMARY_KEYS", "TIMELINE_COLUMNS", "Result", "build_result",
           "load_result"]

SENDS_COLUMNS = ("contact_phone", "sequence", "day_number", "due_at", "sent_at", "lateness_s",
                 "device_id", "outcome", "attempt", "queued_at", "designed_at", "drift_hours",
                 "early")
TIMELINE_COLUMNS = ("time", "enrolled", "sent", "failed", "backlog", "active",
                    "completed_contacts", "skipped")
SUMMARY_KEYS = (
    "contacts_enrolled", "messages_sent", "messages_failed", "contacts_completed",
    "contacts_failed", "contacts_active", "peak_backlog", "lateness_p50_s", "lateness_p95_s",
    "lateness_p99_s", "lateness_max_s", "mean_completion_hours", "designed_completion_hours",
    "duplicate_sends", "lost_contacts", "max_active_rows_per_contact",
    "early_sends", "drift_hours_p50", "drift_hours_p95", "drift_hours_max",
    "max_messages_per_contact_per_hour", "skipped_steps",
)
_NAT = np.datetime64("NaT", "us")
_FILES = ("sends.parquet", "timeline.parquet", "contacts.parquet", "summary.json",
          "scenario.toml", "info.json", "seqsim.duckdb")


@dataclass
class Result:
    """One run's output.

    Attributes:
        scenario: the fully resolved scenario that was run.
        sends: one row per send attempt (columns :data:`SENDS_COLUMNS`).
        timeline: one row per poll (columns :data:`TIMELINE_COLUMNS`).
        contacts: the final ``sequence_contacts`` table.
        summary: KPIs (JSON-serialisable; keys :data:`SUMMARY_KEYS`).
        tables: every database table at the end of the run, by name.
        info: how the run went (engine, polls run, real seconds); not part of
            the results proper, so it never enters comparisons.
    """

    scenario: Scenario
    sends: pd.DataFrame
    timeline: pd.DataFrame
    contacts: pd.DataFrame
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the run to directory ``path`` atomically and return it.

        The directory holds ``sends.parquet``, ``timeline.parquet``,
        ``contacts.parquet``, ``summary.json``, ``scenario.toml`` (fully
        resolved), ``info.json`` and ``seqsim.duckdb`` with every table. It is
        built beside the target and renamed into place, so a failure leaves no
        half-written directory; an existing result directory is replaced.

        Raises:
            SeqsimError: ``path`` exists and is not a seqsim result directory.
        """
        target = Path(path)
        ours = all((target / f).exists() for f in ("summary.json", "scenario.toml"))
        foreign = target.exists() and not ours
        if foreign and (not target.is_dir() or any(target.iterdir())):
            raise SeqsimError(
                f"out: {str(target)!r} is not valid; it exists and is not a seqsim result "
                "directory (choose a new or empty directory)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            self._write(tmp)
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
                os.replace(target, old / "result")
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def _write(self, folder: Path) -> None:
        self.sends.to_parquet(folder / "sends.parquet", index=False)
        self.timeline.to_parquet(folder / "timeline.parquet", index=False)
        self.contacts.to_parquet(folder / "contacts.parquet", index=False)
        (folder / "summary.json").write_text(json.dumps(self.summary, indent=2, sort_keys=True))
        (folder / "info.json").write_text(json.dumps(self.info, indent=2, sort_keys=True))
        (folder / "scenario.toml").write_text(_portable_scenario_toml(self.scenario, folder))
        con = duckdb.connect(str(folder / "seqsim.duckdb"))
        try:
            frames = {**self.tables, "sends": self.sends, "timeline": self.timeline}
            for name, frame in frames.items():
                con.register("_frame", frame)
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _frame')
                con.unregister("_frame")
        finally:
            con.close()


def _portable_scenario_toml(scenario: Scenario, folder: Path) -> str:
    """Return the scenario as TOML with each trace copied into ``folder/traces``.

    The saved scenario names the copies by relative path, so a result stays
    loadable after the original trace moves or the directory is copied to
    another machine.
    """
    data = scenario.to_dict()
    for i, workload in enumerate(data["workload"]):
        if workload.get("kind") == "trace":
            source = Path(workload["path"])
            copy = Path("traces") / f"{i}-{source.name}"
            (folder / "traces").mkdir(exist_ok=True)
            shutil.copyfile(source, folder / copy)
            workload["path"] = copy.as_posix()
    return tomli_w.dumps(data)


def load_result(path: str | os.PathLike[str]) -> Result:
    """Load a result directory written by :meth:`Result.save`.

    Raises:
        SeqsimError: the directory is missing or lacks one of its files.
    """
    folder = Path(path)
    missing = [f for f in _FILES if not (folder / f).exists()]
    if missing:
        raise SeqsimError(
            f"result: {str(folder)!r} is not valid; it is not a seqsim result directory "
            f"(missing {', '.join(missing)})"
        )
    con = duckdb.connect(str(folder / "seqsim.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        tables = {
            n: canonical_frame(n, con.execute(f'SELECT * FROM "{n}"').df())
            for n in names if n not in ("sends", "timeline")
        }
    finally:
        con.close()
    return Result(
        scenario=Scenario.from_toml(folder / "scenario.toml"),
        sends=pd.read_parquet(folder / "sends.parquet"),
        timeline=pd.read_parquet(folder / "timeline.parquet"),
        contacts=pd.read_parquet(folder / "contacts.parquet"),
        summary=json.loads((folder / "summary.json").read_text()),
        tables=tables,
        info=json.loads((folder / "info.json").read_text()),
    )


# ------------------------------------------------------------------ building


def build_result(
    scenario: Scenario,
    tables: dict[str, pd.DataFrame],
    timeline: pd.DataFrame,
    info: dict[str, Any],
    *,
    pairs: np.ndarray | None = None,
) -> Result:
    """Assemble a :class:`Result` from a finished run's tables and timeline.

    ``pairs``: the contacts' :func:`seqsim.engine.schema.contact_pair_codes`, when
    the engine already knows them.
    """
    contacts = tables["sequence_contacts"]
    steps = tables["sequence_steps"]
    pairs = contact_pair_codes(contacts) if pairs is None else pairs
    # The checks sort a copy of the contacts: run them before the sends exist,
    # so the two big transients never overlap (peak memory on large runs).
    checks = check_contacts(contacts, steps, pairs=pairs, policy=scenario.policy)
    sends = build_sends(tables["messages"], tables["sequences"], contacts=contacts, steps=steps,
                        pairs=pairs)
    summary = build_summary(sends, timeline, contacts, tables["sequence_steps"],
                            tables["messages"], pairs=pairs, checks=checks)
    info = {**info, "invariant_violations": checks.problems}
    return Result(scenario, sends, timeline, contacts, summary, tables, info)


def build_sends(
    messages: pd.DataFrame,
    sequences: pd.DataFrame,
    *,
    contacts: pd.DataFrame | None = None,
    steps: pd.DataFrame | None = None,
    pairs: np.ndarray | None = None,
) -> pd.DataFrame:
    """Return one row per delivered send attempt, in send order.

    The schedule columns need the ``sequence_steps`` table (``steps``) and,
    for ``designed_at``/``drift_hours``, the ``sequence_contacts`` table
    (``contacts``; ``pairs``: its :func:`seqsim.engine.schema.contact_pair_codes`, if
    known). Without them ``designed_at`` is NaT, ``drift_hours`` NaN and
    ``early`` False.

    - ``designed_at``: the contact's enrolment in the sequence (its entry
      row's ``created_at``) + the step's designed offset, the sum of the
      ``trigger_delay_hours`` of the sequence's steps after the entry up to
      and including this one (0 for the entry step);
    - ``drift_hours``: ``sent_at - designed_at`` in hours;
    - ``early``: a successful send of a non-entry step before the contact's
      first successful send of the previous step + this step's delay (False
      when the previous step was never sent).
    """
    delivered = messages["outcome"].notna().to_numpy()
    # Usually every message was delivered: share its columns instead of copying.
    done = messages if delivered.all() else messages[delivered]
    designed, early = _schedule(done, contacts, steps, pairs)
    sent_at = done["sent_at"].to_numpy()
    names = pd.Series(sequences["name"].array, index=sequences["id"].to_numpy())
    sends = pd.DataFrame(
        {
            "contact_phone": done["contact_phone"].array,
            "sequence": names.take(names.index.get_indexer(done["sequence_id"])).array,
            "day_number": done["day_number"].to_numpy(dtype="int64"),
            "due_at": done["due_at"].to_numpy(),
            "sent_at": done["sent_at"].to_numpy(),
            "lateness_s": (done["sent_at"] - done["due_at"]).dt.total_seconds().to_numpy(),
            "device_id": done["device_id"].array,
            "outcome": done["outcome"].array,
            "attempt": done["attempt"].to_numpy(dtype="int64"),
            "queued_at": done["queued_at"].to_numpy(),
            "designed_at": designed,
            "drift_hours": (sent_at - designed) / np.timedelta64(1, "h"),
            "early": early,
        },
        copy=False,
    )
    if not sends["sent_at"].is_monotonic_increasing:
        # Messages are numbered in queue order; pacing can reorder their sends.
        sends = sends.take(np.lexsort((done["id"].to_numpy(), sends["sent_at"].to_numpy())))
    return sends.reset_index(drop=True)


def _find(keys: np.ndarray, queries: np.ndarray, *, tiebreak: np.ndarray | None = None
          ) -> np.ndarray:
    """Return, for each query, the position in ``keys`` of an equal key, or -1.

    Among equal keys the one with the smallest ``tiebreak`` (else the first)
    is returned. Sort + searchsorted: no hashing, no Python loop.
    """
    if not len(keys):
        return np.full(len(queries), -1, dtype=np.int64)
    order = (np.argsort(keys, kind="stable") if tiebreak is None
             else np.lexsort((tiebreak, keys)))
    ordered = keys[order]
    at = np.minimum(np.searchsorted(ordered, queries), len(ordered) - 1)
    return np.where(ordered[at] == queries, order[at], -1)


def _rows_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Return the position of each ``wanted`` id in ``ids`` (-1 when absent).

    The engines number rows 1..n in order: then the position is the id - 1.
    """
    n = len(ids)
    if n and ids[0] == 1 and ids[-1] == n and (n < 2 or bool((np.diff(ids) == 1).all())):
        return np.where((wanted >= 1) & (wanted <= n), wanted - 1, -1)
    return _find(ids, wanted)


def _entry_times(entry_pairs: np.ndarray, created: np.ndarray, pair: np.ndarray) -> np.ndarray:
    """Return each ``pair``'s enrolment (its entry row's ``created``), NaT when unknown.

    Pair codes are small integers (a phone code times the sequence count): a
    table indexed by code answers without sorting; otherwise sort + search.
    """
    top = int(max(entry_pairs.max(initial=-1), pair.max(initial=-1))) + 1
    if 0 < top <= 4 * (len(entry_pairs) + len(pair)) + 16 and pair.min(initial=0) >= -1:
        by_code = np.full(top + 1, _NAT)  # the extra slot answers pair == -1 with NaT
        # One entry row per pair (the unique key); the earliest wins if not.
        order = np.argsort(created, kind="stable")[::-1]
        by_code[entry_pairs[order]] = created[order]
        return by_code[np.where(pair >= 0, pair, top)]
    entry = _find(entry_pairs, pair, tiebreak=created.astype(np.int64))
    return np.where(entry >= 0, created[np.maximum(entry, 0)], _NAT)


def _schedule(
    done: pd.DataFrame,
    contacts: pd.DataFrame | None,
    steps: pd.DataFrame | None,
    pairs: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``designed_at`` and ``early`` columns of :func:`build_sends`."""
    n = len(done)
    designed = np.full(n, _NAT)
    early = np.zeros(n, dtype=bool)
    if steps is None or not n or steps.empty:
        return designed, early
    # Steps in (sequence, day) order; each one's designed offset from enrolment.
    by_day = steps.sort_values(["sequence_id", "day_number"], kind="stable")
    seq = by_day["sequence_id"].to_numpy(np.int64)
    delay = by_day["trigger_delay_hours"].to_numpy(np.int64) * HOUR_US
    first = np.r_[True, seq[1:] != seq[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(seq)), 0))
    total = np.cumsum(delay)
    offset = total - total[start]
    step = pd.Index(by_day["id"].to_numpy(np.int64)).get_indexer(
        done["sequence_stepid"].to_numpy(np.int64))
    known = step >= 0
    step = np.where(known, step, 0)
    sent_at = done["sent_at"].to_numpy("datetime64[us]")

    if contacts is not None and not contacts.empty:
        pairs = contact_pair_codes(contacts) if pairs is None else pairs
        row = _rows_of(contacts["id"].to_numpy(np.int64),
                       done["sequence_contact_id"].to_numpy(np.int64))
        pair = np.where(row >= 0, pairs[np.maximum(row, 0)], -1)
        entry_ids = steps.loc[steps["is_entry_point"].astype(bool), "id"].to_numpy(np.int64)
        is_entry = np.isin(contacts["sequence_stepid"].to_numpy(np.int64), entry_ids)
        created = contacts["created_at"].to_numpy("datetime64[us]")[is_entry]
        enrolled = _entry_times(pairs[is_entry], created, pair)
        found = known & (row >= 0) & ~np.isnat(enrolled)
        designed = np.where(found, enrolled + offset[step].astype("timedelta64[us]"), _NAT)
    else:
        pair = contact_pair_codes(done)

    # early: against the contact's first successful send of the previous step.
    sent = (done["outcome"] == "sent").to_numpy() & known & (pair >= 0)
    if not sent.any():
        return designed, early
    width = len(by_day)
    if int(pair.max()) >= np.iinfo(np.int64).max // (width + 1):  # pragma: no cover - huge
        pair = np.unique(pair, return_inverse=True)[1].astype(np.int64)
    key = pair * width + step
    sent_pos = np.flatnonzero(sent)
    has_prev = sent & ~first[step]
    prev_key = key - 1  # the previous step of a sequence is the previous row of by_day
    prev_sent = _first_sent(key, sent_pos, sent_at, prev_key)
    due = prev_sent + delay[step].astype("timedelta64[us]")
    early = has_prev & ~np.isnat(prev_sent) & (sent_at < due)
    return designed, early


def _first_sent(key: np.ndarray, sent_pos: np.ndarray, sent_at: np.ndarray,
                wanted: np.ndarray) -> np.ndarray:
    """Return, for each ``wanted`` key, the earliest ``sent_at`` among the rows
    ``sent_pos`` with that key (NaT when none). A table indexed by key when the
    keys are dense enough; else sort + search."""
    top = int(key.max()) + 1
    if top <= 8 * len(key) + 16 and key.min() >= 0:
        never = np.iinfo(np.int64).max
        first = np.full(top, never, dtype=np.int64)
        np.minimum.at(first, key[sent_pos], sent_at[sent_pos].astype(np.int64))
        inside = (wanted >= 0) & (wanted < top)
        found = first[np.where(inside, wanted, 0)]
        found = np.where(inside & (found != never), found, np.iinfo(np.int64).min)
        return found.astype("datetime64[us]")
    hit = _find(key[sent_pos], wanted, tiebreak=sent_at[sent_pos].astype(np.int64))
    return np.where(hit >= 0, sent_at[sent_pos[np.maximum(hit, 0)]], _NAT)


def _quantile(values: np.ndarray, q: float) -> float | None:
    if not len(values):
        return None
    return round(float(np.quantile(values, q)), 6)


def build_summary(
    sends: pd.DataFrame,
    timeline: pd.DataFrame,
    contacts: pd.DataFrame,
    steps: pd.DataFrame,
    messages: pd.DataFrame,
    *,
    pairs: np.ndarray | None = None,
    checks: ContactChecks | None = None,
) -> dict[str, Any]:
    """Return the run's KPIs (see :data:`SUMMARY_KEYS`), all JSON-serialisable.

    ``pairs``: :func:`seqsim.engine.schema.contact_pair_codes` of ``contacts``, and
    ``checks``: :func:`seqsim.testing.check_contacts` of them, if known.
    """
    sent_mask = (sends["outcome"] == "sent").to_numpy()
    lateness = sends["lateness_s"].to_numpy()[sent_mask]
    pairs = contact_pair_codes(contacts) if pairs is None else pairs
    if checks is None:
        checks = check_contacts(contacts, steps, check_timing=False, pairs=pairs)
    stepid = contacts["sequence_stepid"].to_numpy()
    status = contacts["status"]
    is_entry = np.isin(stepid, steps.loc[steps["is_entry_point"], "id"].to_numpy())
    last_ids = steps.sort_values("day_number").groupby("sequence_id")["id"].last().to_numpy()
    finished = np.isin(stepid, last_ids) & (status == "completed").to_numpy()
    entry_created = pd.Series(contacts["created_at"].to_numpy()[is_entry], index=pairs[is_entry])
    started = entry_created.reindex(pairs[finished]).to_numpy()
    hours = (contacts["completed_at"].to_numpy()[finished] - started) / np.timedelta64(1, "h")
    # What the same contacts would have taken on schedule: the sum of their
    # sequence's step delays.
    planned = steps.groupby("sequence_id")["trigger_delay_hours"].sum()
    designed = planned.reindex(contacts["sequence_id"].to_numpy()[finished]).to_numpy()
    sent_rows = messages.loc[(messages["outcome"] == "sent").to_numpy(), "sequence_contact_id"]
    if "drift_hours" in sends:
        drift = sends["drift_hours"].to_numpy(dtype=float)[sent_mask]
        drift = drift[~np.isnan(drift)]
    else:  # a send log from before the schedule columns
        drift = np.array([], dtype=float)
    return {
        "contacts_enrolled": int(is_entry.sum()),
        "messages_sent": int(sent_mask.sum()),
        "messages_failed": int((sends["outcome"] == "failed").sum()),
        "contacts_completed": int(finished.sum()),
        "contacts_failed": int(np.unique(pairs[(status == "failed").to_numpy()]).size),
        "contacts_active": int(np.unique(pairs[(status == "active").to_numpy()]).size),
        "peak_backlog": int(timeline["backlog"].max()) if not timeline.empty else 0,
        "lateness_p50_s": _quantile(lateness, 0.50),
        "lateness_p95_s": _quantile(lateness, 0.95),
        "lateness_p99_s": _quantile(lateness, 0.99),
        "lateness_max_s": None if not len(lateness) else round(float(lateness.max()), 6),
        "mean_completion_hours": None if not len(hours) else round(float(hours.mean()), 6),
        "designed_completion_hours": None if not len(designed)
        else round(float(designed.mean()), 6),
        "duplicate_sends": int(len(sent_rows) - sent_rows.nunique()),
        "lost_contacts": checks.lost,
        "max_active_rows_per_contact": checks.max_active_rows,
        "early_sends": int(sends["early"].sum()) if "early" in sends else 0,
        "drift_hours_p50": _quantile(drift, 0.50),
        "drift_hours_p95": _quantile(drift, 0.95),
        "drift_hours_max": None if not len(drift) else round(float(drift.max()), 6),
        "max_messages_per_contact_per_hour": _max_messages_per_hour(
            sends, sent_mask, messages, contacts, pairs),
        "skipped_steps": int(((status == "completed").to_numpy()
                              & skipped_rows(contacts)).sum()),
    }


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
        row = _rows_of(contacts["id"].to_numpy(np.int64),
                       messages["sequence_contact_id"].to_numpy(np.int64)[sent])
        if (row >= 0).all():
            width = int(contacts["sequence_id"].max()) + 1
            return _max_sends_in_an_hour(pairs[row] // width,
                                         messages["sent_at"].to_numpy()[sent])
    return _max_sends_in_an_hour(sends["contact_phone"][sent_mask],
                                 sends["sent_at"].to_numpy()[sent_mask])


def _max_sends_in_an_hour(phones: pd.Series | np.ndarray, times: np.ndarray) -> int:
    """Return the most sends one phone got within any half-open hour ``(t - 1h, t]``.

    Vectorised: sort by (phone, time), clamp each gap between consecutive
    sends to just over an hour (a longer gap separates the same windows, and
    the clamped running sum stays far from int64 overflow), separate phones
    by such a gap too, then count each send's window with two searchsorted.
    """
    if not len(times):
        return 0
    is_code = isinstance(phones, np.ndarray) and phones.dtype.kind in "iu"
    codes = phones.astype(np.int64) if is_code else pd.factorize(phones)[0].astype(np.int64)
    micros = np.asarray(times, dtype="datetime64[us]").astype(np.int64)
    micros -= micros.min()
    span = int(micros.max()) + 1
    if codes.min() >= 0 and int(codes.max()) < (2**62) // span:
        # One sort of packed (phone, time) keys instead of a two-key lexsort.
        packed = np.sort(codes * span + micros)
        codes, micros = packed // span, packed % span
    else:  # pragma: no cover - a span of centuries
        order = np.lexsort((micros, codes))
        codes, micros = codes[order], micros[order]
    same = codes[1:] == codes[:-1]
    if not (same & (np.diff(micros) < HOUR_US)).any():
        return 1  # no phone got two sends within an hour
    apart = HOUR_US + 1
    gaps = np.minimum(np.diff(micros), apart)
    gaps[codes[1:] != codes[:-1]] = apart
    key = np.r_[np.int64(0), np.cumsum(gaps, dtype=np.int64)]
    upto = np.searchsorted(key, key, side="right")
    before = np.searchsorted(key, key - HOUR_US, side="right")
    return int((upto - before).max())
