"""The compiled engine's on-disk cache: kept fresh, compiled once, reported once.

numba caches a compiled function beside its source and checks only that
file's timestamp, not those of the functions it calls: after an edit to,
say, :mod:`seqsim.engine.rules`, a cached kernel would keep running the old
rule. :func:`ensure_fresh` therefore fingerprints every source the kernel
compiles and drops the cache when the fingerprint changes.

:func:`warm_up` compiles the kernel (or loads it from the cache) on a
one-poll world before a run starts, with the result passes for every form
of argument the results give them, so the one-off compile of a fresh
install is timed and reported on its own, never inside a run's wall time;
:func:`warm_up_results` does the same for the result passes alone, before a
per-row run. A Ctrl-C during either takes effect when it ends, and is said
at once; in the ``seqsim`` command a second one stops it there
(:mod:`seqsim.interrupts`).

Processes that start at once on a fresh install (a test run's workers, a
sweep's or a shard's pool, a notebook beside a command) take turns
(:func:`compile_lock`): the first compiles the kernel or the result passes
and the others wait, then load what it wrote. The two are compiled under
separate locks, so two processes compile them side by side on two cores.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from freezegun import api as _freezegun_api

from seqsim.engine import (
    fleet,
    kernel,
    kernel_advance,
    kernel_catchup,
    kernel_devices,
    kernel_faults,
    kernel_heap,
    kernel_jit,
    kernel_layout,
    kernel_order,
    kernel_rank,
    kernel_ready,
    kernel_room,
    lateness,
    pair_scan,
    rules,
    send_scan,
    tallies,
)
from seqsim.interrupts import interrupts_deferred

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: compiles are not taken in turns
    fcntl = None  # type: ignore[assignment]

__all__ = ["compile_lock", "ensure_fresh", "warm_up", "warm_up_results"]

#: Every module whose source is compiled into the kernel.
COMPILED = (kernel, kernel_advance, kernel_catchup, kernel_devices,
            kernel_faults, kernel_heap, kernel_jit, kernel_layout, kernel_order,
            kernel_rank, kernel_ready, kernel_room, rules, fleet, lateness, tallies, pair_scan,
            send_scan)
_STAMP = "seqsim-kernel.sha256"
_STOPPING = "seqsim: interrupt noted; stopping when the compile ends (it cannot stop part-way)"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for module in COMPILED:
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def ensure_fresh(folder: Path | None = None, fingerprint: str | None = None) -> None:
    """Drop the kernel's cached machine code if any compiled source changed since.

    ``folder`` is numba's cache folder for the kernel and ``fingerprint`` that
    of the sources now (both found by default; given by tests).
    """
    folder = Path(kernel.run_polls.stats.cache_path) if folder is None else folder
    current = _fingerprint() if fingerprint is None else fingerprint
    stamp = folder / _STAMP
    try:
        if stamp.read_text(encoding="ascii") == current:
            return
    except OSError:
        pass
    try:
        names = {m.__name__.rsplit(".", 1)[-1] for m in COMPILED}
        for path in folder.glob("*.nb[ic]"):
            if path.name.split(".", 1)[0] in names:
                path.unlink(missing_ok=True)
        stamp.write_text(current, encoding="ascii")
    except OSError:
        pass  # a read-only install: numba falls back to its own cache checks


def _open_lock(path: Path) -> int | None:
    """Return a descriptor of lock file ``path`` (created if missing), or None where
    there is none to take (not POSIX, or a read-only install)."""
    if fcntl is None:  # pragma: no cover
        return None
    try:
        return os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        return None


@contextmanager
def compile_lock(folder: Path, name: str, waiting: str | None = None) -> Iterator[None]:
    """Hold lock file ``folder/name`` (an exclusive ``flock``) for the block.

    A process that finds it held says ``waiting`` on stderr (when given) and
    waits: for a compile, it then loads what the holder wrote to the cache
    instead of compiling the same code beside it. The wait takes a Ctrl-C; the
    lock goes with its holder's process, however that ends. Where no lock can
    be taken (not POSIX, a read-only folder) the block runs unlocked.
    """
    fd = _open_lock(folder / name)
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


#: The result passes' entry points, whose misses say a warm-up compiled them.
_RESULT_ENTRIES = (lateness.split, tallies.most_in_window, tallies.look_up,
                   pair_scan.scan_pairs, send_scan.send_columns)


def _misses(entries: tuple) -> int:
    """Return how many times ``entries`` were compiled, not loaded from the cache."""
    return sum(sum(f.stats.cache_misses.values()) for f in entries)


def _compile_results() -> None:
    """Compile (or load) the result passes for every argument form the results
    pass them: the attribution, tallies, pair scan and send columns."""
    lateness.compile_split()
    tallies.compile_tallies()
    pair_scan.compile_pair_scan()
    send_scan.compile_send_scan()


def _cached(folder: Path, index: str) -> bool:
    """Return whether numba's cache ``folder`` holds an ``index`` (``*.nbi``) file."""
    return any(folder.glob(f"{index}-*.nbi"))


