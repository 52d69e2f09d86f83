"""DuckDB tables: the production schema plus the simulation's own.

Production tables (names and columns as in production): ``sequences``,
``sequence_steps``, ``leads``, ``sequence_contacts``. Simulation tables:
``devices`` (the sending fleet) and ``messages`` (the send log: one row per
send attempt). All timestamps are naive UTC and are always bound from the
virtual clock; no default here reads the database's own clock. A lead's
``timezone`` (IANA name, default ``UTC``; a simulation addition at the end of
the production columns) is the zone its send windows are evaluated in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from seqsim.errors import EngineError
from seqsim.model.sequence import SequenceConfig, check_chains

__all__ = [
    "PRODUCTION_TABLES",
    "SIMULATION_TABLES",
    "add_devices",
    "add_lead",
    "add_lead_rows",
    "add_lead_trigger",
    "add_leads",
    "canonical_frame",
    "column_types",
    "connect",
    "contact_pair_codes",
    "create_tables",
    "drop_unique_key",
    "load_sequences",
    "read_tables",
]

PRODUCTION_TABLES = ("sequences", "sequence_steps", "leads", "sequence_contacts")
SIMULATION_TABLES = ("devices", "messages")

_DDL_TEMPLATE = """
CREATE SEQUENCE IF NOT EXISTS sequence_contacts_id_seq START 1;
CREATE SEQUENCE IF NOT EXISTS messages_id_seq START 1;

CREATE TABLE IF NOT EXISTS sequences (
    id                INTEGER PRIMARY KEY,
    name              VARCHAR NOT NULL UNIQUE,
    "trigger"         VARCHAR NOT NULL UNIQUE,
    is_active         BOOLEAN NOT NULL DEFAULT TRUE,
    min_delay_seconds DOUBLE NOT NULL DEFAULT 5,
    max_delay_seconds DOUBLE NOT NULL DEFAULT 15
);

CREATE TABLE IF NOT EXISTS sequence_steps (
    id                  INTEGER PRIMARY KEY,
    sequence_id         INTEGER NOT NULL,
    day_number          INTEGER NOT NULL,
    "trigger"           VARCHAR NOT NULL,
    next_trigger        VARCHAR,
    trigger_delay_hours INTEGER NOT NULL DEFAULT 24,
    is_entry_point      BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (sequence_id, day_number)
);

CREATE TABLE IF NOT EXISTS leads (
    phone      VARCHAR PRIMARY KEY,
    name       VARCHAR,
    device_id  VARCHAR,
    "trigger"  VARCHAR,
    created_at TIMESTAMP,
    timezone   VARCHAR NOT NULL DEFAULT 'UTC'
);

{contacts}CREATE TABLE IF NOT EXISTS devices (
    id              VARCHAR PRIMARY KEY,
    is_online       BOOLEAN NOT NULL DEFAULT TRUE,
    hourly_limit    INTEGER NOT NULL DEFAULT 80,
    daily_limit     INTEGER NOT NULL DEFAULT 800,
    in_flight_limit INTEGER NOT NULL DEFAULT 50
);

