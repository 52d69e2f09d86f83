"""The DuckDB helpers the per-row statements share: the bound ``now``, one
transaction, and statements parsed once.

Every statement of the per-row engine takes an optional ``now`` (default: the
virtual clock's :func:`seqsim.units.now`) that is bound into the SQL as a
parameter; the database's own clock is never read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import duckdb

from seqsim.units import now as clock_now

__all__ = ["Connection", "bound_now", "execute", "in_transaction", "transaction"]

T = TypeVar("T")
Connection = duckdb.DuckDBPyConnection


def bound_now(now: datetime | None) -> datetime:
    """Return ``now``, or the virtual clock's current instant when it is None."""
    return clock_now() if now is None else now


@contextmanager
def transaction(con: Connection) -> Iterator[None]:
    """Run a block in one transaction: committed on success, rolled back on any error."""
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


def in_transaction(con: Connection, fn: Callable[[], T]) -> T:
    """Return ``fn()`` run inside :func:`transaction`."""
    with transaction(con):
        return fn()


#: Each statement text the engine ran, parsed (a fixed set: the engine's own SQL).
_PARSED: dict[str, duckdb.Statement] = {}


def execute(con: Connection, sql: str, params: Sequence[Any] | None = None) -> Connection:
    """Run one of the engine's statements with its parameters; return the
    connection (for its result).

    Each statement text is parsed once per process (by the first connection
    that runs it: a parsed statement carries no connection, and each execution
    runs a copy). The per-row engine runs a few statements thousands of times,
    and parsing took a fifth of each one's time.
    """
    statement = _PARSED.get(sql)
    if statement is None:
        (statement,) = con.extract_statements(sql)
        _PARSED[sql] = statement
    return con.execute(statement, params)
