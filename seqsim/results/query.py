"""Read-only SQL over a run's tables: what ``Result.sql`` and ``Result.relation`` run on.

A :class:`RunTables` holds one in-memory DuckDB connection on which each of the
run's tables is a view of its DataFrame (DuckDB scans the frames in place).
Analysts may read them, never change them: a statement is run only when
DuckDB's parser says it is one ``SELECT`` (``WITH``, ``FROM t``, ``DESCRIBE``
and ``SUMMARIZE`` parse as that) or ``EXPLAIN``. A write to a registered frame
would fail in DuckDB anyway; refusing by statement type also keeps out
``CREATE``, ``COPY ... TO`` (a file write), ``SET``, ``ATTACH`` and friends.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

from seqsim.errors import SeqsimError

__all__ = ["RunTables"]

_READING = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


class RunTables:
    """A run's tables, queryable with DuckDB SQL and never written."""

    def __init__(self, frames: Mapping[str, pd.DataFrame]) -> None:
        self._frames = dict(frames)
        self._names = tuple(sorted(frames))
        self._con = duckdb.connect()
        for name in self._names:
            self._con.register(name, frames[name])

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
            return self._con.execute(query).df()
        except duckdb.Error as exc:
            raise SeqsimError(f"sql: {_short(query)!r} is not valid: {_first_line(exc)}; the "
                              f"tables are {', '.join(self._names)}") from exc

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
        return duckdb.connect().from_df(self._frames[name])

    def close(self) -> None:
        """Release the connection; relations taken from it stop working."""
        self._con.close()

    def _parse(self, query: str) -> list[duckdb.Statement]:
        try:
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
