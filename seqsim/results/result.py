"""What a run produced: tables, a summary of KPIs, and saving/loading them.

Columns of ``sends``, ``timeline`` and the ``summary`` keys are a contract
(``shared/architecture.md``): add to them, never rename.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import tomli_w

from seqsim.engine.kernel_tables import paged
from seqsim.engine.lateness import WAIT_COLUMNS
from seqsim.errors import OutputError, SeqsimError
from seqsim.model.scenario import Scenario
from seqsim.results.lazy import RunFrames, working_table
from seqsim.results.query import RunTables
from seqsim.results.steps import step_table
from seqsim.results.store import open_result_dir, write_result_dir
from seqsim.results.stored import CONTRACT_FRAMES, StoredRun, StoredTables
from seqsim.validation import show_path

__all__ = ["SENDS_COLUMNS", "SUMMARY_FLAGS", "SUMMARY_KEYS", "TIMELINE_COLUMNS", "Result",
           "load_result"]

SENDS_COLUMNS = ("contact_phone", "sequence", "day_number", "due_at", "sent_at", "lateness_s",
                 "device_id", "outcome", "attempt", "queued_at", "designed_at", "drift_hours",
                 "early", *WAIT_COLUMNS)
TIMELINE_COLUMNS = ("time", "enrolled", "sent", "failed", "backlog", "active",
                    "completed_contacts", "skipped")
SUMMARY_KEYS = (
    "contacts_enrolled", "messages_sent", "messages_failed", "contacts_completed",
    "contacts_failed", "contacts_active", "peak_backlog", "lateness_p50_s", "lateness_p95_s",
    "lateness_p99_s", "lateness_max_s", "mean_completion_hours", "designed_completion_hours",
    "duplicate_sends", "lost_contacts", "max_active_rows_per_contact",
    "early_sends", "drift_hours_p50", "drift_hours_p95", "drift_hours_max",
    "max_messages_per_contact_per_hour", "skipped_steps", "stuck_contacts",
    "late_by_claim_release_s",
    "last_contact_finished_hours", "queued_at_peak_backlog",
    "unsent_due_at_end", "unsent_waiting_at_end", "unsent_queued_at_end",
    "unsent_wait_lower_bound_s_p50", "unsent_wait_lower_bound_s_max",
    "lateness_includes_unsent",
)
#: Summary keys that are flags, not KPIs: no comparison or baseline takes them.
SUMMARY_FLAGS = ("lateness_includes_unsent",)
#: DuckDB's errors when it cannot write its own file: at a write, at the commit, or
#: after it gave the database up.
_WRITE_ERRORS = (duckdb.IOException, duckdb.TransactionException, duckdb.FatalException)
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

    The frames are built on first access: a fresh run's ``sends``,
    ``contacts``, ``timeline`` and its large tables (``sequence_contacts``,
    ``leads``, ``messages``) from the engine's arrays; a result from
    :func:`load_result` reads each table from its directory, and :meth:`sql`
    queries the saved database without loading any.
    """

    scenario: Scenario
    sends: pd.DataFrame
    timeline: pd.DataFrame
    contacts: pd.DataFrame
    summary: dict[str, Any]
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    _query: RunTables | None = field(default=None, init=False, repr=False, compare=False)
    _stored: StoredRun | RunFrames | None = field(default=None, init=False, repr=False,
                                                  compare=False)

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute that is not set: the contract frames
        # of a fresh or loaded result until they are first read.
        stored = self.__dict__.get("_stored")
        if stored is None or name not in CONTRACT_FRAMES:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        frame = stored.frame(name)
        self.__dict__[name] = frame
        return frame

    def __repr__(self) -> str:
        # A few facts, and no frame built for them: a repr (a notebook cell's
        # echo) must not cost a million-row run its largest tables.
        sim = self.scenario.simulation
        facts = [f"start={sim.start:%Y-%m-%d %H:%M}", f"duration={sim.duration}",
                 f"seed={sim.seed}", f"engine={self.info.get('engine', sim.engine)!r}",
                 *(f"{key}={self.summary[key]:,}" for key in
                   ("contacts_enrolled", "messages_sent") if key in self.summary),
                 f"invariant_violations={len(self.info.get('invariant_violations', []))}"]
        built = [name for name in CONTRACT_FRAMES if name in self.__dict__]
        return f"Result({', '.join(facts)}; frames in memory: {', '.join(built) or 'none'})"

    @classmethod
    def _of_source(cls, scenario: Scenario, summary: dict[str, Any], info: dict[str, Any],
                   source: StoredRun | RunFrames, tables: Mapping[str, pd.DataFrame]
                   ) -> Result:
        """Return a result whose contract frames ``source`` gives on first access:
        a loaded result's files (:class:`StoredRun`, with ``tables`` its
        :class:`StoredTables`) or a fresh run's frames (:class:`RunFrames`)."""
        result = cls(scenario, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), summary,
                     tables, info)
        for name in CONTRACT_FRAMES:
            del result.__dict__[name]
        result._stored = source
        result._query = source.query
        return result

    def sql(self, query: str) -> pd.DataFrame:
        """Return the rows of one DuckDB ``SELECT`` over the run's tables.

        The tables are ``sends`` and ``timeline`` and every table of
        :attr:`tables` (``sequence_contacts``, ``leads``, ``messages``,
        ``sequences``, ``sequence_steps``...), by name. They are read-only.

        Raises:
            SeqsimError: ``query`` is not exactly one SELECT (or EXPLAIN)
                statement (a write, several statements), or DuckDB rejects it;
                the message names the statement and the tables.
        """
        return self._run_tables().sql(query)

    def relation(self, table: str) -> duckdb.DuckDBPyRelation:
        """Return a DuckDB relation over one of the run's tables (see :meth:`sql`),
        on a connection of its own, so nothing done with it changes the run's tables.

        Raises:
            SeqsimError: there is no such table (the message lists them).
        """
        return self._run_tables().relation(table)

    def __getstate__(self) -> dict[str, Any]:
        # A DuckDB connection and open files do not pickle (a result sent
        # between processes): a loaded result goes with every table read. A
        # fresh run's frames go as what builds them (the engine's records).
        state = {**self.__dict__, "_query": None}
        if isinstance(self._stored, StoredRun):
            state.update({name: getattr(self, name) for name in CONTRACT_FRAMES})
            state["tables"] = dict(self.tables)
            state["_stored"] = None
        return state

    def _run_tables(self) -> RunTables:
        # Built on first use and kept: the tables of a result do not change.
        if self._query is None:
            self._query = RunTables(_QueryFrames(self))
        return self._query

    @property
    def steps(self) -> pd.DataFrame:
        """Return one row per sequence step: sends, failures, lateness p50/p95/max,
        completion time p50/p95/max, the last send and completion, and what was
        left unsent at the run's end (columns
        :data:`seqsim.results.steps.STEP_COLUMNS`; see :func:`~seqsim.results.steps.step_table`).

        Raises:
            SeqsimError: the result lacks the tables a step table needs.
        """
        needed = ("sequence_steps", "sequences", "messages")
        missing = [name for name in needed if name not in self.tables]
        if missing:
            raise SeqsimError(f"steps: this result lacks the {', '.join(missing)} table(s); "
                              "expected a result from seqsim.simulate or load_result")
        # Numbers alone of the contacts and messages: a fresh run's working tables
        # spare the contract frames' strings (most of a big run's step table).
        # Held first, so that the send log's columns below read the same ones.
        # Their columns view a compiled run's records: read under its pager.
        with paged(self.tables):
            contacts = working_table(self.tables, "sequence_contacts")
            messages = working_table(self.tables, "messages")
            sends = self.__dict__.get("sends")  # built or given; else the columns read
            if sends is None:
                sends = self.sends if self._stored is None else self._stored.step_sends()
            return step_table(sends, contacts, self.tables["sequence_steps"],
                              self.tables["sequences"], messages,
                              self.scenario.simulation.end)

    def save(self, path: str | os.PathLike[str],
             extra: Callable[[Path], object] | None = None) -> Path:
        """Write the run to result directory ``path`` and return it (as a Path).

        The directory holds ``sends.parquet``, ``timeline.parquet``,
        ``contacts.parquet``, ``summary.json``, ``scenario.toml`` (fully
        resolved, traces copied into ``traces/``), ``info.json``,
        ``seqsim.duckdb`` with every table, and the manifest
        ``seqsim-result.json`` listing them. ``extra(folder)``, when given,
        may add files (e.g. a report) before the manifest is written.

        The path takes the new directory only once all of it is on disk, so
        an error or a kill at any instant leaves the earlier content (or
        nothing) there: see :mod:`seqsim.results.store`. Only an absent path,
        an empty directory or a seqsim result directory holding nothing but
        its own files is replaced; a symbolic link is refused.

        Raises:
            OutputError: ``path`` is not one seqsim may replace (a file, a
                link, a folder with other files), holds a character DuckDB
                cannot open (``?``, ``\\``), or cannot be written (no
                permission, a read-only or full file system...).
        """

        _check_duckdb_path("out", path)

        def write(folder: Path) -> None:
            self._write(folder)
            if extra is not None:
                extra(folder)

        return write_result_dir(path, write)

    def _write(self, folder: Path) -> None:
        for name, frame in (("sends", self.sends), ("timeline", self.timeline),
                            ("contacts", self.contacts)):
            try:
                frame.to_parquet(folder / f"{name}.parquet", index=False)
            except OSError as exc:  # pyarrow's message does not name the file
                raise OSError(f"{name}.parquet: {exc}") from exc
        (folder / "summary.json").write_text(json.dumps(self.summary, indent=2, sort_keys=True))
        (folder / "info.json").write_text(json.dumps(self.info, indent=2, sort_keys=True))
        (folder / "scenario.toml").write_text(_portable_scenario_toml(self.scenario, folder))
        # The messages as the run's working table (names as categoricals, written
        # as VARCHAR): a compiled run's contract messages frame would be built,
        # and kept, only to be copied into the database.
        with paged(self.tables):  # the working messages view a compiled run's records
            frames = {name: working_table(self.tables, name) if name == "messages"
                      else self.tables[name] for name in self.tables}
            _write_database(folder / "seqsim.duckdb",
                            {**frames, "sends": self.sends, "timeline": self.timeline})


