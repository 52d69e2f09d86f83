"""Result directories: folders seqsim owns, replaced whole or not at all.

A result directory is one seqsim created. Its manifest, ``seqsim-result.json``,
names the format, the seqsim version that wrote it and every file it holds
(with its size). seqsim replaces a path only when it is absent, an empty
directory, or a result directory holding nothing but the files its manifest
lists (or, for a directory written before the manifest existed, nothing but
the files such a directory held: :data:`LEGACY_FILES` and ``traces/``). A
user's ``notes.txt`` inside one makes seqsim refuse; it never deletes it.

A symbolic link given as the path is refused, dangling or not: replacing what
it points to would replace a directory the user did not name, possibly on
another file system, and replacing the link itself would break it.

Writing goes to a hidden sibling ``.NAME.seqsim-new-TOKEN``: every file, then
the manifest, each fsynced, then the folder itself. Only then does it take the
path: one ``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere (or on a file
system without it) the old result first moves to ``.NAME.seqsim-old-TOKEN``
and the new one is renamed in. What was displaced is renamed
``.NAME.seqsim-del-TOKEN`` and deleted. A kill at any instant therefore leaves
at the path the old result or the new one, except in the fallback's gap
between its two renames, where the old result waits complete in
``-old-``: the next save or load of the path (:func:`recover`) puts it back
and deletes every stale sibling. A save in progress holds an ``flock`` on its
staging folder, so a concurrent one never deletes it (two saves started at
the same instant may make one fail, never lose data). A SIGINT during the
swap waits until it is done. Where there is no ``flock`` (not POSIX) every
sibling counts as stale; that path is not tested.

The path may not be the current directory, a mount point, or have a last
part over 255 bytes; sibling names of long targets use a hash.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from seqsim.errors import SeqsimError
from seqsim.interrupts import interrupts_deferred
from seqsim.results.manifest import (
    check_complete,
    check_replaceable,
    fsync_dir,
    fsync_tree,
    list_files,
    reject,
    write_manifest,
)
from seqsim.validation import show_path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locks, every sibling is stale
    fcntl = None  # type: ignore[assignment]

__all__ = ["debris", "open_result_dir", "recover", "write_result_dir"]

_KINDS = ("new", "old", "del")
_TOKEN_HEX = 16
_STEM_BYTES = 100  # longer names are shortened (plus a hash) in sibling names
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@contextmanager
def _os_errors(key: str, path: Path, doing: str) -> Iterator[None]:
    """Turn an OSError (not already ours) inside the block into one rejection line."""
    try:
        yield
    except SeqsimError:
        raise
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise reject(key, path, f"it {doing} ({reason})",
                     "a path where seqsim may create a directory") from exc


# ------------------------------------------------------------------ names and locks

def _stem(name: str) -> str:
    """Return the part of a sibling's name that ties it to target ``name``."""
    if len(os.fsencode(name)) <= _STEM_BYTES:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    return f"{name[:40]}~{digest}"


def _sibling(target: Path, kind: str, token: str) -> Path:
    return target.parent / f".{_stem(target.name)}.seqsim-{kind}-{token}"


def _siblings(target: Path) -> dict[str, dict[str, Path]]:
    """Return the staging/old/trash siblings of ``target``: token -> kind -> path."""
    prefix = f".{_stem(target.name)}.seqsim-"
    found: dict[str, dict[str, Path]] = {}
    try:
        names = os.listdir(target.parent)
    except OSError:  # no parent (yet), not a folder, not readable: no siblings either
        return found
    for name in names:
        kind, _, token = name[len(prefix):].partition("-")
        if (name.startswith(prefix) and kind in _KINDS and len(token) == _TOKEN_HEX
                and all(c in "0123456789abcdef" for c in token)):
            found.setdefault(token, {})[kind] = target.parent / name
    return found


def debris(path: str | os.PathLike[str]) -> list[Path]:
    """Return the hidden siblings saves of ``path`` left (none once a save or load ran)."""
    target = Path(os.path.abspath(path))
    return sorted(p for parts in _siblings(target).values() for p in parts.values())


