"""A big run's records in a file that the operating system pages, not in the
process's own memory.

The compiled engine writes one record per ``sequence_contacts`` row and per
message (80 and 48 bytes), about 490 MB on a million contacts, and the
result's passes read them again. In ordinary memory they stay resident for
the life of the run and its result; they were a third of the volume
workload's peak. :func:`zeros` gives an array of that size as a shared
mapping of a temporary file instead (unlinked at once, so no file outlives
the process, however it ends; the space is reserved up front, so a full disk
is an ordinary fallback and never a ``SIGBUS`` mid-run). The array is an
ordinary writable NumPy array: numba, NumPy and pandas read and write it as
any other, and pickling copies its contents.

Its pages are the operating system's page cache. :func:`release` hands the
ones the process has mapped back (``madvise(MADV_DONTNEED)``: for a shared
file mapping the contents stay in the file and its cache, and the next read
maps them again, about 0.1 s per GB here); :class:`Pager` does so every few
milliseconds while a pass reads the records from front to back. The process
then holds only the records it touched last, and the rest is cache the
system writes back and may reclaim, which ordinary memory is not.

Where the records go: ``SEQSIM_RECORDS_DIR`` when set (empty: keep them in
memory; a path that is no writable directory is refused before a run starts),
else the system's temporary directory (``TMPDIR``), or ``/var/tmp`` when that
is on ``tmpfs`` or ``ramfs``. A directory whose files are memory keeps them
in memory too, since there the file would be memory under another name; so
does any refusal (no space, no ``mmap``, not Linux). Arrays below
:data:`MIN_BYTES` always stay in memory: a small run gains nothing from a file.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import sys
import tempfile
import threading

import numpy as np

from seqsim.errors import OutputError

__all__ = ["MIN_BYTES", "PAGER_EVERY_S", "Pager", "backed", "records_dir", "release", "zeros"]

#: Arrays smaller than this stay in ordinary memory.
MIN_BYTES = 64 << 20
#: How often a :class:`Pager` hands the records' pages back. A NumPy pass over
#: one field of the records maps them at several GB/s (the system maps 16
#: pages a fault): at 5 ms a pass held up to 110 MB more than at 1 ms.
PAGER_EVERY_S = 0.001
#: File systems whose files are memory: a record file there would save nothing.
_MEMORY_FILE_SYSTEMS = frozenset({"tmpfs", "ramfs"})
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)
_VAR_TMP = "/var/tmp"


class _RecordMap(mmap.mmap):
    """A shared mapping of a record file: the only mappings :func:`release` drops
    (dropping an anonymous mapping's pages would lose its contents)."""


def _fs_type(path: str) -> str | None:
    """Return the type of the file system holding ``path`` (None when unknown)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            table = [line.split()[1:3] for line in mounts if line.count(" ") >= 3]
    except OSError:
        return None
    path = os.path.realpath(path)
    best, kind = "", None
    for point, fs in table:
        point = point.replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fs
    return kind


def records_dir() -> str | None:
    """Return the directory for record files, or None when records stay in memory
    (``SEQSIM_RECORDS_DIR`` empty, not Linux, or a directory whose files are memory).

    Raises:
        OutputError: ``SEQSIM_RECORDS_DIR`` names no directory this process may
            write in.
    """
    chosen = os.environ.get("SEQSIM_RECORDS_DIR")
    if chosen and not (os.path.isdir(chosen) and os.access(chosen, os.W_OK | os.X_OK)):
        raise OutputError(
            f"SEQSIM_RECORDS_DIR: {chosen!r} is not valid; expected a directory this "
            "process may write in, or empty to keep a run's records in memory")
    if not sys.platform.startswith("linux") or _DONTNEED is None:
        return None
    if chosen is not None:
        return chosen if chosen and _on_disk(chosen) else None
    # Many systems mount /tmp as tmpfs; /var/tmp is on disk by convention.
    for directory in (tempfile.gettempdir(), _VAR_TMP):
        if _on_disk(directory) and os.access(directory, os.W_OK | os.X_OK):
            return directory
    return None


def _on_disk(directory: str) -> bool:
    """Return whether files in ``directory`` are not memory (not tmpfs or ramfs)."""
    return os.path.isdir(directory) and _fs_type(directory) not in _MEMORY_FILE_SYSTEMS


def _file_map(size: int, directory: str) -> _RecordMap | None:
    """Return a shared mapping of a new, unlinked file of ``size`` bytes, its blocks
    reserved; None when the system refuses any step."""
    try:
        fd, path = tempfile.mkstemp(prefix="seqsim-records-", dir=directory)
    except OSError:
        return None
    try:
        os.unlink(path)
        os.posix_fallocate(fd, 0, size)  # ENOSPC now, not SIGBUS at a later write
        return _RecordMap(fd, size, flags=mmap.MAP_SHARED,
                          prot=mmap.PROT_READ | mmap.PROT_WRITE)
    except (OSError, ValueError, AttributeError):
        return None
    finally:
        os.close(fd)  # the mapping keeps the file


def zeros(n: int, dtype: np.dtype, *, min_bytes: int | None = None) -> np.ndarray:
    """Return ``n`` zeroed items of ``dtype``: backed by a record file (see the
    module) when they take at least ``min_bytes`` (default :data:`MIN_BYTES`)
    and the system allows it, else ``np.zeros``.

    Raises:
        OutputError: from :func:`records_dir`, for arrays that size.
    """
    dtype = np.dtype(dtype)
    size = n * dtype.itemsize
    floor = MIN_BYTES if min_bytes is None else min_bytes
    directory = records_dir() if size >= max(floor, 1) else None
    mapped = _file_map(size, directory) if directory is not None else None
    if mapped is None:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(mapped, dtype=dtype, count=n)


def backed(array: np.ndarray) -> _RecordMap | None:
    """Return the record file mapping behind ``array`` (a view of one included), or
    None when it lives in ordinary memory."""
    base = array
    while base is not None:
        if isinstance(base, memoryview):
            base = base.obj
        if isinstance(base, _RecordMap):
            return base
        base = getattr(base, "base", None)
    return None


def release(*arrays: np.ndarray) -> None:
    """Hand back the pages mapped of the record files behind ``arrays``; arrays in
    ordinary memory are left as they are. The contents are kept. Raises nothing."""
    seen: set[int] = set()
    for array in arrays:
        mapped = backed(array)
        if mapped is None or id(mapped) in seen or mapped.closed:
            continue
        seen.add(id(mapped))
        with contextlib.suppress(OSError, ValueError):  # refused: they stay mapped
            mapped.madvise(_DONTNEED)


class Pager:
    """Call :func:`release` on ``arrays`` every ``every`` seconds (default
    :data:`PAGER_EVERY_S`) on a thread, until
    :meth:`stop` or the end of a ``with`` block, and once more then. It starts
    no thread when none of the arrays is backed by a record file."""

    def __init__(self, *arrays: np.ndarray, every: float | None = None) -> None:
        self._arrays = [a for a in arrays if backed(a) is not None]
        self._every = PAGER_EVERY_S if every is None else every
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        if self._arrays:
            self._thread = threading.Thread(target=self._follow, name="seqsim-pager",
                                            daemon=True)
            self._thread.start()

    def _follow(self) -> None:
        while not self._stopping.wait(self._every):
            release(*self._arrays)

    def stop(self) -> None:
        """Stop the thread, release once more and let go of the arrays."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        release(*self._arrays)
        self._arrays = []

    def __enter__(self) -> Pager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

