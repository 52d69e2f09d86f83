"""Sequence-definition tables built by hand-sized tests of the result checks."""

from __future__ import annotations

from functools import cache

import pandas as pd

from seqsim.engine.schema import connect, load_sequences, read_tables
from seqsim.model.sequence import SequenceConfig


@cache
def cold_tables() -> dict[str, pd.DataFrame]:
    """COLD: days 1, 3, 6 with delays 0, 48, 72 h (step ids 1, 2, 3), as read back
    from DuckDB (``sequences``, ``sequence_steps`` and the empty run tables)."""
    con = connect()
    load_sequences(con, [SequenceConfig(name="COLD", trigger="cold", days=[1, 3, 6],
                                        delay_hours=[0, 48, 72])])
    tables = read_tables(con)
    con.close()
    return tables