def _lock(folder: Path) -> int | None:
    """Return a descriptor holding an exclusive flock on ``folder`` (released on any exit).

    None where there is no flock (not POSIX).
    """
    if fcntl is None:  # pragma: no cover
        return None
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _is_live(folder: Path) -> bool:
    """Return whether a running save holds ``folder`` (its staging folder)."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


def _remove(path: Path) -> None:
    """Delete sibling ``path`` (a folder seqsim made; a symlink is only unlinked)."""
    if os.path.islink(path) or not os.path.isdir(path):
        return  # not a folder seqsim made: leave it alone
    shutil.rmtree(path, ignore_errors=True)


def recover(path: str | os.PathLike[str]) -> None:
    """Clean up after saves of ``path`` that were killed; return nothing.

    Puts a displaced old result back when the path is absent (a kill between
    the fallback's two renames), then deletes every sibling no running save
    holds.

    Raises:
        OSError: a rename failed (e.g. a read-only parent).
    """
    target = Path(os.path.abspath(path))
    for parts in _siblings(target).values():
        if "new" in parts and _is_live(parts["new"]):
            continue
        old = parts.pop("old", None)
        if old is not None and not os.path.lexists(target) and os.path.isdir(old):
            os.rename(old, target)
            fsync_dir(target.parent)
        elif old is not None:
            parts["old"] = old
        for sibling in parts.values():
            _remove(sibling)


# ------------------------------------------------------------------ the path

def _target(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` made absolute, once it can name a result directory.

    Raises:
        OutputError: empty, the root, a name too long, not encodable, or a
            symbolic link (dangling or not).
    """
    raw = os.fspath(path)
    if isinstance(raw, bytes):
        raw = os.fsdecode(raw)
    if raw == "" or "\0" in raw:
        raise reject("out", raw, "it is empty or holds a NUL character", "a directory path")
    target = Path(os.path.abspath(raw))
    if target.name == "":
        raise reject("out", raw, "it is the root directory")
    try:
        size = len(os.fsencode(target.name))
    except UnicodeError as exc:
        raise reject("out", raw, "its name cannot be encoded for this file system") from exc
    if size > 255:
        raise reject("out", raw, f"its last part is {size} bytes long",
                     "a name of at most 255 bytes")
    if os.path.islink(target):
        raise reject("out", raw, f"it is a symbolic link (to {show_path(os.readlink(target))}); "
                     "seqsim never replaces through a link", "the real directory path")
    return target


def _prepare_parent(target: Path) -> None:
    """Create ``target``'s parent folders; reject a parent that is a file or a dead link."""
    for ancestor in (target.parent, *target.parent.parents):
        if os.path.lexists(ancestor):
            if not ancestor.is_dir():
                why = ("is a dangling symbolic link" if os.path.islink(ancestor)
                       else "is not a directory")
                raise reject("out", target, f"its parent {show_path(ancestor)} {why}",
                             "a path whose parents are directories")
            break
    with _os_errors("out", target, "cannot be created"):
        target.parent.mkdir(parents=True, exist_ok=True)


# ------------------------------------------------------------------ replacing

def _load_renameat2() -> Any:
    """Return libc's ``renameat2`` (Linux, glibc 2.28+), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _load_renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` atomically; return False (nothing done) where unsupported.

    Raises:
        OSError: the swap is supported and failed.
    """
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", errno.EINVAL)):
        return False  # this file system (or kernel) cannot exchange: rename twice instead
    raise OSError(code, os.strerror(code), str(b))


def _swap(staging: Path, target: Path, token: str) -> Path | None:
    """Put complete ``staging`` at ``target``; return where the displaced folder went."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return None
    if _exchange(staging, target):
        return staging  # the old result now sits at the staging name
    old = _sibling(target, "old", token)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    return old


def _to_trash(folder: Path, target: Path, token: str) -> Path | None:
    """Rename displaced ``folder`` so that nothing ever restores it; return the new name."""
    trash = _sibling(target, "del", token)
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return None  # a concurrent recover() already took it
    return trash


def write_result_dir(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Create or replace result directory ``path`` with what ``write(folder)`` puts in a folder.

    ``write`` fills an empty staging folder; the manifest is added after it.
    The path takes the new folder only once all of it is on disk.

    Returns:
        ``path`` as a Path.

    Raises:
        OutputError: ``path`` is not one seqsim may replace (see the module
            docstring), or cannot be written (no permission, read-only, a
            full disk...). Anything ``write`` raises otherwise propagates;
            either way the path keeps what it held.
    """
    target = _target(path)
    _prepare_parent(target)
    with _os_errors("out", target, "cannot be cleaned up after an earlier save"):
        recover(target)
    check_replaceable(target)
    token = secrets.token_hex(_TOKEN_HEX // 2)
    staging = _sibling(target, "new", token)
    with _os_errors("out", target, "cannot be written"):
        os.mkdir(staging)
        lock = _lock(staging)
    try:
        with _os_errors("out", target, "cannot be written"):
            _commit(staging, target, token, write)
    finally:
        if lock is not None:
            os.close(lock)
    return Path(os.fspath(path))


def _commit(staging: Path, target: Path, token: str, write: Callable[[Path], object]) -> None:
    """Fill ``staging``, make it durable, swap it in and delete what it displaced.

    On failure ``staging`` is deleted and the exception re-raised. A SIGINT
    during the swap waits until the displaced folder has its trash name.
    """
    trash = None
    try:
        write(staging)
        files, _ = list_files(staging)
        write_manifest(staging, files)
        fsync_tree(staging)
        with interrupts_deferred():
            displaced = _swap(staging, target, token)
            trash = None if displaced is None else _to_trash(displaced, target, token)
        fsync_dir(target.parent)
    except BaseException:
        # Before the swap this is the new folder, after an exchange the old one: the
        # path holds whichever is meant to stay, so this one goes.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)


# ------------------------------------------------------------------ reading, adding

def open_result_dir(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a folder to read a result from, after :func:`recover`.

    A folder with a manifest must hold every file it lists, at its size; one
    without (a pre-manifest result) is returned as is, for the caller to check.

    Raises:
        OutputError: the manifest is not valid, or a listed file is missing or
            has changed size.
    """
    folder = Path(path)
    with suppress(OSError):  # e.g. a read-only copy: reading needs no clean-up
        recover(folder)
    check_complete(folder)
    return folder


