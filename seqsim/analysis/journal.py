"""A sweep's output folder: one JSON line per finished run, written as it finishes.

``<out>/runs.jsonl`` holds one object per run: ``run_id``, ``seed``,
``point`` (the grid point as key -> value), ``kpis``, ``wall_seconds`` and
``error`` (None, or the failure's type and message). Each line is flushed and
synced before the next run is counted, so a sweep killed at any moment keeps
every run it reported. Opening the folder again reads the lines back; a torn
last line (the kill landed mid-write) is dropped, and so are failed runs, so
that a re-run retries them. With ``keep_results`` each run's result directory
is saved under ``<out>/results/<run_id>/``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from seqsim.errors import OutputError
from seqsim.validation import show_path

__all__ = ["RUNS_FILE", "Journal"]

#: The file of a sweep folder holding one finished run per line.
RUNS_FILE = "runs.jsonl"


class Journal:
    """The finished runs of a sweep folder, and the file that new ones are appended to."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        """Open (creating it if needed) a sweep folder and read its finished runs.

        Raises:
            OutputError: the folder cannot be created or its file written.
        """
        self.folder = Path(folder)
        self.path = self.folder / RUNS_FILE
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.done = _read(self.path)
            # Rewrite without torn or failed lines, so that appends start on a fresh line.
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.done.values()),
                           encoding="utf-8")
            os.replace(tmp, self.path)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"out: {show_path(folder)} is not valid; expected a folder that "
                              f"can be written ({exc.strerror or exc})") from None

    def results_dir(self, run_id: str) -> Path:
        """Return where a run's saved result directory goes."""
        return self.folder / "results" / run_id

    def add(self, row: dict[str, Any]) -> None:
        """Append one finished run and sync it to disk."""
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        if row.get("error") is None:
            self.done[row["run_id"]] = row

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def _read(path: Path) -> dict[str, dict[str, Any]]:
    """Return the successful runs of a runs file by run_id (none when it is missing)."""
    if not path.exists():
        return {}
    done: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line: that run was not finished
        if isinstance(row, dict) and isinstance(row.get("run_id"), str) \
                and row.get("error") is None:
            done[row["run_id"]] = row
    return done
