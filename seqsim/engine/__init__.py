"""The advance logic of the sequence engine.

`row` is the reference: literal per-row SQL, as production ran it. `batch`
applies the same rules on indexed in-memory state and writes the tables once;
it must produce identical tables on the same scenario (property-tested).
"""

from __future__ import annotations

__all__ = ["DEFAULT_ENGINE", "ENGINES"]

#: Engine names a scenario or `simulate(engine=...)` may choose.
ENGINES: tuple[str, ...] = ("row", "batch")
#: The engine used when a scenario does not name one.
DEFAULT_ENGINE = "batch"