def _waiting_note(folder: Path, index: str, what: str) -> str | None:
    """Return what to say if another process holds the lock of ``index``: that it
    is compiling ``what``, when the cache holds no ``index`` file; else nothing,
    as it is loading the cache (under a second): a sweep's or a shard's workers
    start together, and said so on every parallel run."""
    if _cached(folder, index):
        return None
    return f"seqsim: waiting for another process compiling {what} on this machine"


def _warm(what: str, entries: tuple, index: str, note: str, compile_all: Callable[[], None],
          *, say: bool = True) -> float | None:
    """Run ``compile_all`` with a Ctrl-C held (a Ctrl-C inside numba's load or
    compile crashed the process: :mod:`seqsim.interrupts`) and the lock of
    ``index`` taken (:func:`compile_lock`), saying on stderr first (with
    ``say``) when the cache holds no ``index`` (``*.nbi``) file; return the real
    seconds it took if it compiled any of ``entries``, else None."""
    folder = Path(entries[0].stats.cache_path)
    with compile_lock(folder, "seqsim-fresh.lock"):
        ensure_fresh()
    with compile_lock(folder, f"seqsim-{index}.lock", _waiting_note(folder, index, what)):
        fresh = not _cached(folder, index)  # again: the holder may have written it
        if fresh and say:
            print(f"seqsim: compiling {what} for this machine (once per install; {note} on "
                  "2 cores)", file=sys.stderr, flush=True)
        # freezegun freezes perf_counter too: time with its saved original.
        started = _freezegun_api.real_perf_counter()
        misses = _misses(entries)
        with interrupts_deferred(_STOPPING if fresh else None):
            compile_all()
        if _misses(entries) == misses:
            return None
        return _freezegun_api.real_perf_counter() - started


def warm_up(world_arrays: tuple, state: tuple) -> float | None:
    """Compile the kernel for these array types and the result passes, or load
    them from the cache, by a call that runs no poll.

    Returns the real seconds spent compiling when this call compiled (a fresh
    install, or after an edit; said once on stderr), else None.
    """
    run_polls = kernel.run_polls
    if not hasattr(run_polls, "signatures") or run_polls.signatures:
        return None  # NUMBA_DISABLE_JIT (plain Python), or compiled already
    engine = _warm("the engine", (run_polls,), "kernel.run_polls", "1-2 minutes",
                   lambda: run_polls(world_arrays, state, 0))
    # The engine's line (when it compiled) covers its result passes too.
    results = _warm("the result passes", _RESULT_ENTRIES, "lateness.split", "under a minute",
                    _compile_results, say=engine is None)
    if engine is None and results is None:
        return None
    return (engine or 0.0) + (results or 0.0)


def warm_up_results() -> float | None:
    """Compile the result passes (or load them from the cache) before a run
    that builds its tables otherwise (the per-row engine, a merge of shards), so
    that a compile is said and timed apart, never inside a result's first use.

    Returns the real seconds spent compiling when this call compiled, else None.
    Once they are loaded a call costs about a millisecond (their dispatches).
    """
    if not hasattr(lateness.split, "signatures"):
        return None  # NUMBA_DISABLE_JIT: plain Python
    return _warm("the result passes", _RESULT_ENTRIES, "lateness.split", "under a minute",
                 _compile_results)
