"""Fuzz result paths: odd names, nesting, and files, folders and links in the way.

Whatever the path, a save either goes through (and the result reads back) or
raises one SeqsimError line; never another exception, never a lost file of the
user's, never a hidden sibling left behind. The store is fuzzed with a small
writer (a save costs half a second of DuckDB here), Result.save with a sample.
``SEQSIM_FUZZ_EXAMPLES`` sets the budget (``make test-kill``: 4,000).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from seqsim import SeqsimError, load_result
from seqsim.results.manifest import MANIFEST, check_complete
from seqsim.results.store import debris, write_result_dir
from tests.store_helpers import tiny_run

EXAMPLES = int(os.environ.get("SEQSIM_FUZZ_EXAMPLES", "60"))

ODD_NAMES = [".", "..", "run", " ", "-", "--out", ".hidden", "a.b", "x" * 255, "x" * 256,
             "é" * 127, "é" * 128, "new\nline", "tab\tbed", "run.seqsim-new-0123456789abcdef",
             ".run.seqsim-old-0123456789abcdef", MANIFEST, "summary.json", "\x7f", "~", "*",
             "what?", "back\\slash"]
names = st.one_of(
    st.sampled_from(ODD_NAMES),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"),
            min_size=1, max_size=12),
)
#: What may stand at a prefix of the path before the save.
OBSTACLES = ("file", "foreign folder", "empty folder", "link to a folder", "dangling link",
             "link to a file", "result", "legacy result", "result with notes")


def write_small(folder: Path) -> None:
    (folder / "summary.json").write_text('{"n": 1}')
    (folder / "scenario.toml").write_text("")
    (folder / "traces").mkdir()
    (folder / "traces" / "0-t.csv").write_text("t")


def place(kind: str, path: Path, root: Path, keep: dict[Path, str]) -> None:
    """Create obstacle ``kind`` at ``path``; note the user's files in ``keep``."""
    if kind in ("file", "foreign folder", "result with notes"):
        where = path / "notes.txt" if kind != "file" else path
        if kind == "foreign folder":
            path.mkdir()
        elif kind == "result with notes":
            write_result_dir(path, write_small)
        where.write_text(f"user data {len(keep)}")
        keep[where] = where.read_text()
    elif kind == "empty folder":
        path.mkdir()
    elif kind.startswith("link"):
        target = root / f"real-{len(keep)}"
        target.mkdir() if kind == "link to a folder" else target.write_text("linked")
        if kind == "link to a file":
            keep[target] = "linked"
        path.symlink_to(target)
    elif kind == "dangling link":
        path.symlink_to(root / "nowhere")
    elif kind == "result":
        write_result_dir(path, write_small)
    else:  # a result directory from before manifests
        path.mkdir()
        write_small(path)


def set_up(root: Path, parts: list[str], obstacles: list[tuple[int, str]]) -> dict[Path, str]:
    keep: dict[Path, str] = {}
    for depth, kind in obstacles:
        path = root.joinpath(*parts[:depth + 1])
        try:
            if not os.path.lexists(path):
                place(kind, path, root, keep)
        except (OSError, SeqsimError):
            pass  # cannot stand there (a file as parent, a name too long...): no obstacle
    return keep


def check(save: Callable[[Path], object], reader: Callable[[Path], object], expected: object,
          parts: list[str], obstacles: list[tuple[int, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        target = Path(os.path.normpath(root.joinpath(*parts)))
        assume(str(target).startswith(str(root) + os.sep))  # stay inside the sandbox
        keep = set_up(root, parts, obstacles)
        try:
            save(root.joinpath(*parts))
        except SeqsimError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("out: "), str(exc)
            event(f"refused: {str(exc).split('; ')[1].split(' (')[0][:40]}")
        else:
            event("saved")
            check_complete(target)
            assert reader(target) == expected
        for path, text in keep.items():
            assert path.read_text() == text, f"lost {path}"
        assert debris(target) == []


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(parts=st.lists(names, min_size=1, max_size=3),
       obstacles=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(OBSTACLES)),
                          max_size=3))
def test_store_paths(parts: list[str], obstacles: list[tuple[int, str]]) -> None:
    check(lambda path: write_result_dir(path, write_small),
          lambda folder: json.loads((folder / "summary.json").read_text()), {"n": 1},
          parts, obstacles)


@pytest.fixture(scope="module")
def run() -> object:
    return tiny_run(1)


@settings(max_examples=max(4, EXAMPLES // 20), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(parts=st.lists(names, min_size=1, max_size=2),
       obstacles=st.lists(st.tuples(st.integers(0, 1), st.sampled_from(OBSTACLES)),
                          max_size=2))
def test_result_save_paths(run: object, parts: list[str],
                           obstacles: list[tuple[int, str]]) -> None:
    check(run.save, lambda folder: load_result(folder).summary, run.summary,  # type: ignore[attr-defined]
          parts, obstacles)
