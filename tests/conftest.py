"""Shared test helpers: a tiny database with sequences and leads loaded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pandas as pd
import pytest

from seqsim.engine import schema
from seqsim.model.sequence import SequenceConfig

T0 = datetime(2025, 7, 1)


def make_db(
    sequences: Sequence[SequenceConfig],
    leads: Sequence[tuple[str, str]] = (),
    *,
    device: str = "dev-001",
) -> duckdb.DuckDBPyConnection:
    """Return an in-memory database with ``sequences`` and (phone, trigger) leads."""
    con = schema.connect()
    schema.load_sequences(con, sequences)
    schema.add_devices(con, [device])
    for phone, trigger in leads:
        schema.add_lead(con, phone, trigger, device_id=device, name=f"lead {phone}", created_at=T0)
    return con


def table(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    """Return a whole table as a DataFrame, ordered by its first column."""
    return con.execute(f"SELECT * FROM {name} ORDER BY 1").df()


@pytest.fixture
def cold() -> SequenceConfig:
    return SequenceConfig(name="COLD", trigger="cold", days=(1, 3, 6, 9))
