"""The compiled engine's on-disk cache: kept fresh, compiled once, reported once.

numba caches a compiled function beside its source and checks only that
file's timestamp, not those of the functions it calls: after an edit to,
say, :mod:`seqsim.engine.rules`, a cached kernel would keep running the old
rule. :func:`ensure_fresh` therefore fingerprints every source the kernel
compiles and drops the cache when the fingerprint changes.

:func:`warm_up` compiles the kernel (or loads it from the cache) on a
one-poll world before a run starts, so the one-off compile of a fresh
install is timed and reported on its own, never inside a run's wall time.
A Ctrl-C during it takes effect when it ends (:mod:`seqsim.interrupts`).
"""

from __future__ import annotations

import hashlib
import sys
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
    lateness,
    pair_scan,
    rules,
    send_scan,
    tallies,
)
from seqsim.interrupts import interrupts_deferred

__all__ = ["ensure_fresh", "warm_up"]

#: Every module whose source is compiled into the kernel.
COMPILED = (kernel, kernel_advance, kernel_catchup, kernel_devices,
            kernel_faults, kernel_heap, kernel_jit, kernel_layout, kernel_order,
            kernel_rank, kernel_ready, rules, fleet, lateness, tallies, pair_scan,
            send_scan)
_STAMP = "seqsim-kernel.sha256"


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


def _misses() -> int:
    """Return how many times the kernel's entry points were compiled, not loaded."""
    entries = (kernel.run_polls, lateness.split, tallies.most_in_window)
    return sum(sum(f.stats.cache_misses.values()) for f in entries)


def warm_up(world_arrays: tuple, state: tuple) -> float | None:
    """Compile the kernel for these array types, or load it from the cache, by a
    call that runs no poll.

    Returns the real seconds spent compiling when this call compiled it (a
    fresh install, or after an edit; said once on stderr), else None.
    """
    run_polls = kernel.run_polls
    if not hasattr(run_polls, "signatures") or run_polls.signatures:
        return None  # NUMBA_DISABLE_JIT (plain Python), or compiled already
    ensure_fresh()
    note = None
    if not any(Path(run_polls.stats.cache_path).glob("kernel.run_polls-*.nbi")):
        print("seqsim: compiling the engine for this machine (once per install; 1-2 minutes "
              "on 2 cores)", file=sys.stderr, flush=True)
        note = "seqsim: interrupt noted; stopping when the compile ends (it cannot stop part-way)"
    # freezegun freezes perf_counter too: time with its saved original.
    started = _freezegun_api.real_perf_counter()
    misses = _misses()
    # A Ctrl-C inside numba's load or compile crashed the process (seqsim.interrupts).
    with interrupts_deferred(note):
        run_polls(world_arrays, state, 0)
        # The results' attribution and tallies: compiled with the kernel, timed with it.
        lateness.compile_split()
        tallies.compile_tallies()
        pair_scan.compile_pair_scan()
        send_scan.compile_send_scan()
    if _misses() == misses:
        return None
    return _freezegun_api.real_perf_counter() - started