CREATE TABLE IF NOT EXISTS messages (
    id                  BIGINT PRIMARY KEY DEFAULT nextval('messages_id_seq'),
    sequence_contact_id BIGINT NOT NULL,
    contact_phone       VARCHAR NOT NULL,
    sequence_id         INTEGER NOT NULL,
    sequence_stepid     INTEGER NOT NULL,
    day_number          INTEGER NOT NULL,
    device_id           VARCHAR,
    due_at              TIMESTAMP NOT NULL,
    queued_at           TIMESTAMP NOT NULL,
    scheduled_at        TIMESTAMP NOT NULL,
    sent_at             TIMESTAMP,
    outcome             VARCHAR,
    attempt             INTEGER NOT NULL,
    error               VARCHAR
);
"""
#: ``sequence_contacts``; ``{unique}`` is the production unique key, or nothing
#: under the check-then-insert guard of ``[faults]``.
_CONTACTS_DDL = """
CREATE TABLE IF NOT EXISTS sequence_contacts (
    id                    BIGINT PRIMARY KEY DEFAULT nextval('sequence_contacts_id_seq'),
    sequence_id           INTEGER NOT NULL,
    contact_phone         VARCHAR NOT NULL,
    contact_name          VARCHAR,
    current_step          INTEGER NOT NULL,
    status                VARCHAR NOT NULL,
    current_trigger       VARCHAR,
    next_trigger_time     TIMESTAMP NOT NULL,
    sequence_stepid       INTEGER NOT NULL,
    assigned_device_id    VARCHAR,
    processing_device_id  VARCHAR,
    processing_started_at TIMESTAMP,
    completed_at          TIMESTAMP,
    failed_at             TIMESTAMP,
    retry_count           INTEGER NOT NULL DEFAULT 0,
    last_error            VARCHAR,
    created_at            TIMESTAMP NOT NULL{unique}
);
"""
_UNIQUE_KEY = ",\n    UNIQUE (sequence_id, contact_phone, sequence_stepid)"
_DDL = _DDL_TEMPLATE.format(contacts=_CONTACTS_DDL.format(unique=_UNIQUE_KEY).strip() + "\n\n")


def connect(path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """Return a DuckDB connection with every table created.

    ``path`` is a database file, or ``":memory:"`` (the default) for a run
    that lives only in this process.
    """
    con = duckdb.connect(path)
    create_tables(con)
    return con


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the production and simulation tables (idempotent)."""
    con.execute(_DDL)


def drop_unique_key(con: duckdb.DuckDBPyConnection) -> None:
    """Recreate the (empty) ``sequence_contacts`` without its unique key, as a
    deployment that guards duplicates with check-then-insert had it.

    Raises:
        EngineError: the table has rows already.
    """
    if con.execute("SELECT count(*) FROM sequence_contacts").fetchone()[0]:
        raise EngineError("sequence_contacts: has rows; the unique key can only be dropped "
                          "before the run starts")
    con.execute("DROP TABLE sequence_contacts")
    con.execute(_CONTACTS_DDL.format(unique=""))