def _check_duckdb_path(key: str, path: str | os.PathLike[str]) -> None:
    """Reject a result path DuckDB cannot open: it reads ``?`` in a file name as the
    start of options, and ``\\`` as a folder separator (DuckDB 2.0, even through a link).

    Raises:
        OutputError: the absolute path holds ``?`` or ``\\``.
    """
    full = os.path.abspath(os.fsdecode(os.fspath(path)))
    odd = sorted({c for c in full if c in ("?\\" if os.sep == "/" else "?")})
    if odd:
        raise OutputError(f"{key}: {show_path(full)} is not valid; DuckDB cannot open a file "
                          f"whose path holds {' or '.join(map(repr, odd))}; expected a path "
                          "without them")


def _write_database(path: Path, frames: dict[str, pd.DataFrame]) -> None:
    """Write ``frames`` as the tables of a new DuckDB file ``path``, checkpointed.

    Raises:
        OSError: DuckDB could not write or checkpoint the file (a full disk):
            a ``.wal`` left beside it would mean the file alone is incomplete.
    """
    try:
        con = duckdb.connect(str(path))
        try:
            for name, frame in frames.items():
                con.register("_frame", _arrow(frame))
                con.execute(f'CREATE TABLE "{name}" AS SELECT {_columns(frame)} FROM _frame')
                con.unregister("_frame")
            con.execute("CHECKPOINT")  # raises when it cannot, unlike close()
        finally:
            con.close()
    except _WRITE_ERRORS as exc:  # how DuckDB reports a full disk, by the step it was at
        raise OSError(f"{path.name}: {exc}") from exc
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        raise OSError(f"{path.name}: the checkpoint did not complete ({wal.name} is left)")


