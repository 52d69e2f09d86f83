"""The DuckDB helpers the per-row statements share: the bound ``now`` and one transaction.

Every statement of the per-row engine takes an optional ``now`` (default: the
virtual clock's :func:`seqsim.units.now`) that is bound into the SQL as a
parameter; the database's own clock is never read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

import duckdb

from seqsim.units import now as clock_now

__all__ = ["Connection", "bound_now", "in_transaction", "transaction"]

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
