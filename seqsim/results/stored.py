"""A saved result's tables, opened when it is loaded and read on first use.

:func:`seqsim.load_result` reads a result directory's summary, info and
scenario at once, but no table: a saved production run holds millions of
rows, and a comparison or a SQL query needs few of them. A :class:`StoredRun`
holds the directory's files open from the load (the database attached
read-only, the three contract Parquet files as open handles), so a save that
replaces the directory afterwards, or deletes it, does not change what the
loaded result reads: on POSIX an open file keeps its content.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from seqsim.engine.lateness import WAIT_COLUMNS
from seqsim.engine.schema import canonical_frame
from seqsim.errors import SeqsimError
from seqsim.results.query import RunTables

__all__ = ["CONTRACT_FRAMES", "StoredRun", "StoredTables"]

#: The contract frames a result directory holds as Parquet (``NAME.parquet``).
CONTRACT_FRAMES = ("sends", "timeline", "contacts")
#: Database tables that are the contract frames, not :attr:`Result.tables`.
_NOT_TABLES = ("sends", "timeline")


class StoredRun:
    """The files of one result directory, open from its load."""

    def __init__(self, folder: Path) -> None:
        """Open the database and the Parquet files of result directory ``folder``.

        Raises:
            SeqsimError: a file is not what seqsim saved (DuckDB or Parquet
                cannot read its header or footer); the message names it.
        """
        self.query = RunTables.attached(folder / "seqsim.duckdb")
        self._lock = threading.Lock()
        self._files: dict[str, BinaryIO] = {}
        self._frames: dict[str, pd.DataFrame] = {}
        self._tables: dict[str, pd.DataFrame] = {}
        try:
            for name in CONTRACT_FRAMES:
                self._files[name] = _open_parquet(folder / f"{name}.parquet")
        except BaseException:
            self.close()
            raise

    @property
    def table_names(self) -> tuple[str, ...]:
        """Return the names of the run's database tables, sorted (not the frames')."""
        return tuple(n for n in self.query.names if n not in _NOT_TABLES)

    def frame(self, name: str) -> pd.DataFrame:
        """Return contract frame ``name`` (one of :data:`CONTRACT_FRAMES`), read
        from its file on the first call (which closes it) and kept.

        Raises:
            SeqsimError: its file cannot be read, or the run was closed first.
        """
        with self._lock:  # two threads asking at once read it once
            if name not in self._frames:
                handle = self._files.pop(name, None)
                if handle is None:
                    raise SeqsimError(f"{name}: cannot be read; this result's files were "
                                      "closed before it was")
                self._frames[name] = _read_frame(name, handle)
            return self._frames[name]

    def step_sends(self) -> pd.DataFrame:
        """Return the send log, for the step table (the saved log is all there is).

        Raises:
            SeqsimError: as :meth:`frame`.
        """
        return self.frame("sends")

    def table(self, name: str) -> pd.DataFrame:
        """Return database table ``name`` with its canonical columns and dtypes, read
        on the first call and kept.

        Raises:
            SeqsimError: there is no such table, or it cannot be read.
        """
        with self._lock:  # two threads asking at once read it once
            if name not in self._tables:
                self._tables[name] = canonical_frame(name, self.query.read(name))
            return self._tables[name]

    @property
    def tables_read(self) -> tuple[str, ...]:
        """Return the names of the database tables read so far, in reading order."""
        return tuple(self._tables)

    def close(self) -> None:
        """Close the files and the database: frames not read yet cannot be read, nor
        queries run, after (a load that failed half-way calls it)."""
        with self._lock:
            files, self._files = self._files, {}
        for handle in files.values():
            handle.close()
        self.query.close()


class StoredTables(Mapping[str, pd.DataFrame]):
    """:attr:`Result.tables` of a loaded result: each table read on first access."""

    def __init__(self, run: StoredRun) -> None:
        self._run = run
        self._names = run.table_names

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._names:
            raise KeyError(name)
        return self._run.table(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        read = ", ".join(self._run.tables_read) or "none"
        return f"StoredTables({', '.join(self._names)}; read: {read})"


def _read_frame(name: str, handle: BinaryIO) -> pd.DataFrame:
    """Return contract frame ``name`` read from open Parquet file ``handle``, and close it.

    Raises:
        SeqsimError: the file cannot be read.
    """
    try:
        frame = pd.read_parquet(handle)
    except (OSError, pa.ArrowException) as exc:
        raise SeqsimError(f"result: {name}.parquet is not valid: {exc}; expected the "
                          "Parquet file seqsim saved") from exc
    finally:
        handle.close()
    if name == "sends":
        for column in WAIT_COLUMNS:
            if column not in frame:  # saved before the lateness causes existed: unknown
                frame[column] = float("nan")
    return frame


def _open_parquet(path: Path) -> BinaryIO:
    """Return ``path`` open for reading, once its Parquet footer has been read.

    Raises:
        SeqsimError: it cannot be opened, or is not a Parquet file.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - held open until the frame is read
    except OSError as exc:
        raise SeqsimError(f"result: {path.name} in {str(path.parent)!r} is not valid: it "
                          f"cannot be opened ({exc.strerror}); expected a readable file") from exc
    try:
        pq.read_metadata(handle)
        handle.seek(0)
    except (OSError, pa.ArrowException) as exc:
        handle.close()
        raise SeqsimError(f"result: {path.name} in {str(path.parent)!r} is not valid: {exc}; "
                          "expected the Parquet file seqsim saved") from exc
    return handle