def _columns(frame: pd.DataFrame) -> str:
    """Return the select list that stores ``frame``: a categorical column as VARCHAR
    (the type its strings would have; an all-missing one would be NULL-typed)."""
    def quoted(column: Any) -> str:
        return '"' + str(column).replace('"', '""') + '"'

    return ", ".join(
        f"CAST({quoted(column)} AS VARCHAR) AS {quoted(column)}"
        if isinstance(dtype, pd.CategoricalDtype) else quoted(column)
        for column, dtype in frame.dtypes.items())


def _arrow(frame: pd.DataFrame) -> pa.Table | pd.DataFrame:
    """Return ``frame`` as an Arrow table for DuckDB to copy, or itself when Arrow
    cannot convert it (a column of mixed Python objects in a hand-made result).

    DuckDB copies Arrow columns without a Python object per string: 7.4 s for
    the tables of a 1M-contact run against 13.1 s from the frames, same types
    and rows.
    """
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        return frame


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


class _QueryFrames(Mapping[str, pd.DataFrame]):
    """A result's tables and its ``sends`` and ``timeline``, by name, each read from
    the result only when asked (a query names it): a fresh run builds its frames
    on first read."""

    def __init__(self, result: Result) -> None:
        self._result = result
        self._names = (*result.tables, "sends", "timeline")

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name in ("sends", "timeline"):
            return getattr(self._result, name)
        return self._result.tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def load_result(path: str | os.PathLike[str]) -> Result:
    """Load a result directory written by :meth:`Result.save`.

    Cleans up first after a save of ``path`` that was killed (and puts back
    the earlier result if the kill left the path empty). The tables are read
    on first access (see :class:`Result`), from the files as they were at
    the load: a later save over ``path`` does not change them. A directory written
    before manifests existed (no ``seqsim-result.json``) loads as well.

    Raises:
        SeqsimError: the directory is missing, lacks one of its files, a
            file its manifest lists is missing or changed, or the database or
            a Parquet file cannot be opened as one.
    """
    _check_duckdb_path("result", path)
    folder = open_result_dir(path)
    missing = [f for f in _FILES if not (folder / f).exists()]
    if missing:
        raise SeqsimError(
            f"result: {str(folder)!r} is not valid; it is not a seqsim result directory "
            f"(missing {', '.join(missing)})"
        )
    stored = StoredRun(folder)
    try:
        return Result._of_source(Scenario.from_toml(folder / "scenario.toml"),
                                 json.loads((folder / "summary.json").read_text()),
                                 json.loads((folder / "info.json").read_text()), stored,
                                 StoredTables(stored))
    except BaseException:
        stored.close()
        raise


# ------------------------------------------------------------------ building
