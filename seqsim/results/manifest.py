"""The manifest that makes a folder a seqsim result directory, and what it owns.

``seqsim-result.json`` holds the format (``"seqsim-result"``), its version,
the seqsim version that wrote it and every file seqsim put in the folder, by
relative path, with its size in bytes. A folder seqsim may replace holds
nothing else (the manifest and its temporary copy aside). A folder from before
manifests counts as a result directory when it holds ``summary.json`` and
``scenario.toml`` and nothing but :data:`LEGACY_FILES` and ``traces/*``: it
still loads, and is replaced like one.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from seqsim.errors import OutputError
from seqsim.validation import show_path
from seqsim.version import __version__

__all__ = [
    "FORMAT_VERSION",
    "LEGACY_FILES",
    "MANIFEST",
    "check_complete",
    "check_replaceable",
    "fsync_dir",
    "fsync_tree",
    "list_files",
    "read_manifest",
    "record_files",
    "reject",
    "write_manifest",
]

MANIFEST = "seqsim-result.json"
_FORMAT = "seqsim-result"
FORMAT_VERSION = 1
#: What a result directory held before the manifest existed (a frozen format):
#: the tables, summary, resolved scenario, run info, database, and the report
#: ``seqsim run --report`` wrote into it; trace copies live in ``traces/``.
LEGACY_FILES = frozenset({
    "sends.parquet", "timeline.parquet", "contacts.parquet", "summary.json", "scenario.toml",
    "info.json", "seqsim.duckdb", "report.html", "backlog.png", "sends_per_hour.png",
    "active_by_step.png", "lateness_by_step.png", "completion_times.png",
    "device_utilisation.png",
})
_VALID = "a new path, an empty directory or a seqsim result directory holding only its own files"


def reject(key: str, path: Path | str, why: str, expected: str = _VALID) -> OutputError:
    """Return the one-line rejection of result path ``path``."""
    return OutputError(f"{key}: {show_path(path)} is not valid; {why}; expected {expected}")


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries (names created, renamed, deleted) to disk."""
    if os.name == "nt":  # pragma: no cover - a folder cannot be opened; NTFS journals names
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder`` and every folder's entries to disk."""
    for root, _, names in os.walk(folder, onerror=_raise):
        for name in names:
            fd = os.open(Path(root) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


def _raise(exc: OSError) -> None:
    raise exc


def list_files(folder: Path) -> tuple[dict[str, int], list[str]]:
    """Return ``folder``'s regular files (relative path -> size) and its other entries.

    Other entries are sub-folders, symlinks, sockets...: relative paths.
    """
    files: dict[str, int] = {}
    others: list[str] = []
    for root, dirs, names in os.walk(folder, onerror=_raise):
        base = Path(root).relative_to(folder)
        for name in dirs + names:
            rel = (base / name).as_posix()
            info = os.lstat(Path(root) / name)
            if stat.S_ISREG(info.st_mode):
                files[rel] = info.st_size
            else:
                others.append(rel)
    return files, others


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` via a fsynced temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_manifest(folder: Path, files: dict[str, int]) -> None:
    """Write ``folder``'s manifest listing ``files`` (relative path -> bytes), fsynced."""
    _write_json(folder / MANIFEST, {
        "format": _FORMAT, "format_version": FORMAT_VERSION, "seqsim_version": __version__,
        "files": dict(sorted(files.items())),
    })


def read_manifest(folder: str | os.PathLike[str], key: str = "result") -> dict[str, Any] | None:
    """Return ``folder``'s manifest, or None when it has none.

    Raises:
        OutputError: the manifest is not one seqsim writes, or a newer seqsim's.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise reject(key, folder, f"its {MANIFEST} cannot be read ({exc})") from exc
    files = data.get("files") if isinstance(data, dict) else None
    version = data.get("format_version") if isinstance(data, dict) else None
    if (data.get("format") if isinstance(data, dict) else None) != _FORMAT \
            or type(version) is not int or not isinstance(files, dict) \
            or not all(_relative_inside(n) and type(s) is int for n, s in files.items()):
        raise reject(key, folder, f"its {MANIFEST} is not a seqsim manifest")
    if version > FORMAT_VERSION:
        raise reject(key, folder, f"it was written by a newer seqsim (format {version})",
                     f"a result directory of format {FORMAT_VERSION} or older "
                      f"(this is seqsim {__version__})")
    return data


def _relative_inside(name: Any) -> bool:
    """Return whether manifest entry ``name`` is a plain relative path inside the folder."""
    return (isinstance(name, str) and name != "" and not name.startswith("/")
            and all(part not in ("", ".", "..") for part in name.split("/")))


def _legacy(rel: str) -> bool:
    """Return whether ``rel`` is a file a pre-manifest result directory held."""
    return rel in LEGACY_FILES or rel == "traces" or (
        rel.startswith("traces/") and rel.count("/") == 1)


def _ownership(folder: Path, key: str) -> tuple[Callable[[str], bool], str]:
    """Return which entries of existing folder ``folder`` seqsim wrote, and how it knows."""
    manifest = read_manifest(folder, key)
    if manifest is not None:
        listed = set(manifest["files"]) | {MANIFEST, f".{MANIFEST}.tmp"}
        parents = {p.as_posix() for name in listed for p in Path(name).parents}
        return (lambda rel: rel in listed or rel in parents), "its manifest"
    if (folder / "summary.json").is_file() and (folder / "scenario.toml").is_file():
        return _legacy, "a result directory from before manifests"
    return (lambda rel: False), ""


def check_replaceable(target: Path) -> None:
    """Return when seqsim may replace ``target`` (absent, empty, or wholly its own).

    Raises:
        OutputError: ``target`` is a file, a mount point, or a folder holding
            anything seqsim did not write.
    """
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        raise reject("out", target, "it exists and is not a directory")
    if os.path.ismount(target):
        raise reject("out", target, "it is a mount point, which seqsim cannot replace",
                     "a path inside it")
    if _is_cwd(target):
        raise reject("out", target, "it is the current directory, which a save replaces "
                     "(the shell would be left in a deleted folder)", "a path below it")
    ours, how = _ownership(target, "out")
    files, others = list_files(target)
    foreign = sorted(rel for rel in files if not ours(rel))
    foreign += sorted(rel for rel in others if not ours(rel) or not os.path.isdir(target / rel)
                      or os.path.islink(target / rel))
    if foreign and not how:
        raise reject("out", target, f"it exists and is not a seqsim result directory "
                     f"(no {MANIFEST}; it holds {_few(foreign)})")
    if foreign:
        raise reject("out", target, f"it holds {_few(foreign)}, which seqsim did not write "
                     f"(per {how}); seqsim replaces a result directory only when nothing "
                     "else is in it")


def _is_cwd(folder: Path) -> bool:
    try:
        return os.path.samefile(folder, os.getcwd())
    except OSError:  # the working directory was deleted
        return False


def _few(names: list[str]) -> str:
    shown = ", ".join(show_path(n) for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def record_files(folder: str | os.PathLike[str], paths: Iterable[str | os.PathLike[str]]
                 ) -> bool:
    """Add files just written into result directory ``folder`` to its manifest.

    Returns:
        Whether ``folder`` is a result directory (has a manifest) and was updated.
    """
    base = Path(folder)
    manifest = read_manifest(base)
    if manifest is None:
        return False
    for path in paths:
        rel = Path(path).resolve().relative_to(base.resolve()).as_posix()
        manifest["files"][rel] = os.stat(base / rel).st_size
    write_manifest(base, manifest["files"])
    fsync_dir(base)
    return True


def check_complete(folder: Path) -> None:
    """Return when ``folder`` holds every file its manifest lists, at its size (or has none).

    Raises:
        OutputError: the manifest is not valid, or a listed file is missing or
            has changed size.
    """
    manifest = read_manifest(folder)
    if manifest is None:
        return
    files, _ = list_files(folder)
    wrong = [name for name, size in manifest["files"].items() if files.get(name) != size]
    if wrong:
        raise reject("result", folder, f"{_few(sorted(wrong))} is missing or was changed "
                     "after seqsim wrote it", "a complete result directory")
