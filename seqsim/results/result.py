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
import pandas as pd
import tomli_w

from seqsim.engine.schema import canonical_frame
from seqsim.errors import SeqsimError
from seqsim.model.scenario import Scenario

__all__ = ["SENDS_COLUMNS", "SUMMARY_KEYS", "TIMELINE_COLUMNS", "Result", "load_result"]

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
