"""Read-only SQL over a run's tables: what ``Result.sql`` and ``Result.relation`` run on.

A :class:`RunTables` holds one DuckDB connection on which the run's tables are
either views of its DataFrames (a run in memory: DuckDB scans the frames in
place, each registered when a query first names it) or the tables of a saved
result's database file, attached read-only (:meth:`RunTables.attached`:
queries read the file, no frame is loaded, and the file stays open, so
replacing the result directory later does not change what a loaded result
reads). Analysts may read them, never change them: a statement is run only
when DuckDB's parser says it is one ``SELECT`` (``WITH``, ``FROM t``,
``DESCRIBE`` and ``SUMMARIZE`` parse as that) or ``EXPLAIN``. A write to a
registered frame would fail in DuckDB anyway; refusing by statement type also
keeps out ``CREATE``, ``COPY ... TO`` (a file write), ``SET``, ``ATTACH`` and
friends.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pandas as pd

from seqsim.errors import SeqsimError

__all__ = ["RunTables"]

_READING = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
#: The catalog name a saved result's database file is attached as.
_FILE = "run"


class RunTables:
    """A run's tables, queryable with DuckDB SQL and never written."""

    def __init__(self, frames: Mapping[str, pd.DataFrame]) -> None:
        # Frames are taken from the mapping when a query first names them: a
        # fresh run's are built on first read, and a question about the
        # timeline need not build the send log.
        self._frames: Mapping[str, pd.DataFrame] | None = frames
        self._names = tuple(sorted(frames))
        self._registered: set[str] = set()
        self._con = duckdb.connect()
        # One connection serves every caller: DuckDB's are not safe across threads.
        self._lock = threading.Lock()

    @classmethod
    def attached(cls, path: Path) -> RunTables:
        """Return the tables of DuckDB database file ``path``, attached read-only.

        Raises:
            SeqsimError: DuckDB cannot open ``path`` as a database (its message
                is kept).
        """
        tables = cls({})
        con = tables._con
        try:
            quoted = str(path).replace("'", "''")
            con.execute(f"ATTACH '{quoted}' AS {_FILE} (READ_ONLY)")
            con.execute(f"USE {_FILE}")
            names = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                [_FILE]).fetchall()
        except duckdb.Error as exc:
            con.close()
            raise SeqsimError(f"result: {path.name} in {str(path.parent)!r} is not valid: "
                              f"{_first_line(exc)}; expected the database seqsim saved"
                              ) from exc
        tables._frames = None
        tables._names = tuple(sorted(name for (name,) in names))
        return tables

    @property
    def names(self) -> tuple[str, ...]:
        """Return the table names a query may use, sorted."""
        return self._names

    def sql(self, query: str) -> pd.DataFrame:
        """Return the rows of one reading statement over the run's tables.

        Raises:
            SeqsimError: ``query`` is not text, is not exactly one SELECT (or
                EXPLAIN) statement, or DuckDB rejects it (a syntax error, an
                unknown table or column: its message is kept, and the tables
                are listed).
        """
        if not isinstance(query, str):
            raise SeqsimError(f"sql: {query!r} is not valid; expected the text of a SELECT "
                              "statement")
        statements = self._parse(query)
        writes = [s.type.name for s in statements if s.type not in _READING]
        if writes:
            raise SeqsimError(
                f"sql: {_short(query)!r} is not valid ({', '.join(writes)}); the run's tables "
                "are read-only: expected one SELECT (or EXPLAIN) statement")
        if len(statements) != 1:
            raise SeqsimError(f"sql: {_short(query)!r} is not valid ({len(statements)} "
                              "statements); expected one SELECT (or EXPLAIN) statement")
        try:
            with self._lock:
                self._register(query)
                return self._con.execute(query).df()
        except duckdb.Error as exc:
            raise SeqsimError(f"sql: {_short(query)!r} is not valid: {_first_line(exc)}; the "
                              f"tables are {', '.join(self._names)}") from exc

    def _register(self, query: str) -> None:
        """Register the frames ``query`` names (every one when it names none of
        them: a catalog query such as SHOW TABLES then lists them all)."""
        if self._frames is None:
            return  # an attached file: its tables are there
        try:
            named = {name.lower() for name in duckdb.get_table_names(query)}
        except duckdb.Error:  # it binds some of the query (a USING join): take them all
            named = set()
        wanted = [name for name in self._names if name.lower() in named] or self._names
        for name in wanted:
            if name not in self._registered:
                self._con.register(name, self._frames[name])
                self._registered.add(name)

    def relation(self, name: str) -> duckdb.DuckDBPyRelation:
        """Return a DuckDB relation over table ``name`` (filter, aggregate, ``.df()``).

        The relation has a connection of its own: what is done through it (its
        ``query`` method runs any SQL) cannot touch what :meth:`sql` reads.

        Raises:
            SeqsimError: there is no table ``name``.
        """
        if name not in self._names:
            raise SeqsimError(f"relation: {name!r} is not valid; expected one of "
                              f"{', '.join(self._names)}")
        if self._frames is not None:
            return duckdb.connect().from_df(self._frames[name])
        with self._lock:  # a cursor: its own connection to the attached file
            return self._con.cursor().sql(f'SELECT * FROM {_FILE}.main."{name}"')

    def read(self, name: str) -> pd.DataFrame:
        """Return the whole of table ``name`` as a DataFrame.

        Raises:
            SeqsimError: there is no table ``name``, or DuckDB cannot read it
                (a damaged file: its message is kept).
        """
        if name not in self._names:
            raise SeqsimError(f"table: {name!r} is not valid; expected one of "
                              f"{', '.join(self._names)}")
        try:
            with self._lock:
                # Through Arrow: strings arrive as pandas' str dtype without a
                # Python object per value (about 9x faster than .df() on 4M rows).
                table = self._con.sql(f'SELECT * FROM "{name}"').to_arrow_table()
            return table.to_pandas()
        except duckdb.Error as exc:
            raise SeqsimError(f"table: {name!r} could not be read: {_first_line(exc)}"
                              ) from exc

    def close(self) -> None:
        """Release the connection; relations taken from it stop working."""
        self._con.close()

    def _parse(self, query: str) -> list[duckdb.Statement]:
        try:
            with self._lock:
                return self._con.extract_statements(query)
        except duckdb.Error as exc:
            raise SeqsimError(f"sql: {_short(query)!r} is not valid: {_first_line(exc)}"
                              ) from exc


def _short(query: str, limit: int = 120) -> str:
    """Return ``query`` on one line, cut to ``limit`` characters for a message."""
    flat = " ".join(query.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _first_line(exc: Exception) -> str:
    """Return the first line of DuckDB's message (the rest points into the query)."""
    return str(exc).strip().splitlines()[0]