def load_sequences(
    con: duckdb.DuckDBPyConnection, sequences: Sequence[SequenceConfig]
) -> dict[str, int]:
    """Fill ``sequences`` and ``sequence_steps`` from sequence definitions.

    Each step gets its own keyword (``cold_day3``) and the keyword of the step
    after it in ``next_trigger``; the last step's ``next_trigger`` is the entry
    trigger of the chained sequence, if any, else NULL. The entry step is the
    first one (``is_entry_point``).

    Returns:
        The new sequence ids by name.

    Raises:
        SequenceDefinitionError: duplicate names/triggers, a chain to a missing
            sequence or a chain cycle (nothing is written then).
        EngineError: a sequence of that name or trigger is already loaded.
    """
    check_chains(sequences)
    existing = {
        row[0]: row[1] for row in con.execute('SELECT name, "trigger" FROM sequences').fetchall()
    }
    for seq in sequences:
        if seq.name in existing or seq.trigger in existing.values():
            raise EngineError(
                f"sequences.{seq.name}: already loaded (a sequence with this name or trigger "
                "exists in the database)"
            )
    by_name = {seq.name: seq for seq in sequences}
    seq_id = con.execute("SELECT coalesce(max(id), 0) FROM sequences").fetchone()[0]
    step_id = con.execute("SELECT coalesce(max(id), 0) FROM sequence_steps").fetchone()[0]
    ids: dict[str, int] = {}
    seq_rows = []
    step_rows = []
    for seq in sequences:
        seq_id += 1
        ids[seq.name] = seq_id
        seq_rows.append(
            (seq_id, seq.name, seq.trigger, seq.is_active, seq.min_delay_seconds,
             seq.max_delay_seconds)
        )
        triggers = seq.step_triggers
        chained = by_name[seq.next].trigger if seq.next else None
        for i, (day, delay) in enumerate(zip(seq.days, seq.delay_hours, strict=True)):
            step_id += 1
            next_trigger = triggers[i + 1] if i + 1 < len(triggers) else chained
            step_rows.append((step_id, seq_id, day, triggers[i], next_trigger, delay, i == 0))
    con.begin()
    try:
        con.executemany(
            'INSERT INTO sequences (id, name, "trigger", is_active, min_delay_seconds, '
            "max_delay_seconds) VALUES (?, ?, ?, ?, ?, ?)",
            seq_rows,
        )
        con.executemany(
            'INSERT INTO sequence_steps (id, sequence_id, day_number, "trigger", next_trigger, '
            "trigger_delay_hours, is_entry_point) VALUES (?, ?, ?, ?, ?, ?, ?)",
            step_rows,
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return ids


def add_devices(
    con: duckdb.DuckDBPyConnection,
    device_ids: Iterable[str],
    *,
    hourly_limit: int = 80,
    daily_limit: int = 800,
    in_flight_limit: int = 50,
) -> None:
    """Register sending devices (0 in a limit means unlimited), in the given order."""
    ids = list(device_ids)
    if ids:
        # One statement with the ids bound as a list: executemany costs DuckDB about
        # 0.25 ms a row (0.3 s for a 1,250-device fleet on every run).
        con.execute(
            "INSERT INTO devices (id, is_online, hourly_limit, daily_limit, in_flight_limit) "
            "SELECT unnest(?::VARCHAR[]), true, ?, ?, ?",
            [ids, hourly_limit, daily_limit, in_flight_limit],
        )


def add_lead(
    con: duckdb.DuckDBPyConnection,
    phone: str,
    trigger: str,
    *,
    device_id: str | None = None,
    name: str | None = None,
    created_at: datetime,
    timezone: str = "UTC",
) -> None:
    """Insert one lead; ``trigger`` is the comma-separated keyword list.

    ``timezone`` is the lead's IANA zone (not validated here: callers pass
    zones checked when the scenario or trace was loaded).

    Raises:
        EngineError: a lead with this phone already exists.
    """
    try:
        con.execute(
            'INSERT INTO leads (phone, name, device_id, "trigger", created_at, timezone) '
            "VALUES (?, ?, ?, ?, ?, ?)",
            [phone, name, device_id, trigger, created_at, timezone],
        )
    except duckdb.ConstraintException as exc:
        raise EngineError(f"leads.phone: {phone!r} is not valid; this lead already exists") from exc


def add_leads(con: duckdb.DuckDBPyConnection, leads: pd.DataFrame) -> None:
    """Bulk-insert leads from a frame with columns phone, trigger, device_id, created_at.

    An optional ``name`` column fills ``leads.name``; an optional ``timezone``
    column fills ``leads.timezone`` (``UTC`` when the column is absent or a
    value is missing). Other columns are ignored.

    Raises:
        EngineError: a phone that already exists (nothing is inserted then).
    """
    frame = leads.copy()
    if "name" not in frame:
        frame["name"] = None
    if "timezone" not in frame:
        frame["timezone"] = "UTC"
    frame = frame[["phone", "name", "device_id", "trigger", "created_at", "timezone"]]
    try:
        con.execute(
            'INSERT INTO leads (phone, name, device_id, "trigger", created_at, timezone) '
            "SELECT phone, name, device_id, \"trigger\", created_at, coalesce(timezone, 'UTC') "
            "FROM frame"
        )
    except duckdb.ConstraintException as exc:
        raise EngineError(f"leads.phone: a lead in this batch already exists ({exc})") from exc


def add_lead_rows(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[tuple[str, str | None, str, datetime, str]],
) -> None:
    """Insert leads given as (phone, device_id, trigger, created_at, timezone)
    tuples, in order, with one prepared statement (no name).

    Raises:
        EngineError: a phone that already exists.
    """
    if not rows:
        return
    try:
        con.executemany(
            'INSERT INTO leads (phone, device_id, "trigger", created_at, timezone) '
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    except duckdb.ConstraintException as exc:
        raise EngineError(f"leads.phone: a lead in this batch already exists ({exc})") from exc


def add_lead_trigger(con: duckdb.DuckDBPyConnection, phone: str, trigger: str) -> None:
    """Append a keyword to an existing lead's trigger list (no-op if already listed).

    Raises:
        EngineError: no such lead.
    """
    found = con.execute('SELECT "trigger" FROM leads WHERE phone = ?', [phone]).fetchone()
    if found is None:
        raise EngineError(f"leads.phone: {phone!r} is not valid; no such lead")
    keywords = [k.strip() for k in (found[0] or "").split(",") if k.strip()]
    if trigger not in keywords:
        keywords.append(trigger)
        con.execute(
            'UPDATE leads SET "trigger" = ? WHERE phone = ?', [",".join(keywords), phone]
        )


_PANDAS_TYPES = {
    "INTEGER": "int32",
    "BIGINT": "int64",
    "DOUBLE": "float64",
    "BOOLEAN": "bool",
    "VARCHAR": "str",
    "TIMESTAMP": "datetime64[us]",
}
_TABLE_ORDER = {"leads": ["created_at", "phone"]}
#: Values for columns a frame may lack (e.g. tables saved before the column existed).
_COLUMN_DEFAULTS: dict[str, dict[str, object]] = {"leads": {"timezone": "UTC"}}
_column_types: dict[str, list[tuple[str, str]]] = {}


def column_types(table: str) -> list[tuple[str, str]]:
    """Return ``(column, pandas dtype)`` pairs of a table, in DDL order."""
    if not _column_types:
        con = connect()
        for name in (*PRODUCTION_TABLES, *SIMULATION_TABLES):
            _column_types[name] = [
                (col, _PANDAS_TYPES[kind])
                for col, kind, *_ in con.execute(f"DESCRIBE {name}").fetchall()
            ]
        con.close()
    return _column_types[table]


def canonical_frame(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the table's columns, in DDL order, with one dtype each.

    Strings are pandas' ``str`` dtype (missing values NaN) whether or not a
    column holds any value, so two engines' tables compare equal and users
    get the same dtypes from every run. Rows are ordered by the table's key
    (``id``; leads by ``created_at, phone``). A leads frame without a
    ``timezone`` column gets ``UTC`` for every lead.
    """
    columns = column_types(table)
    if list(frame.columns) == [c for c, _ in columns] and all(
        frame[c].dtype == d for c, d in columns
    ):
        result = frame  # already canonical: no copy
    else:
        missing = {
            col: value
            for col, value in _COLUMN_DEFAULTS.get(table, {}).items()
            if col not in frame
        }
        if missing:
            frame = frame.assign(**missing)
        result = _convert(frame, columns)
    order = _TABLE_ORDER.get(table, ["id"])
    if len(result) and not _is_sorted(result, order):
        result = result.sort_values(order, kind="stable").reset_index(drop=True)
    return result


def _convert(frame: pd.DataFrame, columns: list[tuple[str, str]]) -> pd.DataFrame:
    out = {}
    for col, dtype in columns:
        values = frame[col]
        if values.dtype == dtype:
            pass
        elif dtype == "str":
            values = values.astype(object).where(values.notna(), None).astype("str")
        elif dtype == "datetime64[us]":
            values = pd.to_datetime(values).astype(dtype)
        else:
            values = values.astype(dtype)
        out[col] = values.array
    return pd.DataFrame(out, copy=False)


def _is_sorted(frame: pd.DataFrame, keys: list[str]) -> bool:
    """Return whether ``frame`` is already in ``keys`` order (cheap for the first key)."""
    first = frame[keys[0]]
    if len(keys) == 1 or first.is_unique:
        return bool(first.is_monotonic_increasing)
    return False


def read_tables(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """Return every production and simulation table as a canonical DataFrame."""
    return {
        name: canonical_frame(name, con.execute(f"SELECT * FROM {name}").df())
        for name in (*PRODUCTION_TABLES, *SIMULATION_TABLES)
    }


def contact_pair_codes(contacts: pd.DataFrame) -> np.ndarray:
    """Return one integer per ``sequence_contacts`` row naming its (sequence, contact).

    Equal codes mean the same contact in the same sequence; grouping on them
    is much cheaper than on the phone strings. ``code // (max sequence_id + 1)``
    names the phone alone (engines that build codes themselves keep this).
    """
    phone_codes, _ = pd.factorize(contacts["contact_phone"])
    width = int(contacts["sequence_id"].max()) + 1 if len(contacts) else 1
    return phone_codes.astype(np.int64) * width + contacts["sequence_id"].to_numpy(np.int64)
