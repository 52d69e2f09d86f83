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

from seqsim.errors import SeqsimError
from seqsim.scenario import Scenario
from seqsim.schema import canonical_frame
from seqsim.testing import invariant_violations, lost_contacts

__all__ = ["SENDS_COLUMNS", "SUMMARY_KEYS", "TIMELINE_COLUMNS", "Result", "build_result",
           "load_result"]

SENDS_COLUMNS = ("contact_phone", "sequence", "day_number", "due_at", "sent_at", "lateness_s",
                 "device_id", "outcome", "attempt", "queued_at")
TIMELINE_COLUMNS = ("time", "enrolled", "sent", "failed", "backlog", "active",
                    "completed_contacts", "skipped")
SUMMARY_KEYS = (
    "contacts_enrolled", "messages_sent", "messages_failed", "contacts_completed",
    "contacts_failed", "contacts_active", "peak_backlog", "lateness_p50_s", "lateness_p95_s",
    "lateness_p99_s", "lateness_max_s", "mean_completion_hours", "designed_completion_hours",
    "duplicate_sends", "lost_contacts", "max_active_rows_per_contact",
)
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
) -> Result:
    """Assemble a :class:`Result` from a finished run's tables and timeline."""
    sends = build_sends(tables["messages"], tables["sequences"])
    contacts = tables["sequence_contacts"]
    summary = build_summary(sends, timeline, contacts, tables["sequence_steps"])
    info = {**info, "invariant_violations": invariant_violations(
        contacts, tables["sequence_steps"],
        check_timing=scenario.policy.delay_from == "next_step")}
    return Result(scenario, sends, timeline, contacts, summary, tables, info)


def build_sends(messages: pd.DataFrame, sequences: pd.DataFrame) -> pd.DataFrame:
    """Return one row per delivered send attempt, in send order."""
    done = messages[messages["outcome"].notna()]
    names = sequences.set_index("id")["name"]
    sends = pd.DataFrame(
        {
            "contact_phone": done["contact_phone"].astype(str),
            "sequence": done["sequence_id"].map(names).astype(str),
            "day_number": done["day_number"].astype("int64"),
            "due_at": done["due_at"].astype("datetime64[us]"),
            "sent_at": done["sent_at"].astype("datetime64[us]"),
            "lateness_s": (done["sent_at"] - done["due_at"]).dt.total_seconds(),
            "device_id": done["device_id"].astype(str),
            "outcome": done["outcome"].astype(str),
            "attempt": done["attempt"].astype("int64"),
            "queued_at": done["queued_at"].astype("datetime64[us]"),
            "_id": done["id"],
        }
    )
    sends = sends.sort_values(["sent_at", "_id"], kind="stable").drop(columns="_id")
    return sends.reset_index(drop=True)


def _quantile(values: pd.Series, q: float) -> float | None:
    if values.empty:
        return None
    return round(float(np.quantile(values.to_numpy(), q)), 6)


def max_active_rows(contacts: pd.DataFrame) -> int:
    """Return the most rows one contact had active in one sequence at any instant.

    A row is active from ``created_at`` until ``completed_at``/``failed_at``
    (half-open, so a step that completes and creates the next at the same
    instant counts once).
    """
    if contacts.empty:
        return 0
    end = contacts["completed_at"].fillna(contacts["failed_at"])
    keys = ["sequence_id", "contact_phone"]
    starts = contacts[keys].assign(t=contacts["created_at"], d=1)
    ends = contacts.loc[end.notna(), keys].assign(t=end[end.notna()], d=-1)
    events = pd.concat([starts, ends], ignore_index=True)
    events = events.sort_values([*keys, "t", "d"], kind="stable")
    running = events.groupby(keys, sort=False)["d"].cumsum()
    return int(running.max())


def build_summary(
    sends: pd.DataFrame,
    timeline: pd.DataFrame,
    contacts: pd.DataFrame,
    steps: pd.DataFrame,
) -> dict[str, Any]:
    """Return the run's KPIs (see :data:`SUMMARY_KEYS`), all JSON-serialisable."""
    sent = sends[sends["outcome"] == "sent"]
    lateness = sent["lateness_s"]
    entry_ids = set(steps.loc[steps["is_entry_point"], "id"])
    last_ids = set(steps.sort_values("day_number").groupby("sequence_id")["id"].last())
    entries = contacts[contacts["sequence_stepid"].isin(entry_ids)]
    finished = contacts[contacts["sequence_stepid"].isin(last_ids)
                        & (contacts["status"] == "completed")]
    keys = ["sequence_id", "contact_phone"]
    durations = finished.merge(entries[[*keys, "created_at"]], on=keys, suffixes=("", "_entry"))
    hours = (durations["completed_at"] - durations["created_at_entry"]).dt.total_seconds() / 3600
    # What the same contacts would have taken on schedule: the sum of their
    # sequence's step delays.
    designed = durations["sequence_id"].map(
        steps.groupby("sequence_id")["trigger_delay_hours"].sum()
    )
    per_step = sent.groupby(["contact_phone", "sequence", "day_number"]).size()
    summary: dict[str, Any] = {
        "contacts_enrolled": len(entries),
        "messages_sent": len(sent),
        "messages_failed": int((sends["outcome"] == "failed").sum()),
        "contacts_completed": len(finished),
        "contacts_failed": int(
            contacts.loc[contacts["status"] == "failed", keys].drop_duplicates().shape[0]
        ),
        "contacts_active": int(
            contacts.loc[contacts["status"] == "active", keys].drop_duplicates().shape[0]
        ),
        "peak_backlog": int(timeline["backlog"].max()) if not timeline.empty else 0,
        "lateness_p50_s": _quantile(lateness, 0.50),
        "lateness_p95_s": _quantile(lateness, 0.95),
        "lateness_p99_s": _quantile(lateness, 0.99),
        "lateness_max_s": None if lateness.empty else round(float(lateness.max()), 6),
        "mean_completion_hours": None if hours.empty else round(float(hours.mean()), 6),
        "designed_completion_hours": None if designed.empty
        else round(float(designed.mean()), 6),
        "duplicate_sends": int((per_step - 1).clip(lower=0).sum()),
        "lost_contacts": lost_contacts(contacts, steps),
        "max_active_rows_per_contact": max_active_rows(contacts),
    }
    return summary
